package assurance

import (
	"fmt"
	"go/ast"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// forbidden is one API that non-test code may not use, with why (and the
// ASVS requirements the absence answers, see docs/asvs.md).
type forbidden struct {
	importPath string   // the package
	names      []string // its identifiers; empty: importing it at all
	within     string   // only in this directory and below ("" everywhere)
	except     []string // directories (prefixes) where it is allowed, each for a reason given below
	why        string
}

var forbiddenAPIs = []forbidden{
	{importPath: "math/rand", why: "not a CSPRNG: every secret comes from crypto/rand (V11.5.1)"},
	{importPath: "math/rand/v2", why: "not a CSPRNG: every secret comes from crypto/rand (V11.5.1)"},
	{importPath: "crypto/md5", why: "broken hash (V11.4.1)"},
	{importPath: "crypto/sha1", why: "no SHA-1 of our own; TOTP's HMAC-SHA1 is RFC 6238's, inside pquerna/otp (V11.4.1)"},
	{importPath: "crypto/des", why: "weak cipher (V11.3.2)"},
	{importPath: "crypto/rc4", why: "weak cipher (V11.3.2)"},
	{importPath: "crypto/aes", why: "encryption only through Tink's AEAD in internal/vault (V11.2.1, V11.3.1)"},
	{importPath: "crypto/cipher", why: "no hand-assembled modes (ECB, CBC, CTR): Tink's AEAD only (V11.3.1, V11.3.3)"},
	{importPath: "encoding/xml", why: "no XML parsing, so no XXE (V1.5.1)"},
	{importPath: "encoding/gob", why: "no type-driven deserialisation of untrusted data; JSON into fixed structs only (V1.5.2)"},
	{importPath: "unsafe", why: "memory safety (V1.4.1)"},
	{importPath: "plugin", why: "no code loaded at run time (V1.3.2)"},
	{importPath: "net/http/pprof", why: "no debug endpoints in production (V13.4.2, V13.4.5)"},
	{importPath: "expvar", why: "no debug endpoints in production (V13.4.2, V13.4.5)"},
	{importPath: "os/exec", except: []string{"tools/", "internal/auth/commonlist"},
		why: "no OS commands from the server (V1.2.5); only development tools and the go:generate list builder run programs"},
	{importPath: "testing", except: []string{"internal/testutil"},
		why: "test code stays out of the binary: only _test.go files and internal/testutil use it (V15.2.3)"},
	{importPath: "net/http/httptest", except: []string{"internal/testutil"},
		why: "test code stays out of the binary (V15.2.3)"},
	{importPath: modulePath + "/internal/testutil", except: []string{"internal/testutil"},
		why: "test helpers are imported by tests only, so they never reach the binary (V15.2.3)"},
	{importPath: "text/template", within: "internal/server",
		why: "pages are rendered by html/template only, which escapes by context (V1.2.1, V3.2.2)"},
	// Layering: the HTTP layer speaks to the services and the domain only.
	// What it needs of the store (ping, "database away") comes through an
	// interface it declares; errors carry domain codes and sentinels.
	{importPath: modulePath + "/internal/sqlstore", within: "internal/server",
		why: "the server reaches the database only through the services: no SQL decisions in the HTTP layer"},
	{importPath: modulePath + "/internal/vault", within: "internal/server",
		why: "the server never holds keys or opens sealed data: masking and reveals are the services' decisions"},
	{importPath: modulePath + "/internal/auth", within: "internal/server",
		why: "the server never checks a password, code or token itself: credentials are the services' decisions"},
	{importPath: "net/http", names: []string{"FileServer", "FileServerFS", "Dir", "ServeFile", "ServeFileFS"},
		why: "no directory listing: static files are served by name from an embedded set (V13.4.3)"},
	{importPath: "crypto/tls", names: []string{"VersionSSL30", "VersionTLS10", "VersionTLS11"},
		why: "TLS 1.2 is the minimum everywhere (V12.1.1)"},
}

// forbiddenUses returns every use of a forbidden API, and of three things that
// are not package identifiers: InsecureSkipVerify set to true (V12.3.2), a
// CORS header (V3.4.2: there is no CORS; a browser may not read our answers
// from another origin) and Request.FormValue in the server (V15.3.7).
func forbiddenUses(fset *token.FileSet, pkgs []*sourcePackage) []string {
	var found []string
	report := func(n ast.Node, format string, a ...any) {
		found = append(found, fmt.Sprintf("%s: %s", fset.Position(n.Pos()), fmt.Sprintf(format, a...)))
	}
	applies := func(rule forbidden, dir string) bool {
		in := func(prefix string) bool {
			return dir == strings.TrimSuffix(prefix, "/") || strings.HasPrefix(dir+"/", strings.TrimSuffix(prefix, "/")+"/")
		}
		if rule.within != "" && !in(rule.within) {
			return false
		}
		return !slices.ContainsFunc(rule.except, in)
	}
	for _, p := range pkgs {
		for _, f := range p.files {
			imports := importNames(f)
			for _, im := range f.Imports {
				path, _ := strconv.Unquote(im.Path.Value)
				for _, rule := range forbiddenAPIs {
					if rule.importPath == path && len(rule.names) == 0 && applies(rule, p.dir) {
						report(im, "import %q: %s", path, rule.why)
					}
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.SelectorExpr:
					if x.Sel.Name == "FormValue" && (p.dir == "internal/server" || strings.HasPrefix(p.dir, "internal/server/")) {
						report(x, "FormValue mixes the query string into form values: handlers read the body only, "+
							"with PostFormValue (V15.3.7)")
					}
					id, ok := x.X.(*ast.Ident)
					if !ok || id.Obj != nil {
						return true
					}
					for _, rule := range forbiddenAPIs {
						if imports[id.Name] == rule.importPath && slices.Contains(rule.names, x.Sel.Name) && applies(rule, p.dir) {
							report(x, "%s.%s: %s", rule.importPath, x.Sel.Name, rule.why)
						}
					}
				case *ast.KeyValueExpr:
					if k, ok := x.Key.(*ast.Ident); ok && k.Name == "InsecureSkipVerify" && isTrue(x.Value) {
						report(x, "InsecureSkipVerify: true: TLS certificates are always verified (V12.3.2)")
					}
				case *ast.AssignStmt:
					for i, l := range x.Lhs {
						if s, ok := l.(*ast.SelectorExpr); ok && s.Sel.Name == "InsecureSkipVerify" && i < len(x.Rhs) && isTrue(x.Rhs[i]) {
							report(x, "InsecureSkipVerify = true: TLS certificates are always verified (V12.3.2)")
						}
					}
				case *ast.BasicLit:
					if x.Kind == token.STRING && strings.Contains(strings.ToLower(x.Value), "access-control-allow-") {
						report(x, "a CORS header: the API allows no cross-origin reads (V3.4.2)")
					}
				}
				return true
			})
		}
	}
	slices.Sort(found)
	return found
}

