package server

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/testutil"
)

var (
	pageCeremonyRe = regexp.MustCompile(`name="ceremony" value="([^"]*)"`)
	pageOptionsRe  = regexp.MustCompile(`data-options="([^"]*)"`)
)

// pageCeremony reads the ceremony token and the options from a passkey
// page, as static/passkey.js does.
func pageCeremony(t *testing.T, body string) (string, json.RawMessage) {
	t.Helper()
	c, o := pageCeremonyRe.FindStringSubmatch(body), pageOptionsRe.FindStringSubmatch(body)
	if c == nil || o == nil || c[1] == "" {
		t.Fatalf("no passkey ceremony on the page:\n%s", body)
	}
	return c[1], json.RawMessage(html.UnescapeString(o[1]))
}

// webPasskeySignIn signs a browser in with a passkey alone, through the
// pages.
func (b *browser) webPasskeySignIn(a *testutil.SoftAuthenticator) {
	b.t.Helper()
	_, _, tok := b.get("/login")
	_, page := b.postPage("/login/passkey/start", url.Values{"csrf_token": {tok}})
	ceremony, options := pageCeremony(b.t, page)
	resp := b.post("/login/passkey", url.Values{"csrf_token": {tok}, "ceremony": {ceremony}, "credential": {string(a.Get(b.t, options))}})
	if resp.StatusCode != 303 || b.cookie(sessionCookie) == "" {
		b.t.Fatalf("passkey sign-in on the pages: %d", resp.StatusCode)
	}
}

