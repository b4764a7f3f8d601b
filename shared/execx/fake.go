package execx

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// Call is one command run or started through a Fake.
type Call struct {
	// Name and Args are the program and its arguments.
	Name string
	Args []string
	// Detached is true for Executor.RunDetached.
	Detached bool
	// Started is true for Executor.Start.
	Started bool
	// LogPath is the helper's log path (Start only).
	LogPath string
}

// String returns the command line.
func (c Call) String() string { return CommandLine(c.Name, c.Args) }

// Result is what a Fake returns for a command.
type Result struct {
	// Stdout is returned by Run.
	Stdout string
	// ExitCode other than 0 makes the command fail with an *ExitError
	// carrying Stderr.
	ExitCode int
	Stderr   string
}

type rule struct {
	prefix string
	fn     func(Call) Result
}

// Fake is an Executor for tests: it records every command and answers with
// scripted results. Commands no rule matches succeed with no output.
// Started helpers get increasing PIDs from 1000 and never exit unless Exit
// is called. The zero value is ready to use; it is safe for concurrent use.
type Fake struct {
	mu    sync.Mutex
	calls []Call
	rules []rule
	exits map[int]func() // by PID, in start order from firstPID
}

// firstPID is the PID of the first helper a Fake starts.
const firstPID = 1000

var _ Executor = (*Fake)(nil)

// NewFake returns a Fake with no rules.
func NewFake() *Fake { return &Fake{} }

// On makes commands whose command line starts with prefix return r. Later
// rules take precedence over earlier ones; the prefix "" matches every
// command.
func (f *Fake) On(prefix string, r Result) {
	f.OnFunc(prefix, func(Call) Result { return r })
}

// OnFunc is On with a function computing the result; it runs while the
// command "runs", so it can inspect files named in the arguments.
func (f *Fake) OnFunc(prefix string, fn func(Call) Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, rule{prefix: prefix, fn: fn})
}

// Calls returns the commands seen so far.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CommandLines returns the command lines seen so far.
func (f *Fake) CommandLines() []string {
	calls := f.Calls()
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.String()
	}
	return out
}

// Reset forgets the recorded calls (the rules stay).
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// Exit marks the started helper pid as exited, closing its Done channel.
func (f *Fake) Exit(pid int) {
	f.mu.Lock()
	exit := f.exits[pid]
	f.mu.Unlock()
	if exit != nil {
		exit()
	}
}

// Run implements Executor.
func (f *Fake) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return f.run(ctx, Call{Name: name, Args: slices.Clone(args)})
}

// RunDetached implements Executor; the Call records Detached.
func (f *Fake) RunDetached(ctx context.Context, name string, args ...string) ([]byte, error) {
	return f.run(ctx, Call{Name: name, Args: slices.Clone(args), Detached: true})
}

func (f *Fake) run(ctx context.Context, c Call) ([]byte, error) {
	r := f.record(c)
	if err := ctx.Err(); err != nil {
		return nil, &ExitError{Cmd: c.Name, Args: c.Args, ExitCode: -1, Err: err}
	}
	if r.ExitCode != 0 {
		return []byte(r.Stdout), &ExitError{Cmd: c.Name, Args: c.Args, ExitCode: r.ExitCode, Stderr: r.Stderr}
	}
	return []byte(r.Stdout), nil
}

// Start implements Executor. A rule with a non-zero ExitCode makes the start
// fail.
func (f *Fake) Start(ctx context.Context, h Helper) (*Process, error) {
	c := Call{Name: h.Name, Args: slices.Clone(h.Args), Started: true, LogPath: h.LogPath}
	r := f.record(c)
	if r.ExitCode != 0 {
		return nil, &ExitError{Cmd: h.Name, Args: c.Args, ExitCode: r.ExitCode, Stderr: r.Stderr}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.exits == nil {
		f.exits = map[int]func(){}
	}
	pid := firstPID + len(f.exits)
	p, exit := NewProcess(pid)
	f.exits[pid] = exit
	return p, nil
}

// record stores c and returns the result of the matching rule. The rule's
// function runs without the lock held.
func (f *Fake) record(c Call) Result {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	var fn func(Call) Result
	line := c.String()
	for i := len(f.rules) - 1; i >= 0; i-- {
		if strings.HasPrefix(line, f.rules[i].prefix) {
			fn = f.rules[i].fn
			break
		}
	}
	f.mu.Unlock()
	if fn == nil {
		return Result{}
	}
	return fn(c)
}
