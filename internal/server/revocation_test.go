package server

import (
	"fmt"
	"testing"

	"github.com/resguardo/resguardo/internal/testutil"
)

// A token that is revoked is refused on the very next request, through the
// one-statement read of GET /api/v1/me and the token read of every other
// route, on this server and on another server of the deployment: nothing
// caches a token, a family or a customer (only sealed contacts are cached,
// under a version read with the token; see the next test).
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

// Contacts changed through one server show on the very next /me through
// another, which had cached them: every change raises the version that the
// token's one statement reads.
func TestContactsChangedElsewhereShowOnTheNextRead(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		peer := newPeerServer(t, ts)
		a := ts.signUp(t, "contacts-elsewhere@example.com", "Elsewhere")
		type me struct {
			Phones []struct {
				ID     string `json:"id"`
				Number string `json:"number"`
			} `json:"phones"`
			Addresses []struct {
				ID    string `json:"id"`
				Line1 string `json:"line1"`
			} `json:"addresses"`
		}
		read := func(what string) me {
			t.Helper()
			var out me
			if r := ts.apiCall(t, "GET", "/api/v1/me", a.AccessToken, nil, &out); r.StatusCode != 200 {
				t.Fatalf("%s: GET /api/v1/me = %d %s", what, r.StatusCode, r.body)
			}
			return out
		}
		if got := read("before"); len(got.Phones)+len(got.Addresses) != 0 {
			t.Fatalf("a new customer has contacts: %+v", got)
		}
		var phone struct {
			ID string `json:"id"`
		}
		if r := peer.apiCall(t, "POST", "/api/v1/me/phones", a.AccessToken, map[string]string{"number": "+34612345678"}, &phone); r.StatusCode != 201 {
			t.Fatalf("add phone on the peer: %d %s", r.StatusCode, r.body)
		}
		if got := read("after a phone was added elsewhere"); len(got.Phones) != 1 || got.Phones[0].ID != phone.ID {
			t.Errorf("after a phone was added on the other server: %+v", got.Phones)
		}
		var addr struct {
			ID string `json:"id"`
		}
		if r := peer.apiCall(t, "POST", "/api/v1/me/addresses", a.AccessToken,
			map[string]string{"line1": "Calle Mayor 1", "city": "Madrid", "country": "ES"}, &addr); r.StatusCode != 201 {
			t.Fatalf("add address on the peer: %d %s", r.StatusCode, r.body)
		}
		if got := read("after an address was added elsewhere"); len(got.Addresses) != 1 || got.Addresses[0].Line1 != "Calle Mayor 1" {
			t.Errorf("after an address was added on the other server: %+v", got.Addresses)
		}
		if r := peer.apiCall(t, "PUT", "/api/v1/me/addresses/"+addr.ID, a.AccessToken,
			map[string]string{"line1": "Calle Menor 2", "city": "Madrid", "country": "ES"}, nil); r.StatusCode != 200 {
			t.Fatalf("change address on the peer: %d %s", r.StatusCode, r.body)
		}
		if got := read("after the address changed elsewhere"); len(got.Addresses) != 1 || got.Addresses[0].Line1 != "Calle Menor 2" {
			t.Errorf("after the address changed on the other server: %+v", got.Addresses)
		}
		for _, path := range []string{"/api/v1/me/phones/" + phone.ID, "/api/v1/me/addresses/" + addr.ID} {
			if r := peer.apiCall(t, "DELETE", path, a.AccessToken, nil, nil); r.StatusCode != 204 {
				t.Fatalf("DELETE %s on the peer: %d %s", path, r.StatusCode, r.body)
			}
		}
		if got := read("after both were deleted elsewhere"); len(got.Phones)+len(got.Addresses) != 0 {
			t.Errorf("after the contacts were deleted on the other server: %+v", got)
		}
	})
}
