package assurance

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const modulePath = "github.com/resguardo/resguardo"

// repoRoot is the directory of the module's go.mod (two levels up from here).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "go.mod")) // #nosec G304 -- the repository's own go.mod
	if err != nil || !strings.Contains(string(b), "module "+modulePath+"\n") {
		t.Fatalf("%s is not the root of %s: %v", dir, modulePath, err)
	}
	return dir
}

// sourcePackage is the non-test Go files of one directory, parsed.
type sourcePackage struct {
	dir   string // relative to the repository root, slash-separated ("." for the root)
	files map[string]*ast.File
}

// parseSource parses every non-test .go file of the repository, by directory.
// Directories whose names start with "." or "_", testdata, and the runtime
// data directory are skipped, as the go tool skips them.
func parseSource(t *testing.T, root string) (*token.FileSet, []*sourcePackage) {
	t.Helper()
	fset := token.NewFileSet()
	byDir := map[string]*sourcePackage{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				name == "testdata" || name == "data" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, rel, mustRead(t, path), 0)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		p := byDir[dir]
		if p == nil {
			p = &sourcePackage{dir: dir, files: map[string]*ast.File{}}
			byDir[dir] = p
		}
		p.files[rel] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []*sourcePackage
	for _, p := range byDir {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].dir < out[j].dir })
	return fset, out
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path) // #nosec G304 -- files of the repository itself
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parseSnippets parses in-memory files as one package, for the tests of the
// checks themselves.
func parseSnippets(t *testing.T, dir string, files map[string]string) (*token.FileSet, []*sourcePackage) {
	t.Helper()
	fset := token.NewFileSet()
	p := &sourcePackage{dir: dir, files: map[string]*ast.File{}}
	for name, src := range files {
		f, err := parser.ParseFile(fset, dir+"/"+name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		p.files[dir+"/"+name] = f
	}
	return fset, []*sourcePackage{p}
}

// importName maps the names a file uses for its imports to the import paths.
func importNames(f *ast.File) map[string]string {
	m := map[string]string{}
	for _, im := range f.Imports {
		path := strings.Trim(im.Path.Value, `"`)
		name := path[strings.LastIndex(path, "/")+1:]
		if im.Name != nil {
			name = im.Name.Name
		}
		m[name] = path
	}
	return m
}
