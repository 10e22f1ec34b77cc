package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/testutil"
)

const testPassword = "correct horse battery staple"

// apiCall sends a JSON request to the customer API, with a bearer token if
// given, and decodes the answer into out (if not nil).
func (ts *testServer) apiCall(t *testing.T, method, path, token string, body any, out any) response {
	t.Helper()
	var rd io.Reader
	hdr := []string{}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
		hdr = append(hdr, "Content-Type", "application/json")
	}
	if token != "" {
		hdr = append(hdr, "Authorization", "Bearer "+token)
	}
	resp := ts.do(t, ts.site, method, path, rd, hdr...)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(resp.body, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, resp.body, err)
		}
	}
	return resp
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// signUp registers a customer through the API and returns app tokens.
func (ts *testServer) signUp(t *testing.T, email, name string) tokens {
	t.Helper()
	resp := ts.apiCall(t, "POST", "/api/v1/auth/register", "", map[string]string{"email": email, "password": testPassword, "name": name}, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("register %s: %d %s", email, resp.StatusCode, resp.body)
	}
	return ts.login(t, email, testPassword)
}

func (ts *testServer) login(t *testing.T, email, password string) tokens {
	t.Helper()
	var tk tokens
	resp := ts.apiCall(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password, "device_name": "test phone"}, &tk)
	if resp.StatusCode != 200 || tk.AccessToken == "" || tk.TokenType != "Bearer" || tk.ExpiresIn != 900 {
		t.Fatalf("login %s: %d %s", email, resp.StatusCode, resp.body)
	}
	return tk
}

// TestCustomerJourneyAPI: register, verify the address from the mailed
// link, sign in, add two phones and an address, read them back, sign out.
func TestCustomerJourneyAPI(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "Maria.Garcia@Example.com", "María García")
		token := ts.env.LinkToken(t, "maria.garcia@example.com", "/verify-email")
		if resp := ts.apiCall(t, "POST", "/api/v1/auth/verify-email", "", map[string]string{"token": token}, nil); resp.StatusCode != 204 {
			t.Fatalf("verify: %d %s", resp.StatusCode, resp.body)
		}
		if resp := ts.apiCall(t, "POST", "/api/v1/auth/verify-email", "", map[string]string{"token": token}, nil); resp.StatusCode != 400 {
			t.Errorf("verification link worked twice: %d", resp.StatusCode)
		}
		for _, p := range []map[string]string{{"label": "móvil", "number": "+34 612 345 678"}, {"number": "+1 (415) 555-2671"}} {
			if resp := ts.apiCall(t, "POST", "/api/v1/me/phones", tk.AccessToken, p, nil); resp.StatusCode != 201 {
				t.Fatalf("add phone: %d %s", resp.StatusCode, resp.body)
			}
		}
		addr := map[string]string{"label": "casa", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "es"}
		if resp := ts.apiCall(t, "POST", "/api/v1/me/addresses", tk.AccessToken, addr, nil); resp.StatusCode != 201 {
			t.Fatalf("add address: %d %s", resp.StatusCode, resp.body)
		}
		var me me
		if resp := ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, &me); resp.StatusCode != 200 {
			t.Fatalf("me: %d %s", resp.StatusCode, resp.body)
		}
		numbers := map[string]string{}
		for _, p := range me.Phones {
			numbers[p.Number] = p.Label
		}
		if me.Email != "maria.garcia@example.com" || !me.EmailVerified || me.Name != "María García" || len(me.Phones) != 2 ||
			numbers["+34612345678"] != "móvil" || numbers["+14155552671"] != "" || len(me.Addresses) != 1 || me.Addresses[0].Country != "ES" {
			t.Errorf("profile = %+v", me)
		}
		if resp := ts.apiCall(t, "POST", "/api/v1/auth/logout", tk.AccessToken, nil, nil); resp.StatusCode != 204 {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		if resp := ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, nil); resp.StatusCode != 401 {
			t.Errorf("access token works after logout: %d", resp.StatusCode)
		}
		if resp := ts.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}, nil); resp.StatusCode != 401 {
			t.Errorf("refresh token works after logout: %d", resp.StatusCode)
		}
	})
}

