package server

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/resguardo/resguardo"
	staffsvc "github.com/resguardo/resguardo/internal/staff"
	"github.com/resguardo/resguardo/internal/testutil"
)

// Who may pass each staff route's policy, written out from docs/contract.md §5 (not
// derived from role.go, so that loosening any row of the permission table
// fails this test):
//
//	search and view masked, reveal, edit name and addresses: agent, lead
//	critical operations (step-up), export and erasure requests: lead
//	approvals: those who may ask for one of its kinds (lead: export and
//	  erasure; admin: role grants)
//	team (manage staff): admin, every change with step-up (staffStepUp);
//	  audit trail: admin, auditor
//
// "all" is everyone, signed in or not; "staff" is every signed-in staff
// member. A customer's session cookie and anonymous callers pass only "all".
var staffMatrix = map[string]string{
	"GET /healthz":              "all",
	"GET /readyz":               "all",
	"GET /static/{file}":        "all",
	"GET /login":                "all",
	"POST /login":               "all",
	"GET /enrol":                "all",
	"POST /enrol":               "all",
	"GET /enrol/qr.png":         "all",
	"POST /enrol/confirm":       "all",
	"POST /enrol/passkey/start": "all",
	"POST /enrol/passkey":       "all",

	"GET /{$}":                   "staff",
	"GET /login/code":            "staff",
	"POST /login/code":           "staff",
	"POST /logout":               "staff",
	"GET /reauth":                "staff",
	"POST /reauth":               "staff",
	"POST /login/passkey/start":  "staff",
	"POST /login/passkey":        "staff",
	"POST /reauth/passkey/start": "staff",
	"POST /reauth/passkey":       "staff",
	"POST /passkeys/start":       "staff",
	"POST /passkeys":             "staff",
	"GET /passkeys":              "staff",
	"POST /passkeys/{id}/name":   "staff",
	"POST /passkeys/{id}/delete": "staff",

	"GET /customers":                              "agent lead",
	"POST /customers":                             "agent lead",
	"GET /customers/{id}":                         "agent lead",
	"POST /customers/{id}/reveal":                 "agent lead",
	"POST /customers/{id}/name":                   "agent lead",
	"POST /customers/{id}/addresses":              "agent lead",
	"POST /customers/{id}/addresses/{aid}":        "agent lead",
	"POST /customers/{id}/addresses/{aid}/delete": "agent lead",
	"POST /customers/{id}/email":                  "lead",
	"POST /customers/{id}/phones":                 "lead",
	"POST /customers/{id}/phones/{pid}/delete":    "lead",
	"POST /customers/{id}/mfa-reset":              "lead",
	"POST /customers/{id}/lock":                   "lead",
	"POST /customers/{id}/unlock":                 "lead",
	"POST /customers/{id}/revoke-sessions":        "lead",
	"POST /customers/{id}/export":                 "lead",
	"POST /customers/{id}/erase":                  "lead",
	"GET /approvals":                              "lead admin",
	"POST /approvals/{id}/approve":                "lead admin",
	"POST /approvals/{id}/refuse":                 "lead admin",
	"POST /approvals/{id}/export":                 "lead",
	"GET /audit":                                  "admin auditor",
	"POST /audit":                                 "admin auditor",
	"GET /audit/verify":                           "admin auditor",
	"GET /team":                                   "admin",
	"POST /team":                                  "admin",
	"POST /team/{id}/disable":                     "admin",
	"POST /team/{id}/grant":                       "admin",
}

// staffStepUp lists the staff routes that need a password or code check
// within 5 minutes on top of their role (docs/contract.md §3, §5): critical operations,
// four-eyes requests and decisions, every change of the team, and adding a
// passkey.
var staffStepUp = map[string]bool{
	"POST /customers/{id}/email":               true,
	"POST /customers/{id}/phones":              true,
	"POST /customers/{id}/phones/{pid}/delete": true,
	"POST /customers/{id}/mfa-reset":           true,
	"POST /customers/{id}/lock":                true,
	"POST /customers/{id}/unlock":              true,
	"POST /customers/{id}/revoke-sessions":     true,
	"POST /customers/{id}/export":              true,
	"POST /customers/{id}/erase":               true,
	"POST /approvals/{id}/approve":             true,
	"POST /approvals/{id}/refuse":              true,
	"POST /approvals/{id}/export":              true,
	"POST /team":                               true,
	"POST /team/{id}/disable":                  true,
	"POST /team/{id}/grant":                    true,
	// Adding a second factor.
	"POST /passkeys/start": true,
	"POST /passkeys":       true,
	// One's own passkeys: listed, named, removed.
	"GET /passkeys":              true,
	"POST /passkeys/{id}/name":   true,
	"POST /passkeys/{id}/delete": true,
}

