// Command funclen lists the Go functions (and methods, and function
// literals assigned at package level) longer than a limit, in the
// directories given (recursively), and exits 1 when it found any. `make
// lint` runs it over every module: no function in the project is over 60
// lines.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	max := flag.Int("max", 60, "longest function allowed, in lines from func to the closing brace")
	flag.Parse()
	n, err := check(os.Stdout, *max, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "funclen:", err)
		os.Exit(2)
	}
	if n > 0 {
		fmt.Fprintf(os.Stderr, "funclen: %d functions over %d lines\n", n, *max)
		os.Exit(1)
	}
}

// check reports to w every function over max lines under dirs and returns
// how many it found.
func check(w io.Writer, max int, dirs []string) (int, error) {
	found := 0
	fset := token.NewFileSet()
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "vendor" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") {
				return nil
			}
			n, err := checkFile(w, fset, path, max)
			found += n
			return err
		})
		if err != nil {
			return found, err
		}
	}
	return found, nil
}

func checkFile(w io.Writer, fset *token.FileSet, path string, max int) (int, error) {
	file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return 0, err
	}
	found := 0
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		start, end := fset.Position(fn.Pos()), fset.Position(fn.End())
		if lines := end.Line - start.Line + 1; lines > max {
			fmt.Fprintf(w, "%s:%d: %s is %d lines (max %d)\n", path, start.Line, name(fn), lines, max)
			found++
		}
	}
	return found, nil
}

// name is the function's name, with its receiver type for a method.
func name(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	t := fn.Recv.List[0].Type
	if star, ok := t.(*ast.StarExpr); ok {
		t = star.X
	}
	if idx, ok := t.(*ast.IndexExpr); ok {
		t = idx.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}
