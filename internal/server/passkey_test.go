package server

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/testutil"
)

// The customer site's origin in tests (testutil's account options) and
// the relying party id derived from it.
const (
	testSiteOrigin  = testutil.SiteOrigin
	testStaffOrigin = "http://localhost:8081"
	testRPID        = testutil.SiteRPID
)

type passkeyCeremony struct {
	Ceremony string          `json:"ceremony"`
	Options  json.RawMessage `json:"options"`
}

type passkeyInfo struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

type passkeyAddedBody struct {
	Passkey       passkeyInfo `json:"passkey"`
	RecoveryCodes []string    `json:"recovery_codes"`
}

// addPasskey registers a's credential for the token's customer through the
// API and returns the answer.
func (ts *testServer) addPasskey(t *testing.T, access string, a *testutil.SoftAuthenticator, name string) passkeyAddedBody {
	t.Helper()
	var c passkeyCeremony
	if r := ts.apiCall(t, "POST", "/api/v1/me/webauthn/register/begin", access, nil, &c); r.StatusCode != 200 || c.Ceremony == "" {
		t.Fatalf("register begin: %d %s", r.StatusCode, r.body)
	}
	var out passkeyAddedBody
	body := map[string]any{"ceremony": c.Ceremony, "name": name, "credential": a.Create(t, c.Options)}
	if r := ts.apiCall(t, "POST", "/api/v1/me/webauthn/register/finish", access, body, &out); r.StatusCode != 201 {
		t.Fatalf("register finish: %d %s", r.StatusCode, r.body)
	}
	return out
}

// passkeySignIn signs in with a passkey alone and returns the status (and
// tokens on success).
func (ts *testServer) passkeySignIn(t *testing.T, a *testutil.SoftAuthenticator) (int, tokens) {
	t.Helper()
	var c passkeyCeremony
	if r := ts.apiCall(t, "POST", "/api/v1/auth/webauthn/login/begin", "", nil, &c); r.StatusCode != 200 {
		t.Fatalf("login begin: %d %s", r.StatusCode, r.body)
	}
	var tk tokens
	r := ts.apiCall(t, "POST", "/api/v1/auth/webauthn/login/finish", "", map[string]any{"ceremony": c.Ceremony, "credential": a.Get(t, c.Options), "device_name": "phone"}, &tk)
	return r.StatusCode, tk
}