// TestStaffStepUpRoutes checks the route table asks for step-up exactly
// where staffStepUp says (the matrix below signs in recently, so it would
// not notice a missing step-up).
func TestStaffStepUpRoutes(t *testing.T) {
	ts := newTestServer(t)
	for _, rt := range ts.routes() {
		if rt.surface != staff {
			continue
		}
		if got := strings.HasSuffix(rt.policy.String(), ".Recent"); got != staffStepUp[rt.pattern] {
			t.Errorf("%s: policy %s, step-up wanted: %v", rt.pattern, rt.policy, staffStepUp[rt.pattern])
		}
	}
}

// matrixCaller is one column of the matrix: a staff role, an anonymous
// visitor, or a signed-in customer's browser.
type matrixCaller struct {
	name    string
	cookies []*http.Cookie
	token   string // form token: the staff session's, else a pre-session one
}

func (c matrixCaller) passes(who string) bool {
	switch who {
	case "all":
		return true
	case "staff":
		return c.name == "agent" || c.name == "lead" || c.name == "admin" || c.name == "auditor"
	}
	for _, r := range strings.Fields(who) {
		if r == c.name {
			return true
		}
	}
	return false
}

// matrixCallers signs in one member of each role (recent sessions, so
// step-up does not interfere), a customer on the site, and no one.
func matrixCallers(t *testing.T, ts *testServer) []matrixCaller {
	t.Helper()
	var callers []matrixCaller
	for _, role := range []resguardo.Role{resguardo.RoleAgent, resguardo.RoleLead, resguardo.RoleAdmin, resguardo.RoleAuditor} {
		token, p := ts.staffSession(t, ts.newStaff(t, string(role)+"@corp.example", role))
		// The same value as session form token and pre-session cookie: one
		// form token then suits both kinds of route.
		callers = append(callers, matrixCaller{name: string(role), token: p.CSRFToken, cookies: []*http.Cookie{
			{Name: staffSessionCookie, Value: token}, {Name: staffGuestCookie, Value: p.CSRFToken}}})
	}
	guest := rand.Text()
	callers = append(callers, matrixCaller{name: "anonymous", token: guest, cookies: []*http.Cookie{{Name: staffGuestCookie, Value: guest}}})

	// A customer signed in on the site: their browser sends the site's
	// cookies to the staff listener too (same host, another port).
	ts.signUp(t, "customer@example.com", "Cliente Uno")
	b := ts.browser(t)
	if resp := b.signIn("customer@example.com", testPassword, ""); resp.StatusCode != 303 {
		t.Fatalf("customer sign-in: %d", resp.StatusCode)
	}
	session, csrf := b.cookie(sessionCookie), b.cookie(guestCookie)
	if session == "" || csrf == "" {
		t.Fatal("no customer cookies")
	}
	// The customer's session token under the staff cookie's name finds no
	// staff session either: another store.
	callers = append(callers,
		matrixCaller{name: "customer", token: csrf, cookies: []*http.Cookie{{Name: sessionCookie, Value: session}, {Name: guestCookie, Value: csrf},
			{Name: staffGuestCookie, Value: csrf}}},
		matrixCaller{name: "customer-token-as-staff", token: csrf, cookies: []*http.Cookie{{Name: staffSessionCookie, Value: session},
			{Name: staffGuestCookie, Value: csrf}}})
	return callers
}

