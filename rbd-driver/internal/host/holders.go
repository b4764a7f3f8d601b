package host

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/seed-6a310834/ceph-csi/shared/execx"
)

// Holder kinds.
const (
	HolderWatcher = "watcher"
	HolderLock    = "lock"
)

// Holder is a client that holds an image open: a watcher on its header,
// or the owner of a lock on it (the exclusive lock, or an advisory lock).
type Holder struct {
	// Kind is "watcher" or "lock".
	Kind string
	// Client is the client's address, e.g. "10.0.0.5:0/3421553271".
	Client string
	// Detail is the client ID of a watcher ("client.4145"), or the lock's
	// ID and locker ("auto 140646220304496 held by client.4145").
	Detail string
}

// String says who holds the image, for error messages.
func (h Holder) String() string {
	return fmt.Sprintf("%s %s (%s)", h.Kind, h.Client, h.Detail)
}

// statusOutput is `rbd status --format json`.
type statusOutput struct {
	Watchers []struct {
		Address string `json:"address"`
		Client  int64  `json:"client"`
	} `json:"watchers"`
}

// lockEntry is one entry of `rbd lock list --format json`.
type lockEntry struct {
	ID      string `json:"id"`
	Locker  string `json:"locker"`
	Address string `json:"address"`
}

// Holders returns the watchers and lock owners of r's image, with the
// rbd CLI (`rbd status` and `rbd lock list`, inside r's network namespace
// if any, like the map) and r's credentials in a private keyring file. Called before this node maps the image, every
// holder is another client.
func Holders(ctx context.Context, ex execx.Executor, r *Request) ([]Holder, error) {
	var status, locks []byte
	err := withKeyring(r.Creds, func(keyring string) error {
		auth := []string{"--format", "json", "--id", r.Creds.ID, "--keyring", keyring, "-m", r.Monitors}
		var err error
		if status, err = run(ctx, ex, r.NetNamespace, "rbd", append([]string{"status", r.Spec()}, auth...)); err != nil {
			return err
		}
		locks, err = run(ctx, ex, r.NetNamespace, "rbd", append([]string{"lock", "list", r.Spec()}, auth...))
		return err
	})
	if err != nil {
		if execx.ExitCode(err) == 2 && strings.Contains(err.Error(), "No such file or directory") {
			return nil, fmt.Errorf("%w: %s: %w", ErrImageNotFound, r.Spec(), err)
		}
		return nil, fmt.Errorf("reading the clients of %s: %w", r.Spec(), err)
	}
	return parseHolders(status, locks)
}

// parseHolders decodes the outputs of `rbd status` and `rbd lock list`.
func parseHolders(status, locks []byte) ([]Holder, error) {
	var st statusOutput
	if len(strings.TrimSpace(string(status))) > 0 {
		if err := json.Unmarshal(status, &st); err != nil {
			return nil, fmt.Errorf("decoding the output of rbd status: %w", err)
		}
	}
	var ls []lockEntry
	if len(strings.TrimSpace(string(locks))) > 0 {
		if err := json.Unmarshal(locks, &ls); err != nil {
			return nil, fmt.Errorf("decoding the output of rbd lock list: %w", err)
		}
	}
	var out []Holder
	for _, w := range st.Watchers {
		out = append(out, Holder{Kind: HolderWatcher, Client: w.Address, Detail: fmt.Sprintf("client.%d", w.Client)})
	}
	for _, l := range ls {
		out = append(out, Holder{Kind: HolderLock, Client: l.Address, Detail: fmt.Sprintf("lock %q held by %s", l.ID, l.Locker)})
	}
	return out, nil
}