// The whole set of ceremonies through the JSON API: add a passkey (with
// first recovery codes, other sign-ins ended), sign in with it alone, use
// it as the second factor after the password, step up with it, rename and
// remove it; every step audited in the customer's access log.
func TestPasskeyCeremoniesThroughTheAPI(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "pk@example.com", "Passkey")
		other := ts.login(t, "pk@example.com", testPassword)
		a := testutil.NewSoftAuthenticator(t, testSiteOrigin, testRPID)
		added := ts.addPasskey(t, tk.AccessToken, a, "Laptop")
		if added.Passkey.Name != "Laptop" || len(added.RecoveryCodes) != 10 {
			t.Fatalf("added %+v", added)
		}
		if len(a.Handle) != 32 || strings.Contains(string(a.Handle), "pk@example.com") {
			t.Errorf("user handle %x is not 32 random bytes", a.Handle)
		}
		// Adding a passkey is a change of the second factor: other sign-ins end.
		if r := ts.apiCall(t, "GET", "/api/v1/me", other.AccessToken, nil, nil); r.StatusCode != 401 {
			t.Errorf("other sign-in after adding a passkey: %d, want 401", r.StatusCode)
		}
		var list struct {
			Passkeys []passkeyInfo `json:"passkeys"`
		}
		if r := ts.apiCall(t, "GET", "/api/v1/me/webauthn/credentials", tk.AccessToken, nil, &list); r.StatusCode != 200 || len(list.Passkeys) != 1 || list.Passkeys[0].Name != "Laptop" || list.Passkeys[0].LastUsedAt != nil {
			t.Fatalf("list: %d %s", r.StatusCode, r.body)
		}

		// Signing in with the passkey alone.
		status, pkTokens := ts.passkeySignIn(t, a)
		if status != 200 || pkTokens.AccessToken == "" {
			t.Fatalf("passkey sign-in: %d", status)
		}

		// The password alone no longer signs in: the passkey is a second factor.
		mfaToken := ts.passwordStep(t, "pk@example.com")
		var c passkeyCeremony
		if r := ts.apiCall(t, "POST", "/api/v1/auth/webauthn/mfa/begin", "", map[string]string{"mfa_token": mfaToken}, &c); r.StatusCode != 200 {
			t.Fatalf("mfa begin: %d %s", r.StatusCode, r.body)
		}
		var second tokens
		if r := ts.apiCall(t, "POST", "/api/v1/auth/webauthn/mfa/finish", "", map[string]any{"mfa_token": mfaToken, "ceremony": c.Ceremony, "credential": a.Get(t, c.Options)}, &second); r.StatusCode != 200 || second.AccessToken == "" {
			t.Fatalf("mfa finish: %d %s", r.StatusCode, r.body)
		}
		// The sign-in's challenge was consumed with it.
		if r := ts.apiCall(t, "POST", "/api/v1/auth/webauthn/mfa/begin", "", map[string]string{"mfa_token": mfaToken}, nil); r.StatusCode != 401 {
			t.Errorf("mfa begin with a used sign-in challenge: %d, want 401", r.StatusCode)
		}
		// Recovery codes keep working in place of the passkey.
		if got := ts.signInWithCode(t, "pk@example.com", added.RecoveryCodes[0]); got != 200 {
			t.Errorf("recovery code instead of the passkey: %d, want 200", got)
		}

		// Step-up with the passkey, after the 5 minutes have passed.
		ts.env.Clock.Advance(6 * time.Minute)
		if r := ts.apiCall(t, "PATCH", "/api/v1/me/webauthn/credentials/"+added.Passkey.ID, second.AccessToken, map[string]string{"name": "Work laptop"}, nil); r.StatusCode != 401 {
			t.Fatalf("rename without step-up: %d, want 401", r.StatusCode)
		}
		if r := ts.apiCall(t, "POST", "/api/v1/me/webauthn/reauth/begin", second.AccessToken, nil, &c); r.StatusCode != 200 {
			t.Fatalf("reauth begin: %d %s", r.StatusCode, r.body)
		}
		if r := ts.apiCall(t, "POST", "/api/v1/me/webauthn/reauth/finish", second.AccessToken, map[string]any{"ceremony": c.Ceremony, "credential": a.Get(t, c.Options)}, nil); r.StatusCode != 204 {
			t.Fatalf("reauth finish: %d %s", r.StatusCode, r.body)
		}
		if r := ts.apiCall(t, "PATCH", "/api/v1/me/webauthn/credentials/"+added.Passkey.ID, second.AccessToken, map[string]string{"name": "Work laptop"}, nil); r.StatusCode != 204 {
			t.Fatalf("rename: %d %s", r.StatusCode, r.body)
		}
		if r := ts.apiCall(t, "PATCH", "/api/v1/me/webauthn/credentials/"+added.Passkey.ID, second.AccessToken, map[string]string{"name": "<a href=x>"}, nil); r.StatusCode != 400 {
			t.Errorf("rename to markup: %d, want 400", r.StatusCode)
		}
		ts.apiCall(t, "GET", "/api/v1/me/webauthn/credentials", second.AccessToken, nil, &list)
		if len(list.Passkeys) != 1 || list.Passkeys[0].Name != "Work laptop" || list.Passkeys[0].LastUsedAt == nil {
			t.Fatalf("after rename: %+v", list.Passkeys)
		}
		// Another customer cannot touch it.
		eve := ts.signUp(t, "eve@example.com", "Eve")
		if r := ts.apiCall(t, "DELETE", "/api/v1/me/webauthn/credentials/"+added.Passkey.ID, eve.AccessToken, nil, nil); r.StatusCode != 404 {
			t.Errorf("another customer's passkey: %d, want 404", r.StatusCode)
		}
		if r := ts.apiCall(t, "DELETE", "/api/v1/me/webauthn/credentials/"+added.Passkey.ID, second.AccessToken, nil, nil); r.StatusCode != 204 {
			t.Fatalf("remove: %d %s", r.StatusCode, r.body)
		}
		if status, _ := ts.passkeySignIn(t, a); status != 401 {
			t.Errorf("sign-in with a removed passkey: %d, want 401", status)
		}
		// With no second factor left, the password alone signs in again.
		ts.login(t, "pk@example.com", testPassword)

		acts := ts.accessLogActions(t, second.AccessToken)
		for _, want := range []string{"mfa.passkey_added", "mfa.passkey_used", "mfa.passkey_renamed", "mfa.passkey_removed", "session.reauthenticated", "mfa.passkey_failed"} {
			if !slices.Contains(acts, want) {
				t.Errorf("access log lacks %s: %v", want, acts)
			}
		}
	})
}

