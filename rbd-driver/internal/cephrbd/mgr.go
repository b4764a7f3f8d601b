package cephrbd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rbd"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/crashpoint"
)

// idSpec renders pool[/namespace]/x as the rbd_support module expects.
func idSpec(p backend.PoolRef, x string) string {
	return spec(backend.ImageRef{PoolRef: p, Name: x})
}

// mgrCommand sends a mgr command, giving up after the timeout or when ctx
// ends. librados waits for the mgr without limit (see Options.Commands);
// the abandoned call finishes in the background when the mgr answers.
func (s *session) mgrCommand(ctx context.Context, cmd map[string]string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	body, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- s.sendMgrCommand(ctx, body) }()
	timer := time.NewTimer(s.opts.MgrTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("mgr command %q: %w: no answer after %s", cmd["prefix"], backend.ErrUnavailable, s.opts.MgrTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sendMgrCommand sends body on a connection of Options.Commands (kept until
// the mgr answers), or on the session's own connection when there is none.
func (s *session) sendMgrCommand(ctx context.Context, body []byte) error {
	conn := s.conn
	if s.opts.Commands != nil {
		c, err := s.opts.Commands.Get(ctx, s.target)
		if err != nil {
			return unavailable(err)
		}
		defer c.Release()
		conn = c
	}
	_, info, err := conn.MgrCommand([][]byte{body})
	if err != nil && info != "" {
		err = fmt.Errorf("%w: %s", err, info)
	}
	return conn.Check(err)
}

// PurgeTrash implements backend.Session.
func (s *session) PurgeTrash(ctx context.Context, p backend.PoolRef, id string) (backend.PurgeResult, error) {
	err := s.mgrCommand(ctx, map[string]string{"prefix": "rbd task add trash remove", "image_id_spec": idSpec(p, id)})
	switch {
	case err == nil:
		crashpoint.Hit(StepPurgeQueued)
		return backend.PurgeQueued, nil
	case errno(err) == syscall.ENOENT:
		return backend.PurgeRemoved, nil // no longer in the trash
	case ctx.Err() != nil:
		return 0, ctx.Err()
	}
	// The mgr cannot take the task (module off, no active mgr, timeout):
	// remove synchronously instead.
	return s.removeFromTrash(ctx, p, id)
}

func (s *session) removeFromTrash(ctx context.Context, p backend.PoolRef, id string) (backend.PurgeResult, error) {
	io, err := s.ioctx(ctx, p)
	if err != nil {
		return 0, err
	}
	err = s.fail("remove trashed image "+idSpec(p, id), rbd.TrashRemove(io, id, false))
	switch {
	case err == nil:
		crashpoint.Hit(StepTrashRemoved)
		return backend.PurgeRemoved, nil
	case errors.Is(err, backend.ErrNotFound):
		return backend.PurgeRemoved, nil
	case errors.Is(err, backend.ErrHasSnapshots), errors.Is(err, backend.ErrHasChildren):
		return backend.PurgeDeferred, nil
	}
	return 0, err
}

// TrashList implements backend.Session.
func (s *session) TrashList(ctx context.Context, p backend.PoolRef) ([]backend.TrashEntry, error) {
	io, err := s.ioctx(ctx, p)
	if err != nil {
		return nil, err
	}
	list, err := rbd.GetTrashList(io)
	if err != nil {
		return nil, s.fail("list the trash of "+p.Pool, err)
	}
	out := make([]backend.TrashEntry, 0, len(list))
	for _, e := range list {
		out = append(out, backend.TrashEntry{ID: e.Id, Name: e.Name})
	}
	return out, nil
}

// QueueFlatten implements backend.Session.
func (s *session) QueueFlatten(ctx context.Context, img backend.ImageRef) error {
	err := s.mgrCommand(ctx, map[string]string{"prefix": "rbd task add flatten", "image_spec": spec(img)})
	if err == nil {
		crashpoint.Hit(StepFlattenQueued)
		return nil
	}
	if errno(err) == syscall.ENOENT {
		// The image is missing or already flat: tell them apart.
		if _, idErr := s.ImageID(ctx, img); idErr != nil {
			return idErr
		}
		return nil
	}
	if errors.Is(err, backend.ErrUnavailable) || ctx.Err() != nil {
		return err
	}
	return fmt.Errorf("queue flatten of %s: %w: %w", spec(img), backend.ErrUnavailable, err)
}

// dfOutput is the part of `ceph df -f json` the driver reads.
type dfOutput struct {
	Stats struct {
		TotalAvailBytes int64 `json:"total_avail_bytes"`
	} `json:"stats"`
	Pools []struct {
		Name  string `json:"name"`
		Stats struct {
			MaxAvail int64 `json:"max_avail"`
		} `json:"stats"`
	} `json:"pools"`
}

// AvailableBytes implements backend.Session with one mon command.
func (s *session) AvailableBytes(ctx context.Context, pool string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	out, info, err := s.conn.MonCommand([]byte(`{"prefix":"df","format":"json"}`))
	if err != nil {
		return 0, s.fail("ceph df: "+info, err)
	}
	var df dfOutput
	if err := json.Unmarshal(out, &df); err != nil {
		return 0, fmt.Errorf("ceph df: %w", err)
	}
	if pool == "" {
		return df.Stats.TotalAvailBytes, nil
	}
	for _, p := range df.Pools {
		if p.Name == pool {
			return p.Stats.MaxAvail, nil
		}
	}
	return 0, backend.PoolError(pool)
}