func isTrue(e ast.Expr) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == "true"
}

// TestNoForbiddenAPIs keeps out of the code what docs/asvs.md says is not
// there: weak or hand-made cryptography, math/rand, XML and gob decoding,
// unsafe, plugins, debug endpoints, OS commands in the server, text/template
// on pages, directory listings, TLS below 1.2, unverified TLS, CORS, and
// form values that could come from the query string.
func TestNoForbiddenAPIs(t *testing.T) {
	fset, pkgs := parseSource(t, repoRoot(t))
	for _, use := range forbiddenUses(fset, pkgs) {
		t.Error(use)
	}
}

// TestForbiddenAPICheckFindsUses shows the check above catches what it is for.
func TestForbiddenAPICheckFindsUses(t *testing.T) {
	fset, pkgs := parseSnippets(t, "internal/server", map[string]string{
		"bad.go": `package server
import (
	"crypto/tls"
	mrand "math/rand"
	"net/http"
	"os/exec"
	"text/template"

	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/vault"
)
var _ = mrand.Int
var _, _, _ = sqlstore.Open, vault.New, auth.NewToken
var _ = template.New
var _ = exec.Command
var _ = &tls.Config{MinVersion: tls.VersionTLS10, InsecureSkipVerify: true}
func h(w http.ResponseWriter) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_ = http.FileServer(http.Dir("/"))
	var c tls.Config
	c.InsecureSkipVerify = true
}
func form(r *http.Request) string { return r.FormValue("next") }
`,
	})
	got := forbiddenUses(fset, pkgs)
	for _, want := range []string{`import "math/rand"`, `import "os/exec"`, `import "text/template"`, "crypto/tls.VersionTLS10",
		"InsecureSkipVerify: true", "InsecureSkipVerify = true", "a CORS header", "net/http.FileServer", "net/http.Dir", "FormValue mixes",
		`import "` + modulePath + `/internal/sqlstore"`, `import "` + modulePath + `/internal/vault"`, `import "` + modulePath + `/internal/auth"`} {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, want) }) {
			t.Errorf("missed %s in:\n%s", want, strings.Join(got, "\n"))
		}
	}
	// os/exec in a development tool is allowed; text/template and the
	// store outside the server too.
	fset, pkgs = parseSnippets(t, "tools/coldstart", map[string]string{
		"main.go": "package main\nimport (\n\t\"os/exec\"\n\t\"text/template\"\n\t\"" + modulePath + "/internal/sqlstore\"\n)\nvar _, _, _ = exec.Command, template.New, sqlstore.Open\n",
	})
	if got := forbiddenUses(fset, pkgs); len(got) != 0 {
		t.Errorf("flagged allowed uses: %v", got)
	}
}