// A ceremony's challenge serves once: the same answer sent again is
// refused, and so is an answer to an old challenge sent with a new
// ceremony. The authenticator keeps no counter (as many platform passkeys
// do), so nothing but the challenge's single use stops the replay:
// removing it (TakePasskeyChallenge's used_at condition) fails this test.
func TestPasskeyChallengeIsSingleUse(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "once@example.com", "Once")
	a := testutil.NewSoftAuthenticator(t, testSiteOrigin, testRPID)
	a.NoCounter = true
	ts.addPasskey(t, tk.AccessToken, a, "")
	var c passkeyCeremony
	ts.apiCall(t, "POST", "/api/v1/auth/webauthn/login/begin", "", nil, &c)
	cred := a.Get(t, c.Options)
	body := map[string]any{"ceremony": c.Ceremony, "credential": cred}
	if r := ts.apiCall(t, "POST", "/api/v1/auth/webauthn/login/finish", "", body, nil); r.StatusCode != 200 {
		t.Fatalf("first use: %d %s", r.StatusCode, r.body)
	}
	if r := ts.apiCall(t, "POST", "/api/v1/auth/webauthn/login/finish", "", body, nil); r.StatusCode != 401 {
		t.Errorf("replayed assertion: %d, want 401", r.StatusCode)
	}
	var fresh passkeyCeremony
	ts.apiCall(t, "POST", "/api/v1/auth/webauthn/login/begin", "", nil, &fresh)
	if r := ts.apiCall(t, "POST", "/api/v1/auth/webauthn/login/finish", "", map[string]any{"ceremony": fresh.Ceremony, "credential": cred}, nil); r.StatusCode != 401 {
		t.Errorf("old assertion with a new ceremony: %d, want 401", r.StatusCode)
	}
	// A challenge expires with the ceremony's timeout.
	ts.apiCall(t, "POST", "/api/v1/auth/webauthn/login/begin", "", nil, &c)
	ts.env.Clock.Advance(6 * time.Minute)
	if r := ts.apiCall(t, "POST", "/api/v1/auth/webauthn/login/finish", "", map[string]any{"ceremony": c.Ceremony, "credential": a.Get(t, c.Options)}, nil); r.StatusCode != 401 {
		t.Errorf("expired challenge: %d, want 401", r.StatusCode)
	}
}

// A registration ceremony is bound to the sign-in that began it: another
// sign-in of the same customer cannot finish it.
func TestPasskeyCeremonyIsBoundToItsSession(t *testing.T) {
	ts := newTestServer(t)
	one := ts.signUp(t, "bound@example.com", "Bound")
	two := ts.login(t, "bound@example.com", testPassword)
	a := testutil.NewSoftAuthenticator(t, testSiteOrigin, testRPID)
	var c passkeyCeremony
	ts.apiCall(t, "POST", "/api/v1/me/webauthn/register/begin", one.AccessToken, nil, &c)
	body := map[string]any{"ceremony": c.Ceremony, "credential": a.Create(t, c.Options)}
	if r := ts.apiCall(t, "POST", "/api/v1/me/webauthn/register/finish", two.AccessToken, body, nil); r.StatusCode != 401 {
		t.Errorf("finished by another sign-in: %d, want 401", r.StatusCode)
	}
}

// A passkey answers for the origin it runs on: an assertion made on the
// staff console's origin, or on a look-alike site, or for another RP id,
// is refused on the customer site. Letting the relying party accept any
// origin fails this test.
func TestPasskeyOriginIsChecked(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "origin@example.com", "Origin")
	a := testutil.NewSoftAuthenticator(t, testSiteOrigin, testRPID)
	ts.addPasskey(t, tk.AccessToken, a, "")
	for _, tc := range []struct{ name, origin, rpID string }{
		{"staff console origin", testStaffOrigin, testRPID},
		{"phishing origin", "https://cuenta-example.com", testRPID},
		{"other relying party id", testSiteOrigin, "cuenta-example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.Origin, a.RPID = tc.origin, tc.rpID
			if status, _ := ts.passkeySignIn(t, a); status != 401 {
				t.Errorf("sign-in: %d, want 401", status)
			}
		})
	}
	a.Origin, a.RPID = testSiteOrigin, testRPID
	if status, _ := ts.passkeySignIn(t, a); status != 200 {
		t.Errorf("sign-in from the right origin: %d, want 200", status)
	}
	// Registration is checked the same way.
	b := testutil.NewSoftAuthenticator(t, testStaffOrigin, testRPID)
	var c passkeyCeremony
	ts.apiCall(t, "POST", "/api/v1/me/webauthn/register/begin", tk.AccessToken, nil, &c)
	if r := ts.apiCall(t, "POST", "/api/v1/me/webauthn/register/finish", tk.AccessToken, map[string]any{"ceremony": c.Ceremony, "credential": b.Create(t, c.Options)}, nil); r.StatusCode != 401 {
		t.Errorf("registration from the staff origin: %d, want 401", r.StatusCode)
	}
}

