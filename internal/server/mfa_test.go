package server

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/resguardo/resguardo/internal/testutil"
)

// enrolTOTP turns TOTP on for the token's customer and returns the secret
// and the recovery codes.
func (ts *testServer) enrolTOTP(t *testing.T, access string) (string, []string) {
	t.Helper()
	var en totpEnrolment
	if r := ts.apiCall(t, "POST", "/api/v1/me/mfa/totp", access, nil, &en); r.StatusCode != 201 || en.Secret == "" || !strings.HasPrefix(en.OtpauthURI, "otpauth://totp/") || en.QRPNG == "" {
		t.Fatalf("begin totp: %d %s", r.StatusCode, r.body)
	}
	code, _ := totp.GenerateCode(en.Secret, ts.env.Clock.Now())
	var rc recoveryCodes
	if r := ts.apiCall(t, "POST", "/api/v1/me/mfa/totp/confirm", access, codeRequest{code}, &rc); r.StatusCode != 200 || len(rc.RecoveryCodes) != 10 {
		t.Fatalf("confirm totp: %d %s", r.StatusCode, r.body)
	}
	return en.Secret, rc.RecoveryCodes
}

func (ts *testServer) passwordStep(t *testing.T, email string) string {
	t.Helper()
	var m mfaRequired
	r := ts.apiCall(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": testPassword}, &m)
	if r.StatusCode != 200 || !m.MFARequired || m.MFAToken == "" || strings.Contains(string(r.body), "access_token") {
		t.Fatalf("password step: %d %s", r.StatusCode, r.body)
	}
	return m.MFAToken
}

func TestTOTPSignInReplayAndRecoveryCodes(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "totp@example.com", "Totp")
		secret, recovery := ts.enrolTOTP(t, tk.AccessToken)
		var me me
		ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, &me)
		if !me.MFA.TOTP {
			t.Error("/me does not show TOTP on")
		}
		// The code used to confirm cannot be used again in its window.
		ts.env.Clock.Advance(5 * time.Second)
		challenge := ts.passwordStep(t, "totp@example.com")
		confirmCode, _ := totp.GenerateCode(secret, ts.env.Clock.Now().Add(-5*time.Second))
		if r := ts.apiCall(t, "POST", "/api/v1/auth/mfa", "", map[string]string{"mfa_token": challenge, "code": confirmCode}, nil); r.StatusCode != 400 {
			t.Fatalf("replayed confirmation code: %d, want 400", r.StatusCode)
		}
		ts.env.Clock.Advance(30 * time.Second)
		code, _ := totp.GenerateCode(secret, ts.env.Clock.Now())
		var got tokens
		if r := ts.apiCall(t, "POST", "/api/v1/auth/mfa", "", map[string]string{"mfa_token": challenge, "code": code}, &got); r.StatusCode != 200 || got.AccessToken == "" {
			t.Fatalf("valid code: %d %s", r.StatusCode, r.body)
		}
		// The challenge is single-use, and so is the code.
		if r := ts.apiCall(t, "POST", "/api/v1/auth/mfa", "", map[string]string{"mfa_token": challenge, "code": code}, nil); r.StatusCode != 401 {
			t.Errorf("challenge used twice: %d, want 401", r.StatusCode)
		}
		again := ts.passwordStep(t, "totp@example.com")
		if r := ts.apiCall(t, "POST", "/api/v1/auth/mfa", "", map[string]string{"mfa_token": again, "code": code}, nil); r.StatusCode != 400 {
			t.Errorf("replayed code: %d, want 400", r.StatusCode)
		}
		// Each recovery code works once.
		if r := ts.apiCall(t, "POST", "/api/v1/auth/mfa", "", map[string]string{"mfa_token": again, "code": strings.ToLower(recovery[3])}, nil); r.StatusCode != 200 {
			t.Fatalf("recovery code: %d %s", r.StatusCode, r.body)
		}
		third := ts.passwordStep(t, "totp@example.com")
		if r := ts.apiCall(t, "POST", "/api/v1/auth/mfa", "", map[string]string{"mfa_token": third, "code": recovery[3]}, nil); r.StatusCode != 400 {
			t.Errorf("recovery code used twice: %d, want 400", r.StatusCode)
		}
		// A challenge expires after 5 minutes.
		ts.env.Clock.Advance(6 * time.Minute)
		late, _ := totp.GenerateCode(secret, ts.env.Clock.Now())
		if r := ts.apiCall(t, "POST", "/api/v1/auth/mfa", "", map[string]string{"mfa_token": third, "code": late}, nil); r.StatusCode != 401 {
			t.Errorf("expired challenge: %d, want 401", r.StatusCode)
		}
	})
}