// Registration answers the same whether or not the address is taken; the
// owner is told by mail instead.
func TestRegisterDoesNotRevealTakenAddress(t *testing.T) {
	ts := newTestServer(t)
	body := map[string]string{"email": "owner@example.com", "password": testPassword, "name": "Owner"}
	first := ts.apiCall(t, "POST", "/api/v1/auth/register", "", body, nil)
	body["password"], body["name"] = "another long passphrase here", "Intruder"
	second := ts.apiCall(t, "POST", "/api/v1/auth/register", "", body, nil)
	if first.StatusCode != 202 || second.StatusCode != 202 || !bytes.Equal(first.body, second.body) {
		t.Fatalf("answers differ: %d %s / %d %s", first.StatusCode, first.body, second.StatusCode, second.body)
	}
	msgs := ts.env.DeliverMail(t)
	told := 0
	for _, m := range msgs {
		if strings.Contains(m.Body, "/login") && !strings.Contains(m.Body, "token=") {
			told++
		}
	}
	if len(msgs) != 2 || told != 1 {
		t.Errorf("owner not told of the second attempt exactly once: %+v", msgs)
	}
	ts.login(t, "owner@example.com", testPassword) // the first password still holds
}

// Unknown address and wrong password get the same answer (status, body
// shape, message).
func TestLoginSameAnswerForUnknownEmailAndWrongPassword(t *testing.T) {
	ts := newTestServer(t)
	ts.signUp(t, "known@example.com", "Known")
	unknown := ts.apiCall(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": "nobody@example.com", "password": testPassword}, nil)
	wrong := ts.apiCall(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": "known@example.com", "password": "not the password at all"}, nil)
	if unknown.StatusCode != 401 || wrong.StatusCode != 401 {
		t.Fatalf("statuses %d / %d", unknown.StatusCode, wrong.StatusCode)
	}
	pu, pw := unknown.problem(t), wrong.problem(t)
	pu.RequestID, pw.RequestID = "", ""
	if pu.Detail != pw.Detail || pu.Type != pw.Type || pu.Title != pw.Title {
		t.Errorf("answers differ: %+v / %+v", pu, pw)
	}
}

func TestCommonPasswordRefused(t *testing.T) {
	ts := newTestServer(t)
	for _, pw := range []string{"password1234", "123456789012", "qwerty123456", "Password1234", "short"} {
		resp := ts.apiCall(t, "POST", "/api/v1/auth/register", "", map[string]string{"email": "c@example.com", "password": pw, "name": "C"}, nil)
		if resp.StatusCode != 400 || !strings.Contains(string(resp.body), `"field":"password"`) {
			t.Errorf("password %q: %d %s", pw, resp.StatusCode, resp.body)
		}
		if strings.Contains(string(resp.body), pw) {
			t.Errorf("problem echoes the password %q", pw)
		}
	}
	if msgs := ts.env.DeliverMail(t); len(msgs) != 0 {
		t.Errorf("a refused registration sent mail: %+v", msgs)
	}
}

// Repeated failures are throttled with 429 and Retry-After; the wait ends,
// so the owner is never locked out for good.
func TestLoginThrottling(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		ts.signUp(t, "victim@example.com", "Victim")
		bad := map[string]string{"email": "victim@example.com", "password": "guess guess guess"}
		var last response
		for range 6 {
			last = ts.apiCall(t, "POST", "/api/v1/auth/login", "", bad, nil)
		}
		if last.StatusCode != 429 || last.Header.Get("Retry-After") == "" {
			t.Fatalf("after 6 failures: %d Retry-After %q", last.StatusCode, last.Header.Get("Retry-After"))
		}
		last.problem(t)
		// Even the right password waits while the account is in its wait.
		good := map[string]string{"email": "victim@example.com", "password": testPassword}
		if resp := ts.apiCall(t, "POST", "/api/v1/auth/login", "", good, nil); resp.StatusCode != 429 {
			t.Errorf("right password during the wait: %d, want 429", resp.StatusCode)
		}
		// Unknown addresses are throttled alike: no enumeration by 429.
		ghost := map[string]string{"email": "ghost@example.com", "password": "guess guess guess"}
		for range 6 {
			last = ts.apiCall(t, "POST", "/api/v1/auth/login", "", ghost, nil)
		}
		if last.StatusCode != 429 {
			t.Errorf("unknown address not throttled alike: %d", last.StatusCode)
		}
		ts.env.Clock.Advance(16 * time.Minute) // past the longest wait
		ts.login(t, "victim@example.com", testPassword)
	})
}