// The step-up page offers a passkey to a customer who has one: the
// ceremony runs through the passkey page, gives the session a new token
// and lets the stale session through a step-up route; a replayed answer
// is refused and leaves the session stale. A customer without a passkey
// is not offered one.
func TestStepUpWithPasskeyOnThePages(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "pagestep@example.com", "Page Step")
	a := testutil.NewSoftAuthenticator(t, testSiteOrigin, testRPID)
	ts.addPasskey(t, tk.AccessToken, a, "laptop")

	b := ts.browser(t)
	b.webPasskeySignIn(a)
	ts.env.Clock.Advance(6 * time.Minute)
	if resp := b.post("/account/passkeys/start", url.Values{"csrf_token": {csrfOf(b, "/account/security")}}); resp.StatusCode != 303 ||
		!strings.HasPrefix(resp.Header.Get("Location"), "/account/reauth") {
		t.Fatalf("stale session adding a passkey: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	_, body, tok := b.get("/account/reauth?next=%2Faccount%2Fsecurity")
	if !strings.Contains(body, `action="/account/reauth/passkey/start"`) {
		t.Fatal("the step-up page offers no passkey to a customer who has one")
	}
	resp, page := b.postPage("/account/reauth/passkey/start", url.Values{"csrf_token": {tok}, "next": {"/account/security"}})
	if resp.StatusCode != 200 {
		t.Fatalf("passkey step-up start: %d\n%s", resp.StatusCode, page)
	}
	if !strings.Contains(page, `action="/account/reauth/passkey"`) || !strings.Contains(page, `name="next" value="/account/security"`) {
		t.Fatal("the passkey page does not post the answer back to step-up, or lost the way back")
	}
	ceremony, options := pageCeremony(t, page)
	answer := string(a.Get(t, options))
	before := b.cookie(sessionCookie)
	resp = b.post("/account/reauth/passkey", url.Values{"csrf_token": {tok}, "ceremony": {ceremony}, "credential": {answer}, "next": {"//evil.example"}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/account/security" {
		t.Fatalf("passkey step-up: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	after := b.cookie(sessionCookie)
	if after == "" || after == before {
		t.Fatal("the session token was not replaced by step-up with a passkey")
	}
	if _, err := ts.accounts.WebSession(t.Context(), before); err == nil {
		t.Error("the token from before step-up still works")
	}
	if resp, page := b.postPage("/account/passkeys/start", url.Values{"csrf_token": {tok}}); resp.StatusCode != 200 || !strings.Contains(page, `data-passkey="create"`) {
		t.Fatalf("after step-up with a passkey, adding one: %d", resp.StatusCode)
	}

	// The same answer again: refused, and the session is not made recent.
	ts.env.Clock.Advance(6 * time.Minute)
	resp, page = b.postPage("/account/reauth/passkey", url.Values{"csrf_token": {tok}, "ceremony": {ceremony}, "credential": {answer}})
	if resp.StatusCode != 401 || !strings.Contains(page, `action="/account/reauth/passkey/start"`) {
		t.Fatalf("replayed step-up answer: %d", resp.StatusCode)
	}
	if resp := b.post("/account/passkeys/start", url.Values{"csrf_token": {tok}}); resp.StatusCode != 303 {
		t.Fatalf("a replayed answer made the session recent: %d", resp.StatusCode)
	}

	ts.signUp(t, "nokey@example.com", "No Key")
	other := ts.browser(t)
	other.signIn("nokey@example.com", testPassword, "")
	if _, body, _ := other.get("/account/reauth"); strings.Contains(body, "/account/reauth/passkey/start") {
		t.Error("the step-up page offers a passkey to a customer who has none")
	}
}

// csrfOf loads a page and returns its form token.
func csrfOf(b *browser, path string) string {
	b.t.Helper()
	_, _, tok := b.get(path)
	return tok
}

// On the console a member adds a passkey, sees it listed on /passkeys,
// names it, and is refused removing it while it is the last, with a
// message that says why.
func TestStaffPasskeysOnTheConsole(t *testing.T) {
	ts := newTestServer(t)
	m := ts.newStaff(t, "lead.console.keys@example.com", resguardo.RoleLead)
	c := ts.console(t)
	tok := c.signIn(m)
	add := c.post("/passkeys/start", url.Values{"csrf_token": {tok}})
	if add.StatusCode != 200 {
		t.Fatalf("add start: %d", add.StatusCode)
	}
	ceremony, options := pageCeremony(t, add.Body)
	a := testutil.NewSoftAuthenticator(t, testStaffOrigin, testRPID)
	if resp := c.post("/passkeys", url.Values{"csrf_token": {tok}, "ceremony": {ceremony}, "credential": {string(a.Create(t, options))}}); resp.StatusCode != 303 {
		t.Fatalf("add finish: %d %s", resp.StatusCode, resp.Body)
	}
	list := c.get("/passkeys?lang=en")
	ids := regexp.MustCompile(`action="/passkeys/([A-Z2-7]{26})/delete"`).FindAllStringSubmatch(list.Body, -1)
	if list.StatusCode != 200 || len(ids) != 1 || !strings.Contains(list.Body, "Passkey (no name)") {
		t.Fatalf("passkeys page: %d %d listed", list.StatusCode, len(ids))
	}
	id := ids[0][1]
	if resp := c.post("/passkeys/"+id+"/name", url.Values{"csrf_token": {tok}, "name": {"Llave USB"}}); resp.StatusCode != 303 {
		t.Fatalf("rename: %d %s", resp.StatusCode, resp.Body)
	}
	if list := c.get("/passkeys?lang=en&done=renamed"); !strings.Contains(list.Body, "Llave USB") {
		t.Fatal("the new name is not listed")
	}
	refused := c.post("/passkeys/"+id+"/delete?lang=en", url.Values{"csrf_token": {tok}})
	if refused.StatusCode != 409 || !strings.Contains(refused.Body, "add another passkey before removing this one") {
		t.Fatalf("removing the last passkey: %d\n%s", refused.StatusCode, refused.Body)
	}
	if list := c.get("/passkeys"); !strings.Contains(list.Body, "/passkeys/"+id+"/delete") {
		t.Fatal("the last passkey was removed")
	}
}

// The customer's data export lists their passkeys by name with the dates
// they were added and last used, and nothing of the credential itself.
func TestExportListsPasskeys(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "export.keys@example.com", "Export Keys")
	a := testutil.NewSoftAuthenticator(t, testSiteOrigin, testRPID)
	ts.addPasskey(t, tk.AccessToken, a, "Llavero rojo")
	status, signed := ts.passkeySignIn(t, a)
	if status != 200 {
		t.Fatalf("passkey sign-in: %d", status)
	}
	var doc struct {
		Passkeys []map[string]any `json:"passkeys"`
	}
	r := ts.apiCall(t, "GET", "/api/v1/me/export", signed.AccessToken, nil, &doc)
	if r.StatusCode != 200 || len(doc.Passkeys) != 1 {
		t.Fatalf("export: %d %s", r.StatusCode, r.body)
	}
	pk := doc.Passkeys[0]
	if pk["name"] != "Llavero rojo" || pk["created_at"] == nil || pk["last_used_at"] == nil {
		t.Errorf("exported passkey: %v", pk)
	}
	for k := range pk {
		if k != "id" && k != "name" && k != "created_at" && k != "last_used_at" {
			t.Errorf("the export carries the passkey's %q", k)
		}
	}
	credID := base64.RawURLEncoding.EncodeToString(a.CredID)
	if strings.Contains(string(r.body), credID) {
		t.Error("the export carries the credential id")
	}
}

// passkeyBeginFrom begins an anonymous passkey sign-in from ip.
func (ts *testServer) passkeyBeginFrom(t *testing.T, ip string) (response, passkeyCeremony) {
	t.Helper()
	var c passkeyCeremony
	r := ts.do(t, ts.site, "POST", "/api/v1/auth/webauthn/login/begin", strings.NewReader(`{}`), "Content-Type", "application/json", "X-Forwarded-For", ip)
	if r.StatusCode == 200 {
		if err := json.Unmarshal(r.body, &c); err != nil {
			t.Fatal(err)
		}
	}
	return r, c
}

// passkeySignInFrom runs a whole anonymous passkey sign-in with a from ip
// and returns the finishing status.
func (ts *testServer) passkeySignInFrom(t *testing.T, ip string, a *testutil.SoftAuthenticator) int {
	t.Helper()
	r, c := ts.passkeyBeginFrom(t, ip)
	if r.StatusCode != 200 {
		t.Fatalf("begin from %s: %d", ip, r.StatusCode)
	}
	body, _ := json.Marshal(map[string]any{"ceremony": c.Ceremony, "credential": a.Get(t, c.Options)})
	f := ts.do(t, ts.site, "POST", "/api/v1/auth/webauthn/login/finish", strings.NewReader(string(body)), "Content-Type", "application/json", "X-Forwarded-For", ip)
	if f.StatusCode == 429 && f.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	return f.StatusCode
}

// Anonymous passkey sign-in is bounded per client network: challenges
// (each a stored row) after an allowance, and refused passkeys like wrong
// passwords from an unknown device (the network's key, which then slows
// that network's password guesses too). Nothing counts against the
// account: its owner, from another network, still signs in with the
// passkey, and the owner's own successes never count.
func TestPasskeySignInLimitsPerNetwork(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk, withTrustedProxies("127.0.0.0/8"))
		const email = "limits.pk@example.com"
		tk := ts.signUp(t, email, "Limits Passkey")
		owner := testutil.NewSoftAuthenticator(t, testSiteOrigin, testRPID)
		ts.addPasskey(t, tk.AccessToken, owner, "phone")

		// Challenges: 30 per network, then a wait; another network is free.
		for i := range 30 {
			if r, _ := ts.passkeyBeginFrom(t, "198.51.100.7"); r.StatusCode != 200 {
				t.Fatalf("challenge %d: %d", i+1, r.StatusCode)
			}
		}
		if r, _ := ts.passkeyBeginFrom(t, "198.51.100.7"); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("challenge past the allowance: %d, want 429 with Retry-After", r.StatusCode)
		}
		if r, _ := ts.passkeyBeginFrom(t, "203.0.113.9"); r.StatusCode != 200 {
			t.Fatalf("challenge from another network: %d", r.StatusCode)
		}

		// Refused passkeys from one network: 20, then that network waits,
		// for passkeys and passwords alike.
		forged := testutil.NewSoftAuthenticator(t, testSiteOrigin, testRPID)
		forged.Handle = owner.Handle // names the owner; its key is not theirs
		for i := range 20 {
			if st := ts.passkeySignInFrom(t, "198.51.100.50", forged); st != 401 {
				t.Fatalf("forged passkey %d: %d, want 401", i+1, st)
			}
		}
		if st := ts.passkeySignInFrom(t, "198.51.100.50", forged); st != 429 {
			t.Fatalf("forged passkey past the allowance: %d, want 429", st)
		}
		if r := ts.loginAnswer(t, "198.51.100.50", email, testPassword); r.StatusCode != 429 {
			t.Errorf("password from the network of the refused passkeys: %d, want 429", r.StatusCode)
		}

		// The owner is not locked out, and their successes never count.
		for i := range 25 {
			if st := ts.passkeySignInFrom(t, "192.0.2.30", owner); st != 200 {
				t.Fatalf("owner's passkey sign-in %d: %d", i+1, st)
			}
		}
	})
}
