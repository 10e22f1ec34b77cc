package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/resguardo/resguardo"
)

// echoPaths documents the test route below, strictly: one required string
// field, no other fields.
const echoPaths = `{"/api/v1/test/echo": {"post": {
	"operationId": "testEcho",
	"requestBody": {"required": true, "content": {"application/json": {"schema": {
		"type": "object", "additionalProperties": false, "required": ["text"],
		"properties": {"text": {"type": "string", "maxLength": 70000}, "n": {"type": "integer"}}}}}},
	"responses": {
		"200": {"description": "echo", "content": {"application/json": {"schema": {
			"type": "object", "additionalProperties": false, "required": ["text"],
			"properties": {"text": {"type": "string"}}}}}},
		"400": {"$ref": "#/components/responses/BadRequest"},
		"403": {"$ref": "#/components/responses/Forbidden"},
		"413": {"$ref": "#/components/responses/TooLarge"},
		"415": {"$ref": "#/components/responses/UnsupportedMediaType"},
		"default": {"$ref": "#/components/responses/Problem"}}}}}`

type echoRequest struct {
	Text string `json:"text"`
	N    int    `json:"n"`
}

// echoRoute is a Public /api/v1 route that decodes with the real decoder and
// counts how often its handler ran, so tests can show a refused request
// never reached it.
func echoRoute(calls *atomic.Int32) route {
	return route{site, "POST /api/v1/test/echo", Public, func(w http.ResponseWriter, r *http.Request) error {
		calls.Add(1)
		var in echoRequest
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]string{"text": in.Text})
	}}
}

