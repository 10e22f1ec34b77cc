package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/resguardo/resguardo/internal/auth"
	staffsvc "github.com/resguardo/resguardo/internal/staff"
	"github.com/resguardo/resguardo/internal/testutil"
)

// testServer is the real server over a real SQLite store, with both
// listeners started by httptest.
type testServer struct {
	*Server
	env         *testutil.Env
	site, staff *httptest.Server
	logs        *testutil.SyncBuffer
	// router finds the documented operation of a request for response
	// checks; the server itself looks operations up by route pattern.
	router routers.Router
}

type testOption func(*Options, *[]byte, *[]route)

func withSecureTransport() testOption {
	return func(o *Options, _ *[]byte, _ *[]route) { o.SecureTransport = true }
}

// withTrustedProxies makes the server take the client address from
// X-Forwarded-For when the peer is in cidr, so tests can act from several
// networks.
func withTrustedProxies(cidr string) testOption {
	return func(o *Options, _ *[]byte, _ *[]route) {
		o.TrustedProxies = append(o.TrustedProxies, netip.MustParsePrefix(cidr))
	}
}

// withRoutes adds routes to the table and, for /api/v1 routes, the paths
// JSON (an object of path items) to the OpenAPI document, so that tests can
// run the real pipeline over handlers of their own.
func withRoutes(paths string, rts ...route) testOption {
	return func(_ *Options, doc *[]byte, extra *[]route) {
		*extra = append(*extra, rts...)
		if paths == "" {
			return
		}
		var d map[string]any
		if err := json.Unmarshal(*doc, &d); err != nil {
			panic(err)
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(paths), &p); err != nil {
			panic(err)
		}
		for k, v := range p {
			d["paths"].(map[string]any)[k] = v
		}
		*doc, _ = json.Marshal(d)
	}
}

// newTestServer is the real server on SQLite.
func newTestServer(t *testing.T, opts ...testOption) *testServer {
	t.Helper()
	return newTestServerOn(t, testutil.Backends()[0], opts...)
}

// newTestServerOn is the real server on backend b.
func newTestServerOn(t *testing.T, b testutil.Backend, opts ...testOption) *testServer {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	return serveEnv(t, testutil.NewEnv(t, b, logs), logs, opts...)
}

// serveEnv starts the real server, both listeners, over env: its database,
// key set, customer side and clock, with a staff side of its own.
func serveEnv(t *testing.T, env *testutil.Env, logs *testutil.SyncBuffer, opts ...testOption) *testServer {
	t.Helper()
	so := staffsvc.DefaultOptions("http://localhost:8081")
	so.Now = env.Clock.Now
	staffSide := staffsvc.New(env.DB, env.Vault, auth.NewHasher(testutil.FastParams, env.Vault, 4), env.Audit, env.Accounts, env.Log, so)
	o := Options{Logger: env.Log, DB: env.DB, Accounts: env.Accounts, Staff: staffSide, Now: env.Clock.Now}
	doc := openapiJSON
	var extra []route
	for _, opt := range opts {
		opt(&o, &doc, &extra)
	}
	s, err := build(o, doc, extra)
	if err != nil {
		t.Fatalf("build server: %v", err)
	}
	ts := &testServer{Server: s, env: env, site: httptest.NewServer(s.Site()), staff: httptest.NewServer(s.Staff()), logs: logs}
	ts.router = contractRouter(t, s.api.doc, ts.site.URL)
	t.Cleanup(ts.site.Close)
	t.Cleanup(ts.staff.Close)
	return ts
}

// response is a finished response with its body read.
type response struct {
	*http.Response
	body []byte
}

func (r response) problem(t *testing.T) problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, r.body)
	}
	var p problem
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body %s: %v", r.body, err)
	}
	if p.Status != r.StatusCode || p.RequestID == "" || p.RequestID != r.Header.Get("X-Request-Id") {
		t.Errorf("problem %+v does not match status %d / request id %q", p, r.StatusCode, r.Header.Get("X-Request-Id"))
	}
	return p
}

// do sends a request and reads the response. For /api/v1 paths the response
// is checked against the OpenAPI document the server runs with.
func (ts *testServer) do(t *testing.T, base *httptest.Server, method, path string, body io.Reader, header ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, base.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(path, "/api/v1/") {
		ts.checkResponse(t, req, resp, b)
	}
	return response{Response: resp, body: b}
}

// checkResponse validates a response against the OpenAPI document: tests
// check what the server sends, not only what it accepts.
func (ts *testServer) checkResponse(t *testing.T, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	route, params, err := ts.router.FindRoute(req)
	if err != nil {
		// Not a documented operation: only 404 and 405 answers may come
		// from one. Anything else means the router lost track of the
		// document, and responses would go unchecked.
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s answered %d but the test router finds no documented operation: %v", req.Method, req.URL.Path, resp.StatusCode, err)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(body)
	if err := undeclared4xx(route, req, resp.StatusCode); err != nil {
		t.Errorf("%s %s: %v\nbody: %s", req.Method, req.URL.Path, err, body)
	}
	if err := openapi3filter.ValidateResponse(t.Context(), in); err != nil {
		t.Errorf("%s %s: response %d does not match the OpenAPI document: %v\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
}

// contractRouter finds the documented operation of a request sent to the
// test server at base. The document's server is the origin it is served
// from ("/"), which the router cannot match against a full URL: the copy it
// routes with names the test server instead.
func contractRouter(t *testing.T, doc *openapi3.T, base string) routers.Router {
	t.Helper()
	local := *doc
	local.Servers = openapi3.Servers{{URL: base}}
	router, err := legacy.NewRouter(&local)
	if err != nil {
		t.Fatalf("openapi router: %v", err)
	}
	return router
}
