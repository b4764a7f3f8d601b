package execx

import (
	"context"
	"sync"
)

// Fake records the commands it is asked to run and answers them with
// Handler (success with no output when Handler is nil). It is safe for
// concurrent use.
type Fake struct {
	// Handler decides the result of a command; it runs while the command
	// "runs", so it can inspect files the command would read.
	Handler func(ctx context.Context, c Cmd) ([]byte, error)

	mu    sync.Mutex
	calls []Cmd
}

var _ Runner = (*Fake)(nil)

// Run implements Runner.
func (f *Fake) Run(ctx context.Context, c Cmd) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	h := f.Handler
	f.mu.Unlock()
	if h == nil {
		return nil, nil
	}
	return h(ctx, c)
}

// Calls returns the commands run so far.
func (f *Fake) Calls() []Cmd {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Cmd(nil), f.calls...)
}