func TestAPIRequestValidation(t *testing.T) {
	var calls atomic.Int32
	ts := newTestServer(t, withRoutes(echoPaths, echoRoute(&calls)))
	big := `{"text":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		field       string // a field the problem must name
		reachesHand bool
	}{
		{"valid request", "POST", "/api/v1/test/echo", "application/json", `{"text":"hola"}`, 200, "", true},
		{"charset utf-8 accepted", "POST", "/api/v1/test/echo", "application/json; charset=utf-8", `{"text":"hola"}`, 200, "", true},
		{"unknown field", "POST", "/api/v1/test/echo", "application/json", `{"text":"hola","admin":true}`, 400, "", false},
		{"wrong type", "POST", "/api/v1/test/echo", "application/json", `{"text":5}`, 400, "text", false},
		{"missing required field", "POST", "/api/v1/test/echo", "application/json", `{}`, 400, "", false},
		{"two JSON values", "POST", "/api/v1/test/echo", "application/json", `{"text":"a"}{"text":"b"}`, 400, "", false},
		{"not JSON", "POST", "/api/v1/test/echo", "application/json", `text=hola`, 400, "", false},
		{"control character", "POST", "/api/v1/test/echo", "application/json", `{"text":"a\u0000b"}`, 400, "text", true},
		{"body over 64 KiB", "POST", "/api/v1/test/echo", "application/json", big, 413, "", false},
		{"form content type", "POST", "/api/v1/test/echo", "application/x-www-form-urlencoded", `text=hola`, 415, "", false},
		{"text content type", "POST", "/api/v1/test/echo", "text/plain", `{"text":"hola"}`, 415, "", false},
		{"latin-1 charset", "POST", "/api/v1/test/echo", "application/json; charset=iso-8859-1", `{"text":"hola"}`, 415, "", false},
		{"unknown route", "GET", "/api/v1/nothing-here", "", "", 404, "", false},
		{"wrong method", "GET", "/api/v1/test/echo", "", "", 405, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := calls.Load()
			var hdr []string
			if tt.contentType != "" {
				hdr = []string{"Content-Type", tt.contentType}
			}
			resp := ts.do(t, ts.site, tt.method, tt.path, strings.NewReader(tt.body), hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, resp.body)
			}
			if reached := calls.Load() > before; reached != tt.reachesHand {
				t.Errorf("handler reached = %v, want %v", reached, tt.reachesHand)
			}
			if tt.status == 200 {
				return
			}
			p := resp.problem(t)
			if tt.field != "" && !strings.Contains(string(resp.body), `"field":"`+tt.field+`"`) {
				t.Errorf("problem %+v does not name field %q", p, tt.field)
			}
			if tt.status == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", resp.Header.Get("Allow"))
			}
		})
	}
}

// Validation errors name the field and rule but never echo what was sent:
// the value may be a password or an address.
func TestValidationErrorsDoNotEchoValues(t *testing.T) {
	var calls atomic.Int32
	ts := newTestServer(t, withRoutes(echoPaths, echoRoute(&calls)))
	const secret = "Sup3r-Secret-Value"
	for _, body := range []string{`{"text":"x","n":"` + secret + `"}`, `{"text":"x","` + secret + `":1}`, `{"text":["` + secret + `"]}`} {
		resp := ts.do(t, ts.site, "POST", "/api/v1/test/echo", strings.NewReader(body), "Content-Type", "application/json")
		if resp.StatusCode != 400 {
			t.Fatalf("status %d for %s", resp.StatusCode, body)
		}
		if bytes.Contains(resp.body, []byte("Sup3r")) {
			t.Errorf("problem echoes the submitted value: %s", resp.body)
		}
	}
}

func TestCrossOriginPostIsRejected(t *testing.T) {
	var calls atomic.Int32
	ts := newTestServer(t, withRoutes(echoPaths, echoRoute(&calls)))
	body := `{"text":"hola"}`
	tests := []struct {
		name   string
		header []string
		status int
	}{
		{"cross-site fetch metadata", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"same-site but other origin", []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"foreign Origin without fetch metadata", []string{"Origin", "https://evil.example"}, 403},
		{"same origin", []string{"Sec-Fetch-Site", "same-origin"}, 200},
		{"app without browser headers", nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := calls.Load()
			hdr := append([]string{"Content-Type", "application/json"}, tt.header...)
			resp := ts.do(t, ts.site, "POST", "/api/v1/test/echo", strings.NewReader(body), hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, resp.body)
			}
			if tt.status == 403 {
				resp.problem(t)
				if calls.Load() != before {
					t.Error("a cross-origin request reached the handler")
				}
			}
		})
	}
}

func TestPanicBecomesProblemWithoutDetail(t *testing.T) {
	ts := newTestServer(t, withRoutes(`{"/api/v1/test/panic": {"get": {"operationId": "testPanic",
		"responses": {"default": {"$ref": "#/components/responses/Problem"}}}}}`,
		route{site, "GET /api/v1/test/panic", Public, func(http.ResponseWriter, *http.Request) error {
			panic("secret internal state")
		}}))
	resp := ts.do(t, ts.site, "GET", "/api/v1/test/panic", nil)
	if resp.StatusCode != 500 {
		t.Fatalf("status = %d, want 500", resp.StatusCode)
	}
	p := resp.problem(t)
	if strings.Contains(string(resp.body), "secret internal state") || p.Detail != "An internal error occurred." {
		t.Errorf("500 problem leaks internals: %s", resp.body)
	}
	if !strings.Contains(ts.logs.String(), "secret internal state") {
		t.Error("the panic was not logged")
	}
}

func TestSecurityHeaders(t *testing.T) {
	common := map[string]string{
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "no-referrer",
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
		"X-Frame-Options":              "DENY",
	}
	ts := newTestServer(t)
	css, err := ts.assets.Path("app.css")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, listener, path string
		status               int
		page                 bool
		cache                string
	}{
		{"home page", "site", "/", 200, true, "no-store"},
		{"page not found", "site", "/no/such/page", 404, true, "no-store"},
		{"staff login", "staff", "/login", 200, true, "no-store"},
		{"API document", "site", "/api/v1/openapi.json", 200, false, "public, max-age=300"},
		{"API not found", "site", "/api/v1/nope", 404, false, "no-store"},
		{"health", "staff", "/healthz", 200, false, "no-store"},
		{"static asset", "site", css, 200, false, "public, max-age=31536000, immutable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := ts.site
			if tt.listener == "staff" {
				base = ts.staff
			}
			resp := ts.do(t, base, "GET", tt.path, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			for k, v := range common {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(resp.Header.Get("Permissions-Policy"), "camera=()") {
				t.Errorf("Permissions-Policy = %q", resp.Header.Get("Permissions-Policy"))
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control = %q, want %q", got, tt.cache)
			}
			if h := resp.Header.Get("Strict-Transport-Security"); h != "" {
				t.Errorf("HSTS sent over plain HTTP: %q", h)
			}
			if h := resp.Header.Get("Server"); h != "" {
				t.Errorf("Server banner %q", h)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
				if !strings.Contains(csp, d) {
					t.Errorf("CSP %q lacks %q", csp, d)
				}
			}
			if strings.Contains(csp, "unsafe-") {
				t.Errorf("CSP %q allows unsafe sources", csp)
			}
			if tt.page {
				m := regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9+/]{24})'`).FindStringSubmatch(csp)
				if m == nil || !strings.Contains(csp, "object-src 'none'") {
					t.Fatalf("page CSP %q lacks a script nonce or object-src 'none'", csp)
				}
				if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
					t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
				}
			}
		})
	}
	t.Run("nonce differs per response", func(t *testing.T) {
		a := ts.do(t, ts.site, "GET", "/", nil).Header.Get("Content-Security-Policy")
		b := ts.do(t, ts.site, "GET", "/", nil).Header.Get("Content-Security-Policy")
		if a == b {
			t.Errorf("two responses share a CSP nonce: %q", a)
		}
	})
	t.Run("HSTS under TLS", func(t *testing.T) {
		tls := newTestServer(t, withSecureTransport())
		for _, base := range []string{"site", "staff"} {
			srv := tls.site
			if base == "staff" {
				srv = tls.staff
			}
			if h := tls.do(t, srv, "GET", "/healthz", nil).Header.Get("Strict-Transport-Security"); !strings.HasPrefix(h, "max-age=63072000") {
				t.Errorf("%s HSTS = %q", base, h)
			}
		}
	})
}

