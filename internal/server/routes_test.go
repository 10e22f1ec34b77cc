package server

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	staffsvc "github.com/resguardo/resguardo/internal/staff"
)

// examplePath turns a route pattern into a concrete path.
func examplePath(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.ReplaceAll(path, "{$}", "")
	path = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "Q2VXN4ZJ7T")
	return method, path
}

// refused reports whether a response refuses an anonymous caller: 401, or
// for a GET of a page (customer site or staff console), 303 to the sign-in
// page.
func refused(_ surface, method, path string, resp response) bool {
	if method == "GET" && !isJSONPath(path) {
		return resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login")
	}
	return resp.StatusCode == http.StatusUnauthorized
}

// open reports whether a policy admits an anonymous caller.
func open(p Policy) bool { return p == Public || p == Guest }

// TestRouteTableWalk sends an anonymous request to every route of the table
// on its listener. Open routes must answer without asking for sign-in; every
// other route must refuse with 401 before its handler runs.
func TestRouteTableWalk(t *testing.T) {
	ts := newTestServer(t)
	rows := ts.routes()
	if len(rows) == 0 {
		t.Fatal("empty route table")
	}
	seen := map[string]bool{}
	for _, rt := range rows {
		key := string(rt.surface) + " " + rt.pattern
		if seen[key] {
			t.Errorf("route %s registered twice", key)
		}
		seen[key] = true
		t.Run(key, func(t *testing.T) {
			base := ts.site
			if rt.surface == staff {
				base = ts.staff
			}
			method, path := examplePath(rt.pattern)
			resp := ts.do(t, base, method, path, nil)
			denied := resp.StatusCode == 401 || resp.StatusCode == 403
			if open(rt.policy) && denied {
				t.Errorf("%s policy %s: anonymous got %d", key, rt.policy, resp.StatusCode)
			}
			if !open(rt.policy) && !refused(rt.surface, method, path, resp) {
				t.Errorf("%s policy %s: anonymous got %d, want 401 (or, for a site page, 303 to /login)", key, rt.policy, resp.StatusCode)
			}
		})
	}
}

// Without real credentials every identity policy refuses, on either
// listener: a route using one is registered but never reaches its handler.
func TestPoliciesDenyWithoutIdentity(t *testing.T) {
	policies := []Policy{
		Customer, Customer.Recent(), StaffSignedIn, StaffPending,
		StaffOp(staffsvc.OpSearch), StaffOp(staffsvc.OpSetLocked), StaffOp(staffsvc.OpRequestErase),
	}
	var calls atomic.Int32
	var rts []route
	for i, p := range policies {
		for _, sf := range []surface{site, staff} {
			rts = append(rts, route{sf, "GET /test/policy/" + string(rune('a'+i)), p, func(w http.ResponseWriter, r *http.Request) error {
				calls.Add(1)
				return writeJSON(w, 200, map[string]string{"secret": "data"})
			}})
		}
	}
	ts := newTestServer(t, withRoutes("", rts...))
	for _, rt := range rts {
		base := ts.site
		if rt.surface == staff {
			base = ts.staff
		}
		_, path := examplePath(rt.pattern)
		// Even with what looks like credentials, nothing can pass yet.
		resp := ts.do(t, base, "GET", path, nil, "Authorization", "Bearer QUJDREVGR0hJSktMTU5PUA", "Cookie", "session=abc")
		if !refused(rt.surface, "GET", path, resp) {
			t.Errorf("%s %s (%s) = %d, want 401", rt.surface, rt.pattern, rt.policy, resp.StatusCode)
		}
	}
	if calls.Load() != 0 {
		t.Errorf("%d handlers ran behind a refusing policy", calls.Load())
	}
}

func TestRegisterRefusesRouteWithoutPolicy(t *testing.T) {
	ts := newTestServer(t)
	for name, rt := range map[string]route{
		"no policy":  {site, "GET /x", nil, func(http.ResponseWriter, *http.Request) error { return nil }},
		"no handler": {site, "GET /x", Public, nil},
		"no method":  {site, "/x", Public, func(http.ResponseWriter, *http.Request) error { return nil }},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("register accepted the route")
				}
			}()
			ts.register(http.NewServeMux(), rt, nil)
		})
	}
}

// The OpenAPI document and the route table describe the same /api/v1
// operations, no more and no fewer.
func TestRouteTableMatchesOpenAPI(t *testing.T) {
	ts := newTestServer(t)
	var fromTable, fromDoc []string
	for _, rt := range ts.routes() {
		if strings.Contains(rt.pattern, " /api/v1/") {
			if rt.surface != site {
				t.Errorf("API route %q on the %s listener", rt.pattern, rt.surface)
			}
			fromTable = append(fromTable, rt.pattern)
		}
	}
	for path, item := range ts.api.doc.Paths.Map() {
		for method := range item.Operations() {
			fromDoc = append(fromDoc, method+" "+path)
		}
	}
	sort.Strings(fromTable)
	sort.Strings(fromDoc)
	if diff := cmp.Diff(fromDoc, fromTable); diff != "" {
		t.Errorf("route table and OpenAPI document differ (-document +table):\n%s", diff)
	}
}

// Every message key a template uses exists in both languages, and both
// catalogs hold the same keys.
func TestTemplateMessagesExistInBothLanguages(t *testing.T) {
	keyRe := regexp.MustCompile(`call \.T "([^"]+)"`)
	err := fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := templateFS.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range keyRe.FindAllStringSubmatch(string(b), -1) {
			for lang, cat := range messages {
				if _, ok := cat[m[1]]; !ok {
					t.Errorf("%s uses %q, missing in %s", p, m[1], lang)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for key := range messages["en"] {
		if _, ok := messages["es"][key]; !ok {
			t.Errorf("%q missing in es", key)
		}
	}
	for key := range messages["es"] {
		if _, ok := messages["en"][key]; !ok {
			t.Errorf("%q missing in en", key)
		}
	}
}

// Escape hatches out of html/template's contextual escaping are the usual
// way XSS comes back; none may appear in the server's code.
func TestNoTemplateEscapeHatches(t *testing.T) {
	hatch := regexp.MustCompile(`template\.(HTML|JS|URL|HTMLAttr|JSStr|CSS|Srcset)\(`)
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "data") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "routes_test.go") {
			return nil
		}
		b, err := os.ReadFile(p) // #nosec G304 -- walking our own source tree
		if err != nil {
			return err
		}
		if loc := hatch.FindIndex(b); loc != nil {
			t.Errorf("%s uses %s", p, b[loc[0]:loc[1]])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