// A signature counter that does not advance means a copy of the key may
// be in use: the sign-in is refused and the suspicion is in the owner's
// access log. Removing the counter check fails this test.
func TestPasskeyCounterRegressionIsRefusedAndAudited(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "clone@example.com", "Clone")
		a := testutil.NewSoftAuthenticator(t, testSiteOrigin, testRPID)
		ts.addPasskey(t, tk.AccessToken, a, "")
		a.Count = 7
		if status, _ := ts.passkeySignIn(t, a); status != 200 {
			t.Fatalf("sign-in: %d", status)
		}
		a.Count = 7 // a clone still at the same count
		if status, _ := ts.passkeySignIn(t, a); status != 401 {
			t.Errorf("counter not advanced: %d, want 401", status)
		}
		a.Count = 3
		if status, _ := ts.passkeySignIn(t, a); status != 401 {
			t.Errorf("counter went back: %d, want 401", status)
		}
		a.Count = 8
		status, fresh := ts.passkeySignIn(t, a)
		if status != 200 {
			t.Fatalf("sign-in with the counter advanced: %d", status)
		}
		if acts := ts.accessLogActions(t, fresh.AccessToken); !slices.Contains(acts, "mfa.passkey_clone_suspected") {
			t.Errorf("access log lacks the clone suspicion: %v", acts)
		}
	})
}

// A lead's second-factor reset (support, after checking identity) removes
// a customer's passkeys as well as TOTP: the password alone signs in
// again, and the passkey no longer does.
func TestSecondFactorResetRemovesPasskeys(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "reset.pk@example.com", "Reset")
	a := testutil.NewSoftAuthenticator(t, testSiteOrigin, testRPID)
	ts.addPasskey(t, tk.AccessToken, a, "")
	var m me
	if r := ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, &m); r.StatusCode != 200 {
		t.Fatalf("me: %d", r.StatusCode)
	}
	if err := ts.env.Accounts.ResetSecondFactor(t.Context(), resguardo.StaffActor("LEADTEST", resguardo.RoleLead), m.ID, "en"); err != nil {
		t.Fatal(err)
	}
	ts.login(t, "reset.pk@example.com", testPassword)
	if status, _ := ts.passkeySignIn(t, a); status != 401 {
		t.Errorf("passkey after a reset: %d, want 401", status)
	}
}

// Recovery codes stand in for a second factor, and a passkey is one: a
// customer with a passkey and no TOTP can renew them, and a customer with
// neither cannot.
func TestPasskeyOnlyCustomerRenewsRecoveryCodes(t *testing.T) {
	ts := newTestServer(t)
	none := ts.signUp(t, "no.factor@example.com", "No Factor")
	if r := ts.apiCall(t, "POST", "/api/v1/me/mfa/recovery-codes", none.AccessToken, nil, nil); r.StatusCode != 409 {
		t.Errorf("renewal without a second factor: %d, want 409", r.StatusCode)
	}
	tk := ts.signUp(t, "passkey.only@example.com", "Passkey Only")
	ts.addPasskey(t, tk.AccessToken, testutil.NewSoftAuthenticator(t, testSiteOrigin, testRPID), "")
	var out struct {
		Codes []string `json:"recovery_codes"`
	}
	if r := ts.apiCall(t, "POST", "/api/v1/me/mfa/recovery-codes", tk.AccessToken, nil, &out); r.StatusCode != 200 || len(out.Codes) != 10 {
		t.Errorf("renewal with a passkey only: %d, %d codes, want 200 and 10: %s", r.StatusCode, len(out.Codes), r.body)
	}
}
