package assurance

import (
	"fmt"
	"go/ast"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// outboundAPIs are the standard library's ways to open a connection to
// another machine or to fetch a URL. Only internal/egress may use them: every
// other package dials through egress.Dialer, whose allow-list comes from
// configuration, so no address taken from a request is ever contacted.
var outboundAPIs = map[string][]string{
	"net": {"Dial", "DialTimeout", "DialTCP", "DialUDP", "DialIP", "DialUnix", "Dialer"},
	"net/http": {"Get", "Head", "Post", "PostForm", "Client", "DefaultClient", "Transport",
		"DefaultTransport", "NewRequest", "NewRequestWithContext"},
	"crypto/tls": {"Dial", "DialWithDialer", "Dialer"},
	"net/rpc":    {"Dial", "DialHTTP", "DialHTTPPath"},
}

// outboundImports may not be imported at all outside internal/egress.
var outboundImports = []string{"net/smtp", "net/rpc/jsonrpc", "net/http/httputil"}

// outboundAllowed lists the files outside internal/egress that may use the
// APIs above, each with the reason. Keep it short.
var outboundAllowed = map[string]string{
	// A development tool, not part of the binary: it polls the server it has
	// just started itself on a loopback address.
	"tools/coldstart/main.go": "polls the server it started on loopback",
	// The sign-in load run, also not part of the binary: it refuses any
	// address but a loopback one.
	"tools/load/signins/main.go": "signs in to the server tools/load/signins.sh started on loopback",
	// The fault drills' load, not part of the binary either: loopback
	// addresses only, checked at start.
	"tools/drill/main.go":  "signs in and edits profiles on the servers the drill scripts started on loopback",
	"tools/drill/staff.go": "views customers at the staff console of the servers the drill scripts started on loopback",
}

const egressDir = "internal/egress"

// outboundUses returns "file:line: pkg.Name" for every use of an outbound
// API outside internal/egress and the allowed files.
func outboundUses(fset *token.FileSet, pkgs []*sourcePackage) []string {
	var found []string
	for _, p := range pkgs {
		if p.dir == egressDir {
			continue
		}
		for name, f := range p.files {
			if _, ok := outboundAllowed[name]; ok {
				continue
			}
			imports := importNames(f)
			for _, im := range f.Imports {
				if path := strings.Trim(im.Path.Value, `"`); slices.Contains(outboundImports, path) {
					found = append(found, fmt.Sprintf("%s: import %q", fset.Position(im.Pos()), path))
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				x, ok := sel.X.(*ast.Ident)
				if !ok || x.Obj != nil { // x.Obj != nil: a local name, not a package
					return true
				}
				path, ok := imports[x.Name]
				if ok && slices.Contains(outboundAPIs[path], sel.Sel.Name) {
					found = append(found, fmt.Sprintf("%s: %s.%s", fset.Position(sel.Pos()), path, sel.Sel.Name))
				}
				return true
			})
		}
	}
	slices.Sort(found)
	return found
}

func TestNoOutboundConnectionOutsideEgress(t *testing.T) {
	root := repoRoot(t)
	fset, pkgs := parseSource(t, root)
	for _, use := range outboundUses(fset, pkgs) {
		t.Errorf("%s: outbound connections go through internal/egress (egress.Dialer, or its HTTPClient); "+
			"nothing may dial or fetch an address of its own", use)
	}
	// A stale exception is a hole waiting to be used.
	for name := range outboundAllowed {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(name))); err != nil {
			t.Errorf("outboundAllowed names %s, which does not exist: remove the entry", name)
		}
	}
}

// TestOutboundCheckFindsDials shows the check above catches what it is for.
func TestOutboundCheckFindsDials(t *testing.T) {
	fset, pkgs := parseSnippets(t, "internal/server", map[string]string{
		"fetch.go": `package server
import (
	"net"
	nethttp "net/http"
	"crypto/tls"
	_ "net/smtp"
)
func avatar(u string) { _, _ = nethttp.Get(u) }
func client() any { return &nethttp.Client{} }
func dial(a string) { _, _ = net.Dial("tcp", a); var d net.Dialer; _ = d; _, _ = tls.Dial("tcp", a, nil) }
func fine(r *nethttp.Request) string { var http struct{ Get int }; _ = http.Get; return r.URL.Path }
`,
	})
	got := outboundUses(fset, pkgs)
	want := []string{"net/http.Get", "net/http.Client", "net.Dial", "net.Dialer", "crypto/tls.Dial", `import "net/smtp"`}
	if len(got) != len(want) {
		t.Fatalf("found %d uses, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasSuffix(g, " "+w) }) {
			t.Errorf("missed %s in:\n%s", w, strings.Join(got, "\n"))
		}
	}
	// The same code inside internal/egress is the point of that package.
	fset, pkgs = parseSnippets(t, egressDir, map[string]string{
		"x.go": `package egress
import "net"
func dial(a string) { _, _ = net.Dial("tcp", a) }
`,
	})
	if got := outboundUses(fset, pkgs); len(got) != 0 {
		t.Errorf("flagged internal/egress itself: %v", got)
	}
}