// A refresh token works once; presenting it again revokes the whole family,
// including the tokens the first use produced.
func TestRefreshTokenReuseRevokesFamily(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "app@example.com", "App User")
		other := ts.login(t, "app@example.com", testPassword) // a second device, another family
		var next tokens
		if resp := ts.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}, &next); resp.StatusCode != 200 {
			t.Fatalf("first refresh: %d %s", resp.StatusCode, resp.body)
		}
		if next.AccessToken == tk.AccessToken || next.RefreshToken == tk.RefreshToken {
			t.Fatal("refresh did not rotate the tokens")
		}
		if resp := ts.apiCall(t, "GET", "/api/v1/me", next.AccessToken, nil, nil); resp.StatusCode != 200 {
			t.Fatalf("new access token: %d", resp.StatusCode)
		}
		// The stolen, already-used refresh token is presented again.
		if resp := ts.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}, nil); resp.StatusCode != 401 {
			t.Fatalf("replayed refresh token: %d, want 401", resp.StatusCode)
		}
		for name, tok := range map[string]string{"new access": next.AccessToken, "old access": tk.AccessToken} {
			if resp := ts.apiCall(t, "GET", "/api/v1/me", tok, nil, nil); resp.StatusCode != 401 {
				t.Errorf("%s token works after the family was revoked: %d", name, resp.StatusCode)
			}
		}
		if resp := ts.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": next.RefreshToken}, nil); resp.StatusCode != 401 {
			t.Errorf("new refresh token works after the family was revoked: %d", resp.StatusCode)
		}
		if resp := ts.apiCall(t, "GET", "/api/v1/me", other.AccessToken, nil, nil); resp.StatusCode != 200 {
			t.Errorf("another device's sign-in was revoked too: %d", resp.StatusCode)
		}
	})
}

func TestAccessTokenExpires(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "exp@example.com", "Exp")
	ts.env.Clock.Advance(15*time.Minute + time.Second)
	if resp := ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, nil); resp.StatusCode != 401 {
		t.Errorf("access token after 15 minutes: %d", resp.StatusCode)
	}
	if resp := ts.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}, nil); resp.StatusCode != 200 {
		t.Errorf("refresh after access expiry: %d", resp.StatusCode)
	}
}

// Customer B cannot read, change or delete customer A's phone or address
// by id: each answers not found, and A's data is unchanged.
func TestObjectAccessIsScopedToTheCustomer(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		a := ts.signUp(t, "a@example.com", "Alice")
		bob := ts.signUp(t, "b@example.com", "Bob")
		var ph struct{ ID string }
		ts.apiCall(t, "POST", "/api/v1/me/phones", a.AccessToken, map[string]string{"number": "+34612345678"}, &ph)
		var ad struct{ ID string }
		ts.apiCall(t, "POST", "/api/v1/me/addresses", a.AccessToken, map[string]string{"line1": "Calle 1", "city": "Madrid", "country": "ES"}, &ad)
		if ph.ID == "" || ad.ID == "" {
			t.Fatal("setup failed")
		}
		attempts := []struct {
			method, path string
			body         any
		}{
			{"DELETE", "/api/v1/me/phones/" + ph.ID, nil},
			{"PUT", "/api/v1/me/addresses/" + ad.ID, map[string]string{"line1": "Hacked 2", "city": "Evil", "country": "US"}},
			{"DELETE", "/api/v1/me/addresses/" + ad.ID, nil},
		}
		for _, at := range attempts {
			if resp := ts.apiCall(t, at.method, at.path, bob.AccessToken, at.body, nil); resp.StatusCode != 404 {
				t.Errorf("Bob %s %s: %d, want 404", at.method, at.path, resp.StatusCode)
			}
		}
		var bobMe, aliceMe me
		ts.apiCall(t, "GET", "/api/v1/me", bob.AccessToken, nil, &bobMe)
		if len(bobMe.Phones) != 0 || len(bobMe.Addresses) != 0 || bobMe.Name != "Bob" {
			t.Errorf("Bob sees %+v", bobMe)
		}
		ts.apiCall(t, "GET", "/api/v1/me", a.AccessToken, nil, &aliceMe)
		if len(aliceMe.Phones) != 1 || len(aliceMe.Addresses) != 1 || aliceMe.Addresses[0].City != "Madrid" {
			t.Errorf("Alice's data changed: %+v", aliceMe)
		}
	})
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t      *testing.T
	ts     *testServer
	client *http.Client
	base   *url.URL
}

