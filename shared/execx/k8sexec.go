package execx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os/exec"

	utilexec "k8s.io/utils/exec"
)

// errUnsupported is returned by the Cmd methods K8s does not implement.
var errUnsupported = errors.New("execx: not supported by the k8s.io/utils/exec adapter")

// K8s adapts e to k8s.io/utils/exec.Interface, the executor of
// k8s.io/mount-utils (SafeFormatAndMount's blkid, fsck and mkfs, ResizeFs's
// resize2fs and xfs_growfs), so that those commands, too, run with LC_ALL=C
// and through the executor tests fake. Commands made with Command run under
// ctx. Only Run, Output and CombinedOutput are supported; the output of
// CombinedOutput is stdout followed by stderr.
func K8s(ctx context.Context, e Executor) utilexec.Interface {
	return k8sExec{ctx: ctx, exec: e}
}

type k8sExec struct {
	ctx  context.Context
	exec Executor
}

func (k k8sExec) Command(cmd string, args ...string) utilexec.Cmd {
	return k.CommandContext(k.ctx, cmd, args...)
}

func (k k8sExec) CommandContext(ctx context.Context, cmd string, args ...string) utilexec.Cmd {
	return &k8sCmd{ctx: ctx, exec: k.exec, name: cmd, args: args}
}

func (k k8sExec) LookPath(file string) (string, error) { return exec.LookPath(file) }

// k8sCmd is one command of the adapter.
type k8sCmd struct {
	ctx  context.Context
	exec Executor
	name string
	args []string
}

// run runs the command and returns stdout, stderr and the error in the
// form k8s.io/utils/exec callers check: an ExitError with the exit status,
// or ErrExecutableNotFound.
func (c *k8sCmd) run() ([]byte, string, error) {
	out, err := c.exec.Run(c.ctx, c.name, c.args...)
	if err == nil {
		return out, "", nil
	}
	var ee *ExitError
	if !errors.As(err, &ee) {
		return out, "", err
	}
	if errors.Is(ee.Err, exec.ErrNotFound) || errors.Is(ee.Err, fs.ErrNotExist) {
		return out, ee.Stderr, utilexec.ErrExecutableNotFound
	}
	if ee.ExitCode < 0 {
		return out, ee.Stderr, err
	}
	return out, ee.Stderr, utilexec.CodeExitError{Err: err, Code: ee.ExitCode}
}

func (c *k8sCmd) Run() error {
	_, _, err := c.run()
	return err
}

func (c *k8sCmd) Output() ([]byte, error) {
	out, _, err := c.run()
	return out, err
}

func (c *k8sCmd) CombinedOutput() ([]byte, error) {
	out, stderr, err := c.run()
	if stderr == "" {
		return out, err
	}
	var b bytes.Buffer
	b.Write(out)
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
		b.WriteByte('\n')
	}
	b.WriteString(stderr)
	return b.Bytes(), err
}

func (c *k8sCmd) SetDir(string)                      {}
func (c *k8sCmd) SetStdin(io.Reader)                 {}
func (c *k8sCmd) SetStdout(io.Writer)                {}
func (c *k8sCmd) SetStderr(io.Writer)                {}
func (c *k8sCmd) SetEnv([]string)                    {}
func (c *k8sCmd) StdoutPipe() (io.ReadCloser, error) { return nil, errUnsupported }
func (c *k8sCmd) StderrPipe() (io.ReadCloser, error) { return nil, errUnsupported }
func (c *k8sCmd) Start() error                       { return errUnsupported }
func (c *k8sCmd) Wait() error                        { return errUnsupported }
func (c *k8sCmd) Stop()                              {}
