package server

import (
	"github.com/pquerna/otp/totp"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/testutil"
)

// Password change needs a password check within the last 5 minutes: the
// API answers 401 with the reauthentication type until POST /auth/reauth.
func TestStepUpRequiredAfterFiveMinutes(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "step@example.com", "Step")
		change := map[string]string{"current_password": testPassword, "new_password": "a fresh new passphrase 1"}
		ts.env.Clock.Advance(4 * time.Minute)
		// Within 5 minutes of sign-in: no step-up needed (checked by a
		// harmless wrong current password: 400, not 401).
		if r := ts.apiCall(t, "POST", "/api/v1/me/password", tk.AccessToken, map[string]string{"current_password": "wrong wrong wrong", "new_password": "whatever long enough"}, nil); r.StatusCode != 400 {
			t.Fatalf("within 5 minutes: %d, want 400 (wrong current password)", r.StatusCode)
		}
		ts.env.Clock.Advance(2 * time.Minute)
		r := ts.apiCall(t, "POST", "/api/v1/me/password", tk.AccessToken, change, nil)
		if r.StatusCode != 401 || r.problem(t).Type != problemTypeBase+"reauthentication_required" {
			t.Fatalf("after 6 minutes: %d %s, want 401 reauthentication_required", r.StatusCode, r.body)
		}
		if r := ts.apiCall(t, "POST", "/api/v1/auth/reauth", tk.AccessToken, map[string]string{"password": "not it at all"}, nil); r.StatusCode != 400 {
			t.Fatalf("reauth with a wrong password: %d", r.StatusCode)
		}
		if r := ts.apiCall(t, "POST", "/api/v1/auth/reauth", tk.AccessToken, map[string]string{"password": testPassword}, nil); r.StatusCode != 204 {
			t.Fatalf("reauth: %d %s", r.StatusCode, r.body)
		}
		if r := ts.apiCall(t, "POST", "/api/v1/me/password", tk.AccessToken, change, nil); r.StatusCode != 204 {
			t.Fatalf("after reauth: %d %s", r.StatusCode, r.body)
		}
	})
}

