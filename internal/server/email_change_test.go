package server

import (
	"strings"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/testutil"
)

// Changing the e-mail address needs recent authentication, happens only
// when the new address's link is followed, ends every sign-in, and tells
// the old address.
func TestEmailChange(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "old@example.com", "Mover")
		ts.signUp(t, "taken@example.com", "Someone Else")
		ts.env.Clock.Advance(6 * time.Minute)
		if r := ts.apiCall(t, "POST", "/api/v1/me/email", tk.AccessToken, map[string]string{"email": "new@example.com"}, nil); r.StatusCode != 401 {
			t.Fatalf("without step-up: %d, want 401", r.StatusCode)
		}
		ts.apiCall(t, "POST", "/api/v1/auth/reauth", tk.AccessToken, map[string]string{"password": testPassword}, nil)
		taken := ts.apiCall(t, "POST", "/api/v1/me/email", tk.AccessToken, map[string]string{"email": "taken@example.com"}, nil)
		fresh := ts.apiCall(t, "POST", "/api/v1/me/email", tk.AccessToken, map[string]string{"email": "New@Example.com"}, nil)
		if taken.StatusCode != 202 || fresh.StatusCode != 202 || string(taken.body) != string(fresh.body) {
			t.Fatalf("answers: %d %s / %d %s", taken.StatusCode, taken.body, fresh.StatusCode, fresh.body)
		}
		// Nothing changed yet.
		ts.login(t, "old@example.com", testPassword)
		token := ts.env.LinkToken(t, "new@example.com", "/verify-email")
		if r := ts.apiCall(t, "POST", "/api/v1/auth/verify-email", "", map[string]string{"token": token}, nil); r.StatusCode != 204 {
			t.Fatalf("confirm: %d %s", r.StatusCode, r.body)
		}
		if r := ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, nil); r.StatusCode != 401 {
			t.Errorf("sign-in survived the e-mail change: %d", r.StatusCode)
		}
		if r := ts.apiCall(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": "old@example.com", "password": testPassword}, nil); r.StatusCode != 401 {
			t.Errorf("old address still signs in: %d", r.StatusCode)
		}
		now := ts.login(t, "new@example.com", testPassword)
		var m me
		ts.apiCall(t, "GET", "/api/v1/me", now.AccessToken, nil, &m)
		if m.Email != "new@example.com" || !m.EmailVerified {
			t.Errorf("profile after change: %+v", m)
		}
		told := false
		for _, msg := range ts.env.DeliverMail(t) {
			if strings.Contains(msg.To, "old@example.com") && strings.Contains(strings.ToLower(msg.Subject), "email") && !strings.Contains(msg.Body, "token=") {
				told = true
			}
		}
		if !told {
			t.Error("the old address was not told")
		}
		if r := ts.apiCall(t, "POST", "/api/v1/auth/verify-email", "", map[string]string{"token": token}, nil); r.StatusCode != 400 {
			t.Errorf("confirmation link worked twice: %d", r.StatusCode)
		}
	})
}

// Asking for a taken address leaves the same trace in the customer's own
// access log as asking for a free one, so the log does not reveal who is
// registered.
func TestEmailChangeAccessLogDoesNotRevealTakenAddresses(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "asker@example.com", "Asker")
	ts.signUp(t, "registered@example.com", "Registered")
	lastAction := func(email string) string {
		if r := ts.apiCall(t, "POST", "/api/v1/me/email", tk.AccessToken, map[string]string{"email": email}, nil); r.StatusCode != 202 {
			t.Fatalf("ask for %s: %d %s", email, r.StatusCode, r.body)
		}
		var page accessLogPage
		ts.apiCall(t, "GET", "/api/v1/me/access-log?limit=1", tk.AccessToken, nil, &page)
		if len(page.Entries) != 1 {
			t.Fatalf("access log: %+v", page)
		}
		e := page.Entries[0]
		return e.Action + "/" + e.Outcome
	}
	taken, free := lastAction("registered@example.com"), lastAction("unregistered@example.com")
	if taken != free || taken != "account.email_change_requested/success" {
		t.Errorf("access log after a taken address %q, after a free one %q", taken, free)
	}
}

// A password change voids an e-mail change asked for before it: whoever
// asked under the old password cannot complete it with the link.
func TestPasswordChangeVoidsPendingEmailChange(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "owner@example.com", "Owner")
		if r := ts.apiCall(t, "POST", "/api/v1/me/email", tk.AccessToken, map[string]string{"email": "attacker@example.com"}, nil); r.StatusCode != 202 {
			t.Fatalf("ask: %d %s", r.StatusCode, r.body)
		}
		token := ts.env.LinkToken(t, "attacker@example.com", "/verify-email")
		change := map[string]string{"current_password": testPassword, "new_password": "the owner's new passphrase"}
		if r := ts.apiCall(t, "POST", "/api/v1/me/password", tk.AccessToken, change, nil); r.StatusCode != 204 {
			t.Fatalf("password change: %d %s", r.StatusCode, r.body)
		}
		if r := ts.apiCall(t, "POST", "/api/v1/auth/verify-email", "", map[string]string{"token": token}, nil); r.StatusCode != 400 {
			t.Errorf("e-mail change link still worked after the password change: %d %s", r.StatusCode, r.body)
		}
		ts.login(t, "owner@example.com", "the owner's new passphrase")
	})
}
