package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/audit"
)

// checkPartial reports an image of ours that is listed but does not open:
// a create killed inside librbd left its directory entry (and maybe its ID
// object) without the header. Its age is that of the ID object; a
// directory entry alone carries no time, so its age is unknown (deleted
// only with --grace=0s; the driver itself reclaims it when the request is
// retried, see controller/partial.go).
func (s *scan) checkPartial(ctx context.Context, ref backend.ImageRef) error {
	p, err := s.sess.Partial(ctx, ref)
	if errors.Is(err, backend.ErrExists) || errors.Is(err, backend.ErrNotFound) {
		return nil // finished or removed since the listing
	}
	if err != nil {
		return err
	}
	if p.Empty() {
		return nil
	}
	s.findings = append(s.findings, &audit.Finding{
		Kind: audit.HalfMade, What: "image", Name: imageName(ref),
		Detail: fmt.Sprintf("directory entry (image ID %q) and ID object (image ID %q) without a header: "+
			"a create cut off inside librbd", p.DirID, p.ObjectID),
		Since: p.ObjectTime, Ours: true, Step: audit.StepImages,
		Remove: func(ctx context.Context) error { return s.removePartial(ctx, ref, p) },
	})
	return nil
}

// removePartial re-reads the pieces and removes them if they are still the
// ones reported.
func (s *scan) removePartial(ctx context.Context, ref backend.ImageRef, p backend.PartialImage) error {
	now, err := s.sess.Partial(ctx, ref)
	if errors.Is(err, backend.ErrExists) || (err == nil && !now.Same(p)) {
		return audit.ErrChanged
	}
	if err != nil {
		return err
	}
	err = s.sess.RemovePartial(ctx, ref, p)
	if errors.Is(err, backend.ErrExists) {
		return audit.ErrChanged
	}
	return err
}