func (ts *testServer) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(ts.site.URL)
	return &browser{t: t, ts: ts, base: u, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// get loads a page and returns its body and the form token in it.
func (b *browser) get(path string) (int, string, string) {
	b.t.Helper()
	resp, err := b.client.Get(b.ts.site.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	tok := ""
	if m := csrfRe.FindSubmatch(body); m != nil {
		tok = string(m[1])
	}
	return resp.StatusCode, string(body), tok
}

// post submits a form, with extra headers (e.g. Sec-Fetch-Site).
func (b *browser) post(path string, form url.Values, header ...string) *http.Response {
	b.t.Helper()
	resp, _ := b.postPage(path, form, header...)
	return resp
}

// postPage submits a form and returns the page it answered with.
func (b *browser) postPage(path string, form url.Values, header ...string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.ts.site.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, string(body)
}

func (b *browser) cookie(name string) string {
	for _, c := range b.client.Jar.Cookies(b.base) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// signIn posts the sign-in form and returns the response.
func (b *browser) signIn(email, password, next string) *http.Response {
	b.t.Helper()
	_, _, tok := b.get("/login")
	return b.post("/login", url.Values{"csrf_token": {tok}, "email": {email}, "password": {password}, "next": {next}})
}

func TestWebSignInRotatesSessionAndHonoursOnlyLocalNext(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		ts.signUp(t, "web@example.com", "Web User")
		b := ts.browser(t)
		// A session id planted before sign-in (fixation) is never kept.
		b.client.Jar.SetCookies(b.base, []*http.Cookie{{Name: sessionCookie, Value: "planted-by-attacker", Path: "/"}})
		resp := b.signIn("web@example.com", testPassword, "//evil.example/x")
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/account" {
			t.Fatalf("sign-in with next=//evil.example: %d → %q, want 303 → /account", resp.StatusCode, resp.Header.Get("Location"))
		}
		first := b.cookie(sessionCookie)
		if first == "" || first == "planted-by-attacker" {
			t.Fatalf("session cookie after sign-in = %q", first)
		}
		if code, body, _ := b.get("/account"); code != 200 || !strings.Contains(body, "Web User") {
			t.Fatalf("account page: %d", code)
		}
		// Signing in again replaces the token; the old one stops working.
		if resp := b.signIn("web@example.com", testPassword, "/account/security"); resp.Header.Get("Location") != "/account/security" {
			t.Errorf("local next not honoured: %q", resp.Header.Get("Location"))
		}
		second := b.cookie(sessionCookie)
		if second == first {
			t.Fatal("session cookie unchanged by a new sign-in")
		}
		old := ts.browser(t)
		old.client.Jar.SetCookies(old.base, []*http.Cookie{{Name: sessionCookie, Value: first, Path: "/"}})
		if code, _, _ := old.get("/account"); code != 303 {
			t.Errorf("old session token still works: %d", code)
		}
	})
}

// A cross-site POST carrying a valid session cookie is refused and changes
// nothing; so is a same-site POST without the form token.
func TestCrossSiteFormPostWithSessionCookieIsRejected(t *testing.T) {
	ts := newTestServer(t)
	ts.signUp(t, "csrf@example.com", "Original Name")
	b := ts.browser(t)
	if resp := b.signIn("csrf@example.com", testPassword, ""); resp.StatusCode != 303 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	_, _, tok := b.get("/account")
	tests := []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"cross-site with the right token", url.Values{"csrf_token": {tok}, "name": {"Hacked"}}, []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}},
		{"foreign Origin", url.Values{"csrf_token": {tok}, "name": {"Hacked"}}, []string{"Origin", "https://evil.example"}},
		{"same-origin without token", url.Values{"name": {"Hacked"}}, []string{"Sec-Fetch-Site", "same-origin"}},
		{"same-origin with a wrong token", url.Values{"csrf_token": {"x" + tok}, "name": {"Hacked"}}, []string{"Sec-Fetch-Site", "same-origin"}},
	}
	for _, tt := range tests {
		if resp := b.post("/account/name", tt.form, tt.header...); resp.StatusCode != 403 {
			t.Errorf("%s: %d, want 403", tt.name, resp.StatusCode)
		}
	}
	if _, body, _ := b.get("/account"); strings.Contains(body, "Hacked") || !strings.Contains(body, "Original Name") {
		t.Error("a refused POST changed the name")
	}
	if resp := b.post("/account/name", url.Values{"csrf_token": {tok}, "name": {"New Name"}}, "Sec-Fetch-Site", "same-origin"); resp.StatusCode != 303 {
		t.Errorf("legitimate POST: %d", resp.StatusCode)
	}
	// The sign-in form is protected too: no token, no sign-in.
	fresh := ts.browser(t)
	if resp := fresh.post("/login", url.Values{"email": {"csrf@example.com"}, "password": {testPassword}}); resp.StatusCode != 403 {
		t.Errorf("sign-in form without token: %d, want 403", resp.StatusCode)
	}
}

