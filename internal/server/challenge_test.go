package server

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Every 401 of the API carries a bearer challenge (RFC 6750 §3): bare when
// no token was sent, error="invalid_token" when one was and it does not
// work. The walk covers every API route that needs a signed-in customer.
func TestAPI401CarriesBearerChallenge(t *testing.T) {
	ts := newTestServer(t)
	checked := 0
	for _, rt := range ts.routes() {
		_, customer := rt.policy.(CustomerPolicy)
		if rt.surface != site || !customer || !strings.Contains(rt.pattern, " /api/") {
			continue
		}
		checked++
		method, path := examplePath(rt.pattern)
		t.Run(rt.pattern, func(t *testing.T) {
			for _, c := range []struct {
				name   string
				header []string
				want   string
			}{
				{"no token", nil, "Bearer"},
				{"another scheme", []string{"Authorization", "Basic dXNlcjpwYXNz"}, "Bearer"},
				{"unknown token", []string{"Authorization", "Bearer not-a-token-we-issued"}, `Bearer error="invalid_token"`},
			} {
				resp := ts.do(t, ts.site, method, path, nil, c.header...)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("%s: %d, want 401", c.name, resp.StatusCode)
				}
				if got := resp.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != c.want {
					t.Errorf("%s: WWW-Authenticate %q, want %q", c.name, got, c.want)
				}
			}
		})
	}
	if checked < 10 {
		t.Fatalf("only %d customer API routes walked", checked)
	}
}

// The 401s that do not come from the route policy carry the challenge too:
// a failed sign-in, a bad refresh token, an expired access token, and
// step-up, which names the RFC 9470 error instead of calling a working
// token invalid.
func TestAPI401ChallengeOutsideThePolicy(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "challenge@example.com", "Challenge")
	check := func(name string, resp response, want string) {
		t.Helper()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: %d, want 401", name, resp.StatusCode)
		}
		if got := resp.Header.Get("WWW-Authenticate"); got != want {
			t.Errorf("%s: WWW-Authenticate %q, want %q", name, got, want)
		}
	}
	check("wrong password", ts.apiCall(t, "POST", "/api/v1/auth/login", "",
		map[string]string{"email": "challenge@example.com", "password": "not the password at all"}, nil), "Bearer")
	check("unknown refresh token", ts.apiCall(t, "POST", "/api/v1/auth/refresh", "",
		map[string]string{"refresh_token": "not-a-token-we-issued"}, nil), "Bearer")

	ts.env.Clock.Advance(6 * time.Minute) // past the step-up window, inside the access token's life
	check("step-up", ts.apiCall(t, "POST", "/api/v1/me/mfa/recovery-codes", tk.AccessToken, nil, nil),
		`Bearer error="insufficient_user_authentication", max_age=300`)

	ts.env.Clock.Advance(10 * time.Minute) // past the access token's 15 minutes
	check("expired token", ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, nil), `Bearer error="invalid_token"`)
}
