// Command podimage is the one program of the e2e test's pod image (a
// scratch image; see node.sh). Its subcommands are what the scenarios' pods
// do, so that no shell or base image is needed:
//
//	pause               sleep until SIGTERM/SIGINT (also the sandbox image)
//	write PATH TEXT     write TEXT at the start of PATH (a file, or a block
//	                    device), fsync, and report it; then exit
//	read PATH N         read N bytes from the start of PATH and report them
//	exchange MINE TEXT THEIRS
//	                    write TEXT to the file MINE, wait (up to 2 minutes)
//	                    for the file THEIRS, and report its contents
//	probe PATH SECONDS  for SECONDS, twice a second write a new token to the
//	                    file PATH, fsync, and read it back; fail at the
//	                    first error, else report the rounds
//	size PATH BYTES     wait (up to 3 minutes) until the filesystem holding
//	                    PATH (or the block device PATH) has at least BYTES,
//	                    and report its size
//
// A report goes to standard output and to /dev/termination-log, which the
// kubelet copies into the pod's status (state.terminated.message).
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "podimage:", err)
		report("error: " + err.Error())
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		args = []string{"pause"}
	}
	switch {
	case args[0] == "pause" && len(args) == 1:
		return pause()
	case args[0] == "write" && len(args) == 3:
		return write(args[1], args[2])
	case args[0] == "read" && len(args) == 3:
		n, err := strconv.Atoi(args[2])
		if err != nil || n <= 0 {
			return fmt.Errorf("read: N must be a positive number, not %q", args[2])
		}
		return read(args[1], n)
	case args[0] == "exchange" && len(args) == 4:
		return exchange(args[1], args[2], args[3])
	case args[0] == "probe" && len(args) == 3:
		n, err := strconv.Atoi(args[2])
		if err != nil || n <= 0 {
			return fmt.Errorf("probe: SECONDS must be a positive number, not %q", args[2])
		}
		return probe(args[1], time.Duration(n)*time.Second)
	case args[0] == "size" && len(args) == 3:
		n, err := strconv.ParseInt(args[2], 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("size: BYTES must be a positive number, not %q", args[2])
		}
		return size(args[1], n)
	}
	return fmt.Errorf("usage: pause | write PATH TEXT | read PATH N | exchange MINE TEXT THEIRS | probe PATH SECONDS | size PATH BYTES (got %q)", args)
}

func pause() error {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
	return nil
}

func write(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(text), 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	report(fmt.Sprintf("wrote %d bytes", len(text)))
	return nil
}

func read(path string, n int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(f, buf); err != nil {
		return err
	}
	report(string(buf))
	return nil
}

func exchange(mine, text, theirs string) error {
	if err := os.WriteFile(mine, []byte(text), 0o644); err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		b, err := os.ReadFile(theirs)
		if err == nil && len(b) > 0 {
			report(string(b))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear: %v", theirs, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func probe(path string, d time.Duration) error {
	end := time.Now().Add(d)
	rounds := 0
	for ; time.Now().Before(end); rounds++ {
		token := fmt.Sprintf("round %d at %d", rounds, time.Now().UnixNano())
		if err := write(path, token); err != nil {
			return fmt.Errorf("round %d: %w", rounds, err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b[:min(len(b), len(token))]) != token {
			return fmt.Errorf("round %d: read back %q (%v), want %q", rounds, b, err, token)
		}
		time.Sleep(500 * time.Millisecond)
	}
	report(fmt.Sprintf("%d rounds ok", rounds))
	return nil
}

func size(path string, want int64) error {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		n, err := bytesOf(path)
		if err != nil {
			return err
		}
		if n >= want || time.Now().After(deadline) {
			report(fmt.Sprintf("%d", n))
			return nil
		}
		time.Sleep(time.Second)
	}
}

// bytesOf returns the size of a block device, or of the filesystem that
// holds a path.
func bytesOf(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if fi.Mode()&os.ModeDevice != 0 {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		return f.Seek(0, io.SeekEnd)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Blocks) * st.Bsize, nil
}

// report writes msg to standard output and the termination log.
func report(msg string) {
	fmt.Println(msg)
	_ = os.WriteFile("/dev/termination-log", []byte(msg), 0o644)
}