// Cookies and API are separate: a session cookie opens no API route.
func TestAPIIgnoresSessionCookies(t *testing.T) {
	ts := newTestServer(t)
	ts.signUp(t, "sep@example.com", "Sep")
	b := ts.browser(t)
	b.signIn("sep@example.com", testPassword, "")
	resp, err := b.client.Get(ts.site.URL + "/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("GET /api/v1/me with only a session cookie: %d, want 401", resp.StatusCode)
	}
}

func TestWebSessionTimeouts(t *testing.T) {
	ts := newTestServer(t)
	ts.signUp(t, "idle@example.com", "Idle")
	b := ts.browser(t)
	b.signIn("idle@example.com", testPassword, "")
	ts.env.Clock.Advance(29 * time.Minute)
	if code, _, _ := b.get("/account"); code != 200 {
		t.Fatalf("after 29 idle minutes: %d", code)
	}
	ts.env.Clock.Advance(31 * time.Minute)
	if code, _, _ := b.get("/account"); code != 303 {
		t.Errorf("after 31 idle minutes: %d, want 303 to sign in", code)
	}
	// Absolute limit: active every 20 minutes, still out after 12 hours.
	b.signIn("idle@example.com", testPassword, "")
	for range 35 {
		ts.env.Clock.Advance(20 * time.Minute)
		if code, _, _ := b.get("/account"); code != 200 {
			t.Fatalf("active session ended early: %d", code)
		}
	}
	ts.env.Clock.Advance(21 * time.Minute) // 12h01m since sign-in
	if code, _, _ := b.get("/account"); code != 303 {
		t.Errorf("after 12 hours: %d, want 303", code)
	}
}

func TestPasswordChangeRevokesOtherSessionsAndTokens(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		app := ts.signUp(t, "pw@example.com", "Pw")
		other := ts.browser(t)
		other.signIn("pw@example.com", testPassword, "")
		me := ts.browser(t)
		me.signIn("pw@example.com", testPassword, "")
		before := me.cookie(sessionCookie)
		_, _, tok := me.get("/account/security")
		resp := me.post("/account/password", url.Values{"csrf_token": {tok}, "current_password": {testPassword}, "new_password": {"a brand new passphrase 2026"}})
		if resp.StatusCode != 303 {
			t.Fatalf("change password: %d", resp.StatusCode)
		}
		if after := me.cookie(sessionCookie); after == before || after == "" {
			t.Error("the changing session kept its token")
		}
		if code, _, _ := me.get("/account"); code != 200 {
			t.Errorf("own session after change: %d", code)
		}
		if code, _, _ := other.get("/account"); code != 303 {
			t.Errorf("other web session survived: %d", code)
		}
		if r := ts.apiCall(t, "GET", "/api/v1/me", app.AccessToken, nil, nil); r.StatusCode != 401 {
			t.Errorf("app token survived: %d", r.StatusCode)
		}
		ts.login(t, "pw@example.com", "a brand new passphrase 2026")
	})
}

func TestPasswordResetByMail(t *testing.T) {
	ts := newTestServer(t)
	app := ts.signUp(t, "reset@example.com", "Reset")
	for _, email := range []string{"reset@example.com", "nobody@example.com"} {
		resp := ts.apiCall(t, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": email}, nil)
		if resp.StatusCode != 202 {
			t.Fatalf("forgot %s: %d", email, resp.StatusCode)
		}
	}
	token := ts.env.LinkToken(t, "reset@example.com", "/password/reset")
	newPw := "reset passphrase that is long"
	if r := ts.apiCall(t, "POST", "/api/v1/auth/password/reset", "", map[string]string{"token": token, "password": newPw}, nil); r.StatusCode != 204 {
		t.Fatalf("reset: %d %s", r.StatusCode, r.body)
	}
	if r := ts.apiCall(t, "POST", "/api/v1/auth/password/reset", "", map[string]string{"token": token, "password": "yet another long passphrase"}, nil); r.StatusCode != 400 {
		t.Errorf("reset link worked twice: %d", r.StatusCode)
	}
	if r := ts.apiCall(t, "GET", "/api/v1/me", app.AccessToken, nil, nil); r.StatusCode != 401 {
		t.Errorf("old app sign-in survived the reset: %d", r.StatusCode)
	}
	ts.login(t, "reset@example.com", newPw)
}