// Wrong codes are throttled like passwords.
func TestWrongCodesAreThrottled(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "guess@example.com", "Guess")
	ts.enrolTOTP(t, tk.AccessToken)
	challenge := ts.passwordStep(t, "guess@example.com")
	var last response
	for range 6 {
		last = ts.apiCall(t, "POST", "/api/v1/auth/mfa", "", map[string]string{"mfa_token": challenge, "code": "000000"}, nil)
	}
	if last.StatusCode != 429 || last.Header.Get("Retry-After") == "" {
		t.Errorf("sixth wrong code: %d, want 429 with Retry-After", last.StatusCode)
	}
}

// Wrong codes count per account and network, so guesses from one network
// do not stop the owner on another; and per account, so guesses spread
// over many networks still meet a ceiling (20).
func TestCodeThrottleIsPerNetworkWithAnAccountCeiling(t *testing.T) {
	ts := newTestServer(t, withTrustedProxies("127.0.0.1/32"))
	tk := ts.signUp(t, "spread@example.com", "Spread")
	ts.enrolTOTP(t, tk.AccessToken)
	challenge := ts.passwordStep(t, "spread@example.com")
	guess := func(ip string) int {
		body := `{"mfa_token":"` + challenge + `","code":"000000"}`
		return ts.do(t, ts.site, "POST", "/api/v1/auth/mfa", strings.NewReader(body), "Content-Type", "application/json", "X-Forwarded-For", ip).StatusCode
	}
	for i := range 6 {
		if got, want := guess("203.0.113.9"), map[bool]int{true: 429, false: 400}[i == 5]; got != want {
			t.Fatalf("guess %d from one network: %d, want %d", i+1, got, want)
		}
	}
	if got := guess("198.51.100.7"); got != 400 {
		t.Fatalf("first guess from another network: %d, want 400", got)
	}
	// 6 counted so far; spread the rest of 20 over fresh networks.
	for n := range 14 {
		if got := guess("192.0." + strconv.Itoa(n) + ".1"); got != 400 {
			t.Fatalf("guess %d from a fresh network: %d, want 400", 7+n, got)
		}
	}
	if got := guess("100.64.0.1"); got != 429 {
		t.Errorf("guess 21, from yet another network: %d, want 429 (account ceiling)", got)
	}
}

// A right code clears the count, for step-up with a code as for sign-in.
func TestRightCodeClearsTheCount(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "clears@example.com", "Clears")
	secret, _ := ts.enrolTOTP(t, tk.AccessToken)
	reauth := func(code string) int {
		return ts.apiCall(t, "POST", "/api/v1/auth/reauth", tk.AccessToken, codeRequest{code}, nil).StatusCode
	}
	for range 4 {
		if got := reauth("000000"); got != 400 {
			t.Fatalf("wrong code: %d, want 400", got)
		}
	}
	ts.env.Clock.Advance(30 * time.Second)
	code, _ := totp.GenerateCode(secret, ts.env.Clock.Now())
	if got := reauth(code); got != 204 {
		t.Fatalf("right code: %d, want 204", got)
	}
	for i := range 4 {
		if got := reauth("000000"); got != 400 {
			t.Fatalf("wrong code %d after a right one: %d, want 400 (count cleared)", i+1, got)
		}
	}
}

