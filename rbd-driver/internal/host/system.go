package host

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// System is what the attachers observe and change on the host besides
// running commands. Host is the real one; tests fake it.
type System interface {
	// Stat is os.Stat. On an rbd-fuse image file it also makes the kernel
	// fetch the file's current size.
	Stat(path string) (os.FileInfo, error)
	// ProcessAlive reports whether process pid runs (and is not a zombie)
	// with arg among its command-line arguments. The argument check tells
	// a helper from an unrelated process that reused its PID.
	ProcessAlive(pid int, arg string) bool
	// Signal sends sig to process pid.
	Signal(pid int, sig syscall.Signal) error
	// Processes returns the live processes whose program is name.
	Processes(name string) ([]Proc, error)
}

// Host is the System of this machine, using /proc.
type Host struct{}

var _ System = Host{}

// Stat implements System.
func (Host) Stat(path string) (os.FileInfo, error) { return os.Stat(path) }

// Signal implements System.
func (Host) Signal(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

// ProcessAlive implements System.
func (Host) ProcessAlive(pid int, arg string) bool {
	if pid <= 0 {
		return false
	}
	dir := "/proc/" + strconv.Itoa(pid)
	cmdline, err := os.ReadFile(dir + "/cmdline")
	if err != nil || !hasArg(cmdline, arg) {
		return false
	}
	return !isZombie(dir)
}

// hasArg reports whether the NUL-separated cmdline has arg as one argument.
func hasArg(cmdline []byte, arg string) bool {
	for _, a := range bytes.Split(cmdline, []byte{0}) {
		if string(a) == arg {
			return true
		}
	}
	return false
}

// isZombie reads the state field of /proc/PID/stat, which follows the
// parenthesised command name.
func isZombie(dir string) bool {
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// exists reports whether path exists; an error other than "does not exist"
// (e.g. ENOTCONN from a dead FUSE mount) counts as existing.
func exists(sys System, path string) bool {
	_, err := sys.Stat(path)
	return err == nil || !errors.Is(err, os.ErrNotExist)
}

// Proc is a running process.
type Proc struct {
	PID int
	// Args are the command-line arguments after the program name.
	Args []string
}

// Processes implements System: the live processes whose program (argv[0],
// base name) is name.
func (Host) Processes(name string) ([]Proc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := "/proc/" + e.Name()
		cmdline, err := os.ReadFile(dir + "/cmdline")
		if err != nil || len(cmdline) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
		if filepath.Base(argv[0]) != name || isZombie(dir) {
			continue
		}
		out = append(out, Proc{PID: pid, Args: argv[1:]})
	}
	return out, nil
}
