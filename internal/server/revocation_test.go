package server

import (
	"fmt"
	"testing"

	"github.com/resguardo/resguardo/internal/testutil"
)

// A token that is revoked is refused on the very next request, through the
// one-statement read of GET /api/v1/me and the token read of every other
// route, on this server and on another server of the deployment: nothing
// caches a token, a family or a profile.
func TestRevokedTokenIsRefusedOnTheNextRequest(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		peer := newPeerServer(t, ts)
		n := 0
		fresh := func() (tokens, tokens) { // a customer signed in on two apps
			n++
			email := fmt.Sprintf("revoked%d@example.com", n)
			a := ts.signUp(t, email, "Revoked")
			return a, ts.login(t, email, testPassword)
		}
		works := func(what, token string, want int) {
			t.Helper()
			for _, srv := range []*testServer{ts, peer} {
				for _, path := range []string{"/api/v1/me", "/api/v1/me/sessions"} {
					if r := srv.apiCall(t, "GET", path, token, nil, nil); r.StatusCode != want {
						t.Errorf("%s: GET %s = %d, want %d", what, path, r.StatusCode, want)
					}
				}
			}
		}

		// Sign-out.
		a, _ := fresh()
		works("before sign-out", a.AccessToken, 200)
		if r := ts.apiCall(t, "POST", "/api/v1/auth/logout", a.AccessToken, nil, nil); r.StatusCode != 204 {
			t.Fatalf("logout: %d", r.StatusCode)
		}
		works("after sign-out", a.AccessToken, 401)

		// Password change: the other app's token dies at once.
		a, other := fresh()
		works("before the password change", other.AccessToken, 200)
		if r := peer.apiCall(t, "POST", "/api/v1/me/password", a.AccessToken,
			map[string]string{"current_password": testPassword, "new_password": "a brand new passphrase 42"}, nil); r.StatusCode != 204 {
			t.Fatalf("password change: %d %s", r.StatusCode, r.body)
		}
		works("the other app after a password change", other.AccessToken, 401)

		// One sign-in revoked from the list.
		a, other = fresh()
		var list []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		}
		if r := ts.apiCall(t, "GET", "/api/v1/me/sessions", a.AccessToken, nil, &list); r.StatusCode != 200 {
			t.Fatalf("sessions: %d", r.StatusCode)
		}
		for _, s := range list {
			if !s.Current {
				if r := ts.apiCall(t, "DELETE", "/api/v1/me/sessions/"+s.ID, a.AccessToken, nil, nil); r.StatusCode != 204 {
					t.Fatalf("revoke: %d %s", r.StatusCode, r.body)
				}
			}
		}
		works("a revoked sign-in", other.AccessToken, 401)
		works("the revoking sign-in", a.AccessToken, 200)

		// A refresh token used twice revokes the whole family.
		a, _ = fresh()
		var next tokens
		if r := ts.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": a.RefreshToken}, &next); r.StatusCode != 200 {
			t.Fatalf("refresh: %d", r.StatusCode)
		}
		works("after a refresh", next.AccessToken, 200)
		if r := peer.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": a.RefreshToken}, nil); r.StatusCode != 401 {
			t.Fatalf("refresh reuse: %d", r.StatusCode)
		}
		works("a family revoked for reuse", next.AccessToken, 401)
	})
}