func TestErrorsOnPagesAreLocalisedPages(t *testing.T) {
	ts := newTestServer(t)
	resp := ts.do(t, ts.site, "GET", "/no/such/page", nil, "Accept-Language", "es-ES,es;q=0.9")
	if resp.StatusCode != 404 || !strings.Contains(string(resp.body), "No hay nada en esta dirección.") {
		t.Fatalf("404 page: %d %s", resp.StatusCode, resp.body)
	}
	if !strings.Contains(string(resp.body), resp.Header.Get("X-Request-Id")) {
		t.Error("error page does not show the request id")
	}
	resp = ts.do(t, ts.site, "DELETE", "/", nil)
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" {
		t.Errorf("DELETE / = %d Allow %q, want 405 Allow GET", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestReadyzFailsClosedWhenDatabaseIsDown(t *testing.T) {
	ts := newTestServer(t)
	if resp := ts.do(t, ts.staff, "GET", "/readyz", nil); resp.StatusCode != 200 {
		t.Fatalf("readyz with database up = %d", resp.StatusCode)
	}
	if err := ts.db.(interface{ Close() error }).Close(); err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{"site", "staff"} {
		srv := ts.site
		if base == "staff" {
			srv = ts.staff
		}
		resp := ts.do(t, srv, "GET", "/readyz", nil)
		if resp.StatusCode != 503 {
			t.Fatalf("%s readyz with database closed = %d, want 503", base, resp.StatusCode)
		}
		if p := resp.problem(t); strings.Contains(p.Detail, "sql") {
			t.Errorf("problem leaks driver detail: %q", p.Detail)
		}
		if resp := ts.do(t, srv, "GET", "/healthz", nil); resp.StatusCode != 200 {
			t.Errorf("%s healthz = %d: the process is still up", base, resp.StatusCode)
		}
	}
}

func TestAccessLogOneLinePerRequestWithoutQuery(t *testing.T) {
	ts := newTestServer(t)
	resp := ts.do(t, ts.site, "GET", "/?lang=es&q=maria@example.com", nil)
	id := resp.Header.Get("X-Request-Id")
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(ts.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["msg"] == "request" && m["request_id"] == id {
			lines = append(lines, m)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d access-log lines for request %s, want 1", len(lines), id)
	}
	l := lines[0]
	if l["route"] != "GET /{$}" || l["status"] != float64(200) || l["path"] != "/" || l["client"] != "127.0.0.0/24" {
		t.Errorf("access log line %v", l)
	}
	if strings.Contains(ts.logs.String(), "maria@example.com") {
		t.Error("the query string (personal data) reached the log")
	}
}

func TestLanguageNegotiationAndSwitch(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		name, path string
		header     []string
		want       string
	}{
		{"default English", "/", nil, `<html lang="en">`},
		{"Accept-Language Spanish", "/", []string{"Accept-Language", "es-MX,es;q=0.9,en;q=0.5"}, `<html lang="es">`},
		{"unsupported falls back to English", "/", []string{"Accept-Language", "de-DE"}, `<html lang="en">`},
		{"switch beats header", "/?lang=en", []string{"Accept-Language", "es"}, `<html lang="en">`},
		{"cookie beats header", "/", []string{"Accept-Language", "en", "Cookie", "lang=es"}, `<html lang="es">`},
		{"bogus switch ignored", "/?lang=xx", []string{"Accept-Language", "es"}, `<html lang="es">`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.do(t, ts.site, "GET", tt.path, nil, tt.header...)
			if !strings.Contains(string(resp.body), tt.want) {
				t.Errorf("page lacks %s", tt.want)
			}
		})
	}
	resp := ts.do(t, ts.site, "GET", "/?lang=es", nil)
	c := resp.Cookies()
	if len(c) != 1 || c[0].Name != langCookie || c[0].Value != "es" || !c[0].HttpOnly || c[0].SameSite != http.SameSiteLaxMode {
		t.Errorf("language switch cookie = %+v", c)
	}
	if !strings.Contains(string(resp.body), "Tus datos, a buen recaudo") {
		t.Error("Spanish home page text missing")
	}
}

func TestStaffConsoleIsItsOwnSurface(t *testing.T) {
	ts := newTestServer(t)
	if resp := ts.do(t, ts.staff, "GET", "/", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("staff / = %d → %q, want 303 → /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, path := range []string{"/register", "/account", "/password/forgot"} {
		if resp := ts.do(t, ts.staff, "GET", path, nil); resp.StatusCode != 404 {
			t.Errorf("customer page %s served on the staff listener: %d", path, resp.StatusCode)
		}
	}
	if resp := ts.do(t, ts.staff, "GET", "/api/v1/openapi.json", nil); resp.StatusCode != 404 {
		t.Errorf("customer API served on the staff listener: %d", resp.StatusCode)
	}
}

func TestDomainErrorsMapToStatuses(t *testing.T) {
	for code, status := range map[string]int{
		resguardo.EInvalid: 400, resguardo.EUnauthenticated: 401, resguardo.EForbidden: 403,
		resguardo.ENotFound: 404, resguardo.EMethodNotAllowed: 405, resguardo.EConflict: 409,
		resguardo.ETooLarge: 413, resguardo.EUnsupportedMedia: 415, resguardo.ERateLimited: 429,
		resguardo.EInternal: 500, resguardo.EUnavailable: 503, "something new": 500,
	} {
		if got := statusFor(code); got != status {
			t.Errorf("statusFor(%q) = %d, want %d", code, got, status)
		}
	}
}
