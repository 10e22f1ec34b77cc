package server

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/resguardo/resguardo/internal/testutil"
)

// The validator is compiled once at start, keyed by route pattern; these
// are the answers the per-request router and validator gave before that,
// kept exactly: operations with nothing to validate still refuse a bad
// body, parameters are still checked, and a method the document does not
// declare (HEAD on a GET route) is still not found.
func TestAPIValidationAnswers(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "valid@example.com", "Valid Customer")
	auth := []string{"Authorization", "Bearer " + tk.AccessToken}
	phone := "/api/v1/me/phones/" + strings.Repeat("A", 26)
	tests := []struct {
		name, method, path, contentType, body string
		status                                int
	}{
		{"plain read", "GET", "/api/v1/me", "", "", 200},
		{"unknown query is ignored", "GET", "/api/v1/me?x=1", "", "", 200},
		{"empty JSON body on a read", "GET", "/api/v1/me", "application/json", `{}`, 200},
		{"text body on a read", "GET", "/api/v1/me", "text/plain", `hola`, 415},
		{"broken JSON body on a read", "GET", "/api/v1/me", "application/json", `{`, 400},
		{"two JSON values on a read", "GET", "/api/v1/me", "application/json", `{}{}`, 400},
		{"deep JSON on a read", "GET", "/api/v1/me", "application/json", strings.Repeat("[", 200) + strings.Repeat("]", 200), 400},
		{"HEAD on a GET route", "HEAD", "/api/v1/me", "", "", 404},
		{"query parameter of the wrong type", "GET", "/api/v1/me/access-log?limit=abc", "", "", 400},
		{"query parameter out of range", "GET", "/api/v1/me/access-log?limit=1000", "", "", 400},
		{"query parameter in range", "GET", "/api/v1/me/access-log?limit=5", "", "", 200},
		{"path parameter against its pattern", "DELETE", "/api/v1/me/phones/abc", "", "", 400},
		// The one deliberate change: the old router did not match an
		// encoded slash (404); the ServeMux does, and the parameter's
		// pattern refuses it (400). Refused before the handler either way.
		{"encoded slash in a path parameter", "DELETE", "/api/v1/me/phones/a%2Fb", "", "", 400},
		{"well-formed unknown id", "DELETE", phone, "", "", 404},
		{"body where the operation has none, not JSON", "POST", "/api/v1/auth/logout", "application/json", `x`, 400},
		{"required body missing", "POST", "/api/v1/me/phones", "", "", 400},
		{"body with unknown field", "POST", "/api/v1/me/phones", "application/json", `{"number":"+34612345678","x":1}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := append([]string{}, auth...)
			if tt.contentType != "" {
				hdr = append(hdr, "Content-Type", tt.contentType)
			}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			resp := ts.do(t, ts.site, tt.method, tt.path, body, hdr...)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d; body %s", resp.StatusCode, tt.status, resp.body)
			}
		})
	}
}

// An /api/v1 row of the route table without an operation in the document
// stops the server at start: it is never served unvalidated.
func TestUndocumentedAPIRouteCannotStart(t *testing.T) {
	env := testutil.NewEnv(t, testutil.Backends()[0], io.Discard)
	o := Options{Logger: env.Log, DB: env.DB, Accounts: env.Accounts, Now: env.Clock.Now}
	ok := func(http.ResponseWriter, *http.Request) error { return nil }
	for name, rt := range map[string]route{
		"unknown path":   {site, "GET /api/v1/test/undocumented", Public, ok},
		"unknown method": {site, "PUT /api/v1/me/phones", Customer, ok},
		"renamed param":  {site, "DELETE /api/v1/me/phones/{phone}", Customer, ok},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := build(o, openapiJSON, []route{rt}); err == nil || !strings.Contains(err.Error(), rt.pattern) {
				t.Errorf("build with %q: err = %v, want a refusal naming the route", rt.pattern, err)
			}
		})
	}
	t.Run("register without an operation", func(t *testing.T) {
		s, err := build(o, openapiJSON, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if recover() == nil {
				t.Error("register accepted an /api/v1 route without its operation")
			}
		}()
		s.register(http.NewServeMux(), route{site, "GET /api/v1/me", Customer, ok}, nil)
	})
}