// The web flow asks for the password and returns to the page it came from.
func TestStepUpOnThePages(t *testing.T) {
	ts := newTestServer(t)
	ts.signUp(t, "webstep@example.com", "Web Step")
	b := ts.browser(t)
	b.signIn("webstep@example.com", testPassword, "")
	ts.env.Clock.Advance(6 * time.Minute)
	_, _, tok := b.get("/account/security")
	form := url.Values{"csrf_token": {tok}, "current_password": {testPassword}, "new_password": {"another fresh passphrase"}}
	resp := b.post("/account/password", form)
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != "/account/reauth?next=%2Faccount%2Fsecurity" {
		t.Fatalf("stale session changing password: %d → %q", resp.StatusCode, loc)
	}
	_, body, tok := b.get("/account/reauth?next=%2Faccount%2Fsecurity")
	if !strings.Contains(body, `name="next" value="/account/security"`) {
		t.Fatal("reauth page lost the way back")
	}
	before := b.cookie(sessionCookie)
	resp = b.post("/account/reauth", url.Values{"csrf_token": {tok}, "password": {testPassword}, "next": {"//evil.example"}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/account/security" {
		t.Fatalf("reauth: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Re-authentication, like sign-in, gives the session a new token.
	if after := b.cookie(sessionCookie); after == "" || after == before {
		t.Fatal("the session token was not replaced by re-authentication")
	}
	if _, err := ts.accounts.WebSession(t.Context(), before); err == nil {
		t.Error("the token from before re-authentication still works")
	}
	if resp := b.post("/account/password", form); resp.StatusCode != 303 || resp.Header.Get("Location") != "/account/security?done=password" {
		t.Fatalf("after reauth: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// Re-authentication with a code, like with the password, gives the web
// session a new token.
func TestStepUpWithCodeReplacesSessionToken(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "codestep@example.com", "Code Step")
	secret, _ := ts.enrolTOTP(t, tk.AccessToken)
	b := ts.browser(t)
	ts.env.Clock.Advance(31 * time.Second) // the confirmation's code cannot be used again
	b.webMFASignIn("codestep@example.com", secret)
	ts.env.Clock.Advance(6 * time.Minute)
	_, _, tok := b.get("/account/reauth?next=%2Faccount%2Fsecurity")
	before := b.cookie(sessionCookie)
	code, _ := totp.GenerateCode(secret, ts.env.Clock.Now())
	resp := b.post("/account/reauth", url.Values{"csrf_token": {tok}, "code": {code}, "next": {"/account/security"}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/account/security" {
		t.Fatalf("reauth with a code: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if after := b.cookie(sessionCookie); after == "" || after == before {
		t.Fatal("the session token was not replaced by re-authentication with a code")
	}
	if _, err := ts.accounts.WebSession(t.Context(), before); err == nil {
		t.Error("the token from before re-authentication still works")
	}
	if status, _, _ := b.get("/account/security"); status != 200 {
		t.Errorf("security page with the new token: %d", status)
	}
}

// A customer lists sessions and app sign-ins; revoking one makes its
// cookie or token fail at once; another customer's id is not found.
func TestSessionsListAndRevoke(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		phone := ts.signUp(t, "multi@example.com", "Multi")
		tablet := ts.login(t, "multi@example.com", testPassword)
		web := ts.browser(t)
		web.signIn("multi@example.com", testPassword, "")
		var list []account.SessionInfo
		if r := ts.apiCall(t, "GET", "/api/v1/me/sessions", phone.AccessToken, nil, &list); r.StatusCode != 200 {
			t.Fatalf("sessions: %d", r.StatusCode)
		}
		current, webID, tabletID := 0, "", ""
		for _, s := range list {
			if s.Current {
				current++
			} else if s.Kind == "app" {
				tabletID = s.ID
			}
			if s.Kind == "web" {
				webID = s.ID
			}
			if s.DeviceName == "" || !strings.HasPrefix(s.Client, "127.0.0.0/24") {
				t.Errorf("session %s: device %q, client %q", s.ID, s.DeviceName, s.Client)
			}
		}
		if len(list) != 3 || current != 1 || webID == "" || tabletID == "" {
			t.Fatalf("sessions = %+v", list)
		}
		other := ts.signUp(t, "other@example.com", "Other")
		if r := ts.apiCall(t, "DELETE", "/api/v1/me/sessions/"+tabletID, other.AccessToken, nil, nil); r.StatusCode != 404 {
			t.Errorf("another customer revoking: %d, want 404", r.StatusCode)
		}
		if r := ts.apiCall(t, "DELETE", "/api/v1/me/sessions/"+tabletID, phone.AccessToken, nil, nil); r.StatusCode != 204 {
			t.Fatalf("revoke tablet: %d", r.StatusCode)
		}
		if r := ts.apiCall(t, "GET", "/api/v1/me", tablet.AccessToken, nil, nil); r.StatusCode != 401 {
			t.Errorf("revoked app token still works: %d", r.StatusCode)
		}
		if r := ts.apiCall(t, "DELETE", "/api/v1/me/sessions/"+webID, phone.AccessToken, nil, nil); r.StatusCode != 204 {
			t.Fatalf("revoke web: %d", r.StatusCode)
		}
		if code, _, _ := web.get("/account"); code != 303 {
			t.Errorf("revoked web session still works: %d", code)
		}
		// Sign out everywhere else, from a new web session.
		web.signIn("multi@example.com", testPassword, "")
		_, _, tok := web.get("/account/security")
		if resp := web.post("/account/sessions/revoke-others", url.Values{"csrf_token": {tok}, "confirm": {"yes"}}); resp.StatusCode != 303 {
			t.Fatalf("revoke others: %d", resp.StatusCode)
		}
		if r := ts.apiCall(t, "GET", "/api/v1/me", phone.AccessToken, nil, nil); r.StatusCode != 401 {
			t.Errorf("phone token survived 'sign out everywhere else': %d", r.StatusCode)
		}
		if code, _, _ := web.get("/account"); code != 200 {
			t.Errorf("the session that signed out the others was ended too: %d", code)
		}
	})
}

// Every operation docs/contract.md §3 puts behind step-up answers 401
// reauthentication_required to a token whose last password or code check
// is older than 5 minutes — including starting and confirming TOTP
// enrolment, so a stolen session cannot bind the attacker's authenticator.
func TestStepUpGuardsEverySensitiveAPIRoute(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "stale@example.com", "Stale")
	ts.env.Clock.Advance(6 * time.Minute)
	for _, rt := range []struct{ method, path string }{
		{"POST", "/api/v1/me/mfa/totp"},
		{"POST", "/api/v1/me/mfa/totp/confirm"},
		{"DELETE", "/api/v1/me/mfa/totp"},
		{"POST", "/api/v1/me/mfa/recovery-codes"},
		{"POST", "/api/v1/me/password"},
		{"POST", "/api/v1/me/email"},
	} {
		r := ts.apiCall(t, rt.method, rt.path, tk.AccessToken, map[string]string{}, nil)
		if r.StatusCode != 401 || r.problem(t).Type != problemTypeBase+"reauthentication_required" {
			t.Errorf("%s %s with a stale session: %d %s, want 401 reauthentication_required", rt.method, rt.path, r.StatusCode, r.body)
		}
	}
}