// TestStaffAuthorizationMatrix walks every route of the staff listener in
// the route table for every role, an anonymous visitor and a customer's
// browser. The routes keep their real policies, the real route wrapper and
// the real pipeline; only the handlers are replaced by a probe, so that
// "allowed" means exactly that the policy let the request through (the
// probe ran) and no handler changes state while the matrix is walked.
func TestStaffAuthorizationMatrix(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		var ran atomic.Int32
		mux := http.NewServeMux()
		var rows []route
		for _, rt := range ts.routes() {
			if rt.surface != staff {
				continue
			}
			if _, ok := staffMatrix[rt.pattern]; !ok {
				t.Errorf("staff route %q is not in the expected matrix: add it", rt.pattern)
				continue
			}
			rows = append(rows, rt)
			rt.handler = func(w http.ResponseWriter, r *http.Request) error {
				ran.Add(1)
				w.WriteHeader(http.StatusNoContent)
				return nil
			}
			ts.register(mux, rt, nil)
		}
		for pattern := range staffMatrix {
			if !hasPattern(rows, pattern) {
				t.Errorf("expected matrix names %q, which is not a staff route", pattern)
			}
		}
		probe := httptest.NewServer(ts.pipeline(staff, mux))
		t.Cleanup(probe.Close)

		for _, c := range matrixCallers(t, ts) {
			for _, rt := range rows {
				method, path := examplePath(rt.pattern)
				want := c.passes(staffMatrix[rt.pattern])
				before := ran.Load()
				resp := matrixRequest(t, probe.URL, method, path, c)
				got := ran.Load() > before
				if got != want {
					t.Errorf("%s %s: admitted=%v, want %v (status %d → %q)", c.name, rt.pattern, got, want, resp.StatusCode, resp.Header.Get("Location"))
					continue
				}
				if !want && !policyRefusal(method, resp) {
					t.Errorf("%s %s: refused with %d → %q, want 401/403 or a redirect to sign in", c.name, rt.pattern, resp.StatusCode, resp.Header.Get("Location"))
				}
				// The real server refuses the same way (its handler never
				// runs for a refused caller, so this changes nothing).
				if !want {
					if real := matrixRequest(t, ts.staff.URL, method, path, c); real.StatusCode != resp.StatusCode {
						t.Errorf("%s %s: real server %d, probe %d", c.name, rt.pattern, real.StatusCode, resp.StatusCode)
					}
				}
			}
		}
	})
}

func hasPattern(rows []route, pattern string) bool {
	for _, rt := range rows {
		if rt.pattern == pattern {
			return true
		}
	}
	return false
}

// policyRefusal reports a refusal by a policy: 401 or 403, or for a page
// GET a redirect to sign in.
func policyRefusal(method string, resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return true
	case http.StatusSeeOther:
		loc := resp.Header.Get("Location")
		return method == "GET" && (loc == "/login" || strings.HasPrefix(loc, "/login?"))
	}
	return false
}

func matrixRequest(t *testing.T, base, method, path string, c matrixCaller) *http.Response {
	t.Helper()
	var body *strings.Reader
	if method == "POST" {
		body = strings.NewReader(url.Values{"csrf_token": {c.token}}.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestStaffRoutesTakeTheirRequirementFromTheService checks that no staff
// route states a permission of its own: every route that needs one is
// StaffOp(op), whose permissions and step-up are the staff service's row
// for op, the row the service checks again inside the operation
// (staff.TestEveryOperationChecksItsOwnRequirement). Every declared
// operation is reachable by some route.
func TestStaffRoutesTakeTheirRequirementFromTheService(t *testing.T) {
	ts := newTestServer(t)
	used := map[staffsvc.Op]bool{}
	for _, rt := range ts.routes() {
		sp, ok := rt.policy.(StaffPolicy)
		if !ok || sp.pending || sp == StaffSignedIn || sp == StaffSignedInRecent { // no permissions named
			continue
		}
		if sp.op == "" {
			t.Errorf("%s %s: policy %s names permissions without a staff operation", rt.surface, rt.pattern, sp)
			continue
		}
		used[sp.op] = true
		req := staffsvc.Requires(sp.op)
		var got []resguardo.Permission
		for _, p := range sp.anyOf {
			if p != "" {
				got = append(got, p)
			}
		}
		if !slices.Equal(got, req.AnyOf) || sp.recent != req.Recent {
			t.Errorf("%s: policy %s, but operation %s requires %v (recent %v)", rt.pattern, sp, sp.op, req.AnyOf, req.Recent)
		}
	}
	for _, op := range staffsvc.Ops() {
		if !used[op] {
			t.Errorf("operation %s has no route", op)
		}
	}
}
