package secretscan

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

const secret = "AQBzZWNyZXRzZWNyZXRzZWNyZXRzZWNyZXQ=="

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "clean"), "nothing here")
	write(t, filepath.Join(dir, "deep", "keyring"), "[client.x]\n\tkey = "+secret+"\n")
	write(t, filepath.Join(dir, "cluster", ClusterMark), "")
	write(t, filepath.Join(dir, "cluster", "mon", "store.db"), secret)
	old := filepath.Join(dir, "old")
	write(t, old, secret)
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	r, err := Files([]string{dir, filepath.Join(dir, "missing")}, time.Now().Add(-time.Minute), secret)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, "deep", "keyring")}; !slices.Equal(r.Hits, want) || r.Read != 2 {
		t.Fatalf("Files() = %+v, want hits %v in 2 files read", r, want)
	}
}

func TestLines(t *testing.T) {
	got := Lines("a\nkey="+secret+" here\nb", secret)
	if len(got) != 1 || got[0] != "key="+secret+" here" {
		t.Fatalf("Lines() = %q", got)
	}
}

func TestProcesses(t *testing.T) {
	cmd := exec.Command("sleep", "30", secret)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	if got := Processes(map[int][]string{pid: {"sleep", "30", secret}, 1: {"init"}}, secret); !slices.Equal(got, []int{pid}) {
		t.Fatalf("Processes() = %v, want [%d]", got, pid)
	}
}