// Removing TOTP needs recent authentication and a code; changes end the
// other sign-ins and mail the customer.
func TestTOTPRemovalNeedsStepUpAndCode(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "rm@example.com", "Rm")
	other := ts.login(t, "rm@example.com", testPassword)
	secret, _ := ts.enrolTOTP(t, tk.AccessToken)
	if r := ts.apiCall(t, "GET", "/api/v1/me", other.AccessToken, nil, nil); r.StatusCode != 401 {
		t.Errorf("another sign-in survived turning TOTP on: %d", r.StatusCode)
	}
	ts.env.Clock.Advance(6 * time.Minute)
	code, _ := totp.GenerateCode(secret, ts.env.Clock.Now())
	if r := ts.apiCall(t, "DELETE", "/api/v1/me/mfa/totp", tk.AccessToken, codeRequest{code}, nil); r.StatusCode != 401 {
		t.Fatalf("removal without step-up: %d, want 401", r.StatusCode)
	}
	if r := ts.apiCall(t, "POST", "/api/v1/auth/reauth", tk.AccessToken, map[string]string{"code": code}, nil); r.StatusCode != 204 {
		t.Fatalf("reauth with a code: %d %s", r.StatusCode, r.body)
	}
	ts.env.Clock.Advance(30 * time.Second)
	if r := ts.apiCall(t, "DELETE", "/api/v1/me/mfa/totp", tk.AccessToken, codeRequest{"123456"}, nil); r.StatusCode != 400 {
		t.Fatalf("removal with a wrong code: %d, want 400", r.StatusCode)
	}
	code, _ = totp.GenerateCode(secret, ts.env.Clock.Now())
	if r := ts.apiCall(t, "DELETE", "/api/v1/me/mfa/totp", tk.AccessToken, codeRequest{code}, nil); r.StatusCode != 204 {
		t.Fatalf("removal: %d %s", r.StatusCode, r.body)
	}
	mails := 0
	for _, m := range ts.env.DeliverMail(t) {
		if strings.Contains(m.Subject, "two-step") {
			mails++
		}
	}
	if mails != 2 {
		t.Errorf("%d two-step notices mailed, want 2 (on, off)", mails)
	}
	ts.login(t, "rm@example.com", testPassword) // no second step any more
}

