package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// funcOf returns a function of exactly lines lines.
func funcOf(name string, lines int) string {
	return "func " + name + "() {\n" + strings.Repeat("\t_ = 0\n", lines-2) + "}\n"
}

func TestCheckFindsOnlyLongFunctions(t *testing.T) {
	dir := t.TempDir()
	src := "package p\n\n" + funcOf("ok", 60) + "\ntype T struct{}\n\nfunc (*T) " + funcOf("long", 61)[len("func "):]
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "testdata"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "testdata", "x.go"), []byte("package x\n\n"+funcOf("skipped", 99)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := check(&out, 60, []string{dir})
	if err != nil || n != 1 {
		t.Fatalf("check = %d, %v; want 1 long function\n%s", n, err, out.String())
	}
	if !strings.Contains(out.String(), "T.long is 61 lines") {
		t.Errorf("report %q does not name T.long with 61 lines", out.String())
	}
}

func TestCheckReportsParseErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.go"), []byte("package p\nfunc {"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := check(&bytes.Buffer{}, 60, []string{dir}); err == nil {
		t.Fatal("check of an unparsable file returned no error")
	}
}
