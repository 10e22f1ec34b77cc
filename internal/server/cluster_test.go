package server

import (
	"net/url"
	"strings"
	"testing"

	"github.com/resguardo/resguardo"
	staffsvc "github.com/resguardo/resguardo/internal/staff"
	"github.com/resguardo/resguardo/internal/testutil"
)

// What must hold once per deployment holds across two servers of it: each
// case below acts through server A and server B in turn, and the second
// server sees what the first counted, approved, used or retired. On a
// Galera cluster (RESGUARDO_TEST_MYSQL_PEER_DSN naming a second node) the
// two servers also go through two database nodes.
func TestOncePerDeploymentAcrossTwoServers(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		t.Run("sign-in throttle", func(t *testing.T) {
			a := newTestServerOn(t, b)
			bb := newPeerServer(t, a)
			a.signUp(t, "guessed@example.com", "Guessed")
			// The account on one network has 5 free attempts: 3 on A and 2
			// on B use them up, and the next waits on either server.
			for i, ts := range []*testServer{a, a, a, bb, bb} {
				if code := ts.loginFrom(t, "198.51.100.9", "guessed@example.com", "wrong wrong wrong"); code != 401 {
					t.Fatalf("guess %d: %d, want 401", i+1, code)
				}
			}
			for name, ts := range map[string]*testServer{"A": a, "B": bb} {
				if code := ts.loginFrom(t, "198.51.100.9", "guessed@example.com", "wrong wrong wrong"); code != 429 {
					t.Errorf("sixth guess on server %s: %d, want 429", name, code)
				}
			}
		})
		t.Run("refresh token reuse", func(t *testing.T) {
			a := newTestServerOn(t, b)
			bb := newPeerServer(t, a)
			tk := a.signUp(t, "app2@example.com", "App")
			var next tokens
			if r := a.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}, &next); r.StatusCode != 200 {
				t.Fatalf("refresh on A: %d %s", r.StatusCode, r.body)
			}
			// The used token, replayed on B, is caught and retires the family
			// on both servers.
			if r := bb.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}, nil); r.StatusCode != 401 {
				t.Fatalf("replay on B: %d, want 401", r.StatusCode)
			}
			for name, ts := range map[string]*testServer{"A": a, "B": bb} {
				if r := ts.apiCall(t, "GET", "/api/v1/me", next.AccessToken, nil, nil); r.StatusCode != 401 {
					t.Errorf("the family's new access token on %s after the replay: %d, want 401", name, r.StatusCode)
				}
			}
		})
		t.Run("single-use link", func(t *testing.T) {
			a := newTestServerOn(t, b)
			bb := newPeerServer(t, a)
			a.signUp(t, "link@example.com", "Link")
			a.apiCall(t, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": "link@example.com"}, nil)
			token := a.env.LinkToken(t, "link@example.com", "/password/reset")
			if r := a.apiCall(t, "POST", "/api/v1/auth/password/reset", "", map[string]string{"token": token, "password": "a new and long passphrase"}, nil); r.StatusCode != 204 {
				t.Fatalf("reset on A: %d %s", r.StatusCode, r.body)
			}
			if r := bb.apiCall(t, "POST", "/api/v1/auth/password/reset", "", map[string]string{"token": token, "password": "another long passphrase"}, nil); r.StatusCode != 400 {
				t.Errorf("the same link on B: %d, want 400", r.StatusCode)
			}
		})
		t.Run("reveal limit", func(t *testing.T) {
			a := newTestServerOn(t, b)
			bb := newPeerServer(t, a)
			a.signUp(t, "reveal@example.com", "Reveal Me")
			id := customerID(t, a, "reveal@example.com")
			_, lead := a.staffSession(t, a.newStaff(t, "lead@corp.example", resguardo.RoleLead))
			const reason = "the customer asked us to confirm it on the phone"
			limit := staffsvc.DefaultOptions("").RevealsPerHour
			for i := range limit {
				side := a.staffSvc
				if i%2 == 1 {
					side = bb.staffSvc
				}
				if _, err := side.Reveal(t.Context(), lead, id, "email", reason); err != nil {
					t.Fatalf("reveal %d of %d: %v", i+1, limit, err)
				}
			}
			for name, side := range map[string]*testServer{"A": a, "B": bb} {
				if _, err := side.staffSvc.Reveal(t.Context(), lead, id, "email", reason); resguardo.ErrorCode(err) != resguardo.ERateLimited {
					t.Errorf("reveal %d on server %s: %v, want rate limited", limit+1, name, err)
				}
			}
		})
		t.Run("four-eyes approval", func(t *testing.T) {
			a := newTestServerOn(t, b)
			bb := newPeerServer(t, a)
			a.signUp(t, "fouryes@example.com", "Four Eyes")
			id := customerID(t, a, "fouryes@example.com")
			lead1 := a.newStaff(t, "one@corp.example", resguardo.RoleLead)
			lead2 := a.newStaff(t, "two@corp.example", resguardo.RoleLead)
			oneA, twoB, oneB := a.console(t), bb.console(t), bb.console(t)
			oneTok, twoTok, oneBTok := oneA.signIn(lead1), twoB.signIn(lead2), oneB.signIn(lead1)
			if r := oneA.post("/customers/"+id+"/export", url.Values{"csrf_token": {oneTok}}); r.StatusCode != 303 {
				t.Fatalf("export request on A: %d", r.StatusCode)
			}
			m := approveRe.FindStringSubmatch(twoB.get("/approvals").Body)
			if m == nil {
				t.Fatal("the request made on A is not offered for approval on B")
			}
			// The requester cannot approve their own request on the other server.
			if r := oneB.post("/approvals/"+m[1]+"/approve", url.Values{"csrf_token": {oneBTok}}); r.StatusCode < 400 {
				t.Errorf("self-approval on B: %d", r.StatusCode)
			}
			if r := oneB.post("/approvals/"+m[1]+"/export", url.Values{"csrf_token": {oneBTok}}); r.StatusCode != 409 {
				t.Errorf("download on B before approval: %d, want 409", r.StatusCode)
			}
			if r := twoB.post("/approvals/"+m[1]+"/approve", url.Values{"csrf_token": {twoTok}}); r.StatusCode != 303 {
				t.Fatalf("approve on B: %d", r.StatusCode)
			}
			if dl := oneA.post("/approvals/"+m[1]+"/export", url.Values{"csrf_token": {oneTok}}); dl.StatusCode != 200 || !strings.Contains(dl.Body, id) {
				t.Fatalf("download on A: %d", dl.StatusCode)
			}
			if r := oneB.post("/approvals/"+m[1]+"/export", url.Values{"csrf_token": {oneBTok}}); r.StatusCode != 409 {
				t.Errorf("second download, on B: %d, want 409", r.StatusCode)
			}
		})
	})
}