// On the web, the password step issues no session; the session cookie is
// set only after the code, and it is a new one.
func TestWebSignInWithTOTP(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "web2@example.com", "Web Two")
	secret, _ := ts.enrolTOTP(t, tk.AccessToken)
	ts.env.Clock.Advance(30 * time.Second)
	b := ts.browser(t)
	resp := b.signIn("web2@example.com", testPassword, "/account/security")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login/mfa?next=%2Faccount%2Fsecurity" {
		t.Fatalf("password step: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if b.cookie(sessionCookie) != "" {
		t.Fatal("a session cookie was set before the second factor")
	}
	if code, _, _ := b.get("/account"); code != 303 {
		t.Fatalf("account before the code: %d", code)
	}
	_, _, tok := b.get("/login/mfa?next=%2Faccount%2Fsecurity")
	code, _ := totp.GenerateCode(secret, ts.env.Clock.Now())
	resp = b.post("/login/mfa", url.Values{"csrf_token": {tok}, "code": {code}, "next": {"/account/security"}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/account/security" || b.cookie(sessionCookie) == "" {
		t.Fatalf("code step: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if status, body, _ := b.get("/account/security"); status != 200 || !strings.Contains(body, "totp/remove") {
		t.Errorf("security page after sign-in: %d", status)
	}
}

// A sign-in from a device none of the current sessions has is mailed to
// the customer; a known device is not.
func TestNewDeviceSignInIsNotified(t *testing.T) {
	ts := newTestServer(t)
	ts.signUp(t, "dev@example.com", "Dev") // a new account's first sign-ins are expected
	ts.env.Clock.Advance(11 * time.Minute)
	count := func() int {
		n := 0
		for _, m := range ts.env.DeliverMail(t) {
			if strings.Contains(m.Body, "Tablet B") || strings.Contains(m.Body, "Phone A") {
				n++
			}
		}
		return n
	}
	loginAs := func(device string) {
		r := ts.apiCall(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": "dev@example.com", "password": testPassword, "device_name": device}, nil)
		if r.StatusCode != 200 {
			t.Fatalf("login: %d", r.StatusCode)
		}
	}
	loginAs("Phone A")
	if n := count(); n != 1 {
		t.Fatalf("%d notices after a new device, want 1", n)
	}
	loginAs("Phone A")
	if n := count(); n != 1 {
		t.Errorf("%d notices after a known device, want still 1", n)
	}
	loginAs("Tablet B")
	if n := count(); n != 2 {
		t.Errorf("%d notices after a second new device, want 2", n)
	}
}

// An app's device name is one short line of plain text: it is quoted in
// the new-sign-in mail. A name outside the plain set is refused with a
// problem naming device_name, and the refused sign-in starts nothing and
// mails nothing; a plain name signs in and is quoted on a line of its own.
func TestAppDeviceNameCannotCarryALink(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "link@example.com", "Link")
		ts.env.Clock.Advance(11 * time.Minute) // past the new account's grace: new devices are mailed
		sessions := func() int {
			var list []map[string]any
			if r := ts.apiCall(t, "GET", "/api/v1/me/sessions", tk.AccessToken, nil, &list); r.StatusCode != 200 {
				t.Fatalf("sessions: %d", r.StatusCode)
			}
			return len(list)
		}
		before := sessions()
		for _, device := range []string{
			"Phone https://evil.example/reset",
			"Phone\u2028Your account is locked: reply with your password",
			"Phone \u202egnp.exe",
			"visit evil.example",
			strings.Repeat("x", 65),
		} {
			r := ts.apiCall(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": "link@example.com", "password": testPassword, "device_name": device}, nil)
			if r.StatusCode != 400 {
				t.Errorf("device name %.20q…: %d, want 400", device, r.StatusCode)
				continue
			}
			if p := r.problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "device_name" {
				t.Errorf("device name %.20q…: problem %+v, want one naming device_name", device, p)
			}
		}
		if n := sessions(); n != before {
			t.Errorf("refused sign-ins changed the sign-ins: %d, want %d", n, before)
		}
		signInMail := func() []string {
			var bodies []string
			for _, m := range ts.env.DeliverMail(t) {
				if strings.Contains(m.Subject, "New sign-in") {
					bodies = append(bodies, strings.ReplaceAll(m.Body, "\r\n", "\n"))
				}
			}
			return bodies
		}
		if m := signInMail(); len(m) != 0 {
			t.Errorf("refused sign-ins sent %d new-sign-in mails", len(m))
		}
		r := ts.apiCall(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": "link@example.com", "password": testPassword, "device_name": "Ana's Pixel (work)"}, nil)
		if r.StatusCode != 200 {
			t.Fatalf("plain device name: %d %s", r.StatusCode, r.body)
		}
		mails := signInMail()
		if len(mails) != 1 || !strings.Contains(mails[0], "\n    “Ana's Pixel (work)”\n") {
			t.Errorf("new sign-in mail does not quote the name on its own line: %+v", mails)
		}
	})
}

// Turning TOTP on or off in the browser replaces the session token: the
// cookie from before the change stops working at once.
func TestWebTOTPChangeReplacesSessionToken(t *testing.T) {
	ts := newTestServer(t)
	ts.signUp(t, "rotate@example.com", "Rotate")
	b := ts.browser(t)
	b.signIn("rotate@example.com", testPassword, "")
	_, _, tok := b.get("/account/security")
	resp, page := b.postPage("/account/totp", url.Values{"csrf_token": {tok}})
	secret := regexp.MustCompile(`<code id="totp-secret">([A-Z2-7 ]+)</code>`).FindStringSubmatch(page)
	if resp.StatusCode != 200 || secret == nil {
		t.Fatalf("set-up: %d %s", resp.StatusCode, page)
	}
	before := b.cookie(sessionCookie)
	code, _ := totp.GenerateCode(strings.ReplaceAll(secret[1], " ", ""), ts.env.Clock.Now())
	if resp := b.post("/account/totp/confirm", url.Values{"csrf_token": {tok}, "code": {code}}); resp.StatusCode != 200 {
		t.Fatalf("confirm: %d", resp.StatusCode)
	}
	after := b.cookie(sessionCookie)
	if after == "" || after == before {
		t.Fatal("the session token was not replaced when TOTP was turned on")
	}
	if _, err := ts.accounts.WebSession(t.Context(), before); err == nil {
		t.Error("the old session token still works")
	}
	if status, _, _ := b.get("/account/security"); status != 200 {
		t.Errorf("security page with the new token: %d", status)
	}
}
