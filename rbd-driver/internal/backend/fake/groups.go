package fake

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

// group is an RBD group: its member images and, per group snapshot, each
// member's size when it was taken (the fake holds no data).
type group struct {
	name    string
	members map[*image]bool
	snaps   map[string]map[*image]uint64
	// incomplete names snapshots whose creation "died" (InjectIncomplete).
	incomplete map[string]bool
}

func (p *pool) groupContents() []string {
	var out []string
	for key, g := range p.groups {
		out = append(out, key)
		for name := range g.snaps {
			out = append(out, key+"@"+name)
		}
	}
	sort.Strings(out)
	return out
}

func (s *session) group(ref backend.GroupRef) (*pool, *group, error) {
	p, err := s.pool(ref.Pool)
	if err != nil {
		return nil, nil, err
	}
	g, ok := p.groups[ref.Namespace+"/"+ref.Name]
	if !ok {
		return p, nil, fmt.Errorf("group %s/%s: %w", ref.Pool, ref.Name, backend.ErrNotFound)
	}
	return p, g, nil
}

// groupOf returns the group an image is a member of, or nil.
func (p *pool) groupOf(img *image) *group {
	for _, g := range p.groups {
		if g.members[img] {
			return g
		}
	}
	return nil
}

func (s *session) CreateGroup(ctx context.Context, ref backend.GroupRef) error {
	return s.do(ctx, "CreateGroup", func() error {
		p, _, err := s.group(ref)
		if p == nil {
			return err
		}
		if err == nil {
			return nil
		}
		p.groups[ref.Namespace+"/"+ref.Name] = &group{name: ref.Name, members: map[*image]bool{},
			snaps: map[string]map[*image]uint64{}, incomplete: map[string]bool{}}
		return nil
	})
}

func (s *session) AddGroupImage(ctx context.Context, ref backend.GroupRef, img backend.ImageRef) error {
	return s.do(ctx, "AddGroupImage", func() error {
		p, g, err := s.group(ref)
		if err != nil {
			return err
		}
		im, err := s.image(img)
		if err != nil {
			return err
		}
		switch in := p.groupOf(im); {
		case in == g:
			return nil
		case in != nil:
			return fmt.Errorf("image %s in group %s: %w", img.Name, in.name, backend.ErrInOtherGroup)
		}
		g.members[im] = true
		return nil
	})
}

func (s *session) RemoveGroupImage(ctx context.Context, ref backend.GroupRef, img backend.ImageRef) error {
	return s.do(ctx, "RemoveGroupImage", func() error {
		_, g, err := s.group(ref)
		if err != nil {
			return nil
		}
		if im, err := s.image(img); err == nil {
			delete(g.members, im)
		}
		return nil
	})
}

func (s *session) RemoveGroup(ctx context.Context, ref backend.GroupRef) error {
	return s.do(ctx, "RemoveGroup", func() error {
		p, _, err := s.group(ref)
		if p != nil {
			delete(p.groups, ref.Namespace+"/"+ref.Name)
		}
		if p == nil {
			return err
		}
		return nil
	})
}

func (s *session) ListGroups(ctx context.Context, ref backend.PoolRef) (names []string, err error) {
	err = s.do(ctx, "ListGroups", func() error {
		p, err := s.pool(ref.Pool)
		if err != nil {
			return err
		}
		for _, g := range p.groups {
			names = append(names, g.name)
		}
		slices.Sort(names)
		return nil
	})
	return names, err
}
