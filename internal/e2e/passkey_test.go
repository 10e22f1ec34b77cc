package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// passkeyApp starts the server for passkey tests. A relying party id must
// be a domain name, not an address, so both listeners are published as
// localhost (each on its own port): the same RP id, different origins.
func passkeyApp(t *testing.T, args ...string) (srv server, site, staff string) {
	t.Helper()
	ports := [2]int{}
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
	}
	site = fmt.Sprintf("http://localhost:%d", ports[0])
	staff = fmt.Sprintf("http://localhost:%d", ports[1])
	srv = startApp(t, append([]string{"--addr", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--staff-addr", fmt.Sprintf("localhost:%d", ports[1]),
		"--public-url", site, "--staff-public-url", staff}, args...)...)
	return srv, site, staff
}

// virtualAuthenticator gives the tab a platform authenticator through the
// DevTools WebAuthn domain: CTAP2, resident keys, user verification that
// succeeds, presence simulated.
func virtualAuthenticator(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
}

// capturedAnswer is what the passkey page posts: the ceremony token and
// the authenticator's answer.
type capturedAnswer struct {
	Ceremony   string `json:"ceremony"`
	Credential string `json:"credential"`
}

// TestPasskeyCustomerInBrowser: in Chromium with a virtual authenticator, a
// customer adds a passkey on /account/security (recovery codes shown),
// signs out, and signs in with the passkey alone (no e-mail typed). The
// answer the page sent, replayed through the API, is refused; and the same
// passkey used from the staff console's origin is refused by the site.
func TestPasskeyCustomerInBrowser(t *testing.T) {
	exe := findChromium(t)
	srv, site, staff := passkeyApp(t)
	browser := startBrowser(t, exe)
	newCustomer(t, srv, "passkey@example.com", "Passkey User")

	tab := newTab(t, browser)
	ctx, cancel := context.WithTimeout(tab, 3*timeout)
	defer cancel()
	step := browserSteps(t, ctx)
	virtualAuthenticator(t, ctx)

	step("sign in with the password",
		chromedp.Navigate(site+"/login?lang=en&next=%2Faccount%2Fsecurity"),
		chromedp.SendKeys("#email", "passkey@example.com"),
		chromedp.SendKeys("#password", customerPassword),
		chromedp.Submit("#password"),
		chromedp.WaitVisible("#passkey-add"))
	step("add a passkey",
		chromedp.Click("#passkey-add"),
		chromedp.WaitVisible("#passkey-name"),
		chromedp.SendKeys("#passkey-name", "Chromium"),
		chromedp.Click("#passkey-go"),
		chromedp.WaitVisible("#recovery-codes"))
	step("see it listed", chromedp.Navigate(site+"/account/security?lang=en"), chromedp.WaitVisible("#passkeys"))
	listed, err := chromedp.Run(ctx, chromedp.Text("#passkeys"))
	if err != nil || !strings.Contains(listed, "Chromium") {
		t.Fatalf("passkeys listed: %q %v", listed, err)
	}

	step("sign out", chromedp.Navigate(site+"/account"), chromedp.Click(`header form[action="/logout"] button`), chromedp.WaitVisible(`a[href="/login"]`))
	step("start a passkey sign-in",
		chromedp.Navigate(site+"/login?lang=en&next=%2Faccount%2Fsecurity"),
		chromedp.Click("#passkey-signin"),
		chromedp.WaitVisible("#passkey-go"))
	// Hold the page's submission to keep a copy of what it posts, then let
	// it go: the copy is replayed afterwards.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){var f=document.getElementById('passkey-form');f.submit=function(){window.__answer={ceremony:f.elements.ceremony.value,credential:f.elements.credential.value}};return true})()`)); err != nil {
		t.Fatal(err)
	}
	step("use the passkey", chromedp.Click("#passkey-go"))
	var ans capturedAnswer
	err = eventually(ctx, func() (bool, error) {
		var err error
		ans, err = chromedp.Run(ctx, chromedp.Evaluate[capturedAnswer](`window.__answer || {}`))
		return ans.Credential != "", err
	})
	if err != nil || ans.Ceremony == "" {
		t.Fatalf("the page's answer: %+v %v", ans, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`HTMLFormElement.prototype.submit.call(document.getElementById('passkey-form')),true`)); err != nil {
		t.Fatal(err)
	}
	step("signed in with the passkey alone", chromedp.WaitVisible("#h-passkeys"))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/account/security") {
		t.Errorf("after the passkey: %s, want /account/security", loc)
	}
	replay := map[string]any{"ceremony": ans.Ceremony, "credential": json.RawMessage(ans.Credential)}
	if st := api(t, "POST", site+"/api/v1/auth/webauthn/login/finish", "", replay, nil); st != http.StatusUnauthorized {
		t.Errorf("replayed assertion: %d, want 401", st)
	}

	// The same passkey, asked for by a page of the staff console (same RP
	// id, other origin) for a challenge of the site: the site refuses it.
	var c struct {
		Ceremony string          `json:"ceremony"`
		Options  json.RawMessage `json:"options"`
	}
	if st := api(t, "POST", site+"/api/v1/auth/webauthn/login/begin", "", nil, &c); st != 200 {
		t.Fatalf("login begin: %d", st)
	}
	step("open the staff console", chromedp.Navigate(staff+"/login"), chromedp.WaitVisible("body"))
	js := `(async function(o){` + getJS + `})(` + string(c.Options) + `)`
	cred, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil || !strings.Contains(cred, `"signature"`) {
		t.Fatalf("assertion on the staff origin: %q %v", cred, err)
	}
	other := map[string]any{"ceremony": c.Ceremony, "credential": json.RawMessage(cred)}
	if st := api(t, "POST", site+"/api/v1/auth/webauthn/login/finish", "", other, nil); st != http.StatusUnauthorized {
		t.Errorf("passkey used from the staff origin: %d, want 401", st)
	}
}

// getJS runs navigator.credentials.get for the options o and returns the
// answer as the JSON the server reads.
const getJS = `
var b=function(s){s=s.replace(/-/g,'+').replace(/_/g,'/');while(s.length%4)s+='=';return Uint8Array.from(atob(s),function(c){return c.charCodeAt(0)}).buffer};
var e=function(x){return btoa(String.fromCharCode.apply(null,new Uint8Array(x))).replace(/\+/g,'-').replace(/\//g,'_').replace(/=+$/,'')};
var pk=o.publicKey;pk.challenge=b(pk.challenge);pk.allowCredentials=(pk.allowCredentials||[]).map(function(c){return {type:c.type,id:b(c.id)}});
var c=await navigator.credentials.get({publicKey:pk});var r=c.response;
return JSON.stringify({id:c.id,rawId:e(c.rawId),type:c.type,clientExtensionResults:{},response:{clientDataJSON:e(r.clientDataJSON),authenticatorData:e(r.authenticatorData),signature:e(r.signature),userHandle:r.userHandle?e(r.userHandle):undefined}});`

// TestPasskeyStaffInBrowser: with --staff-passkeys-required, a lead who
// enrolled TOTP before the setting cannot sign in with a code any more; a
// new agent's enrolment refuses TOTP, takes a passkey, and the agent signs
// in with password and passkey; on the customer site that passkey is
// unknown.
func TestPasskeyStaffInBrowser(t *testing.T) {
	exe := findChromium(t)
	dir := t.TempDir()
	var leadSecret string
	t.Run("before the setting", func(t *testing.T) {
		srv := startApp(t, "--data-dir", dir)
		browser := startBrowser(t, exe)
		tab := newTab(t, browser)
		ctx, cancel := context.WithTimeout(tab, 2*timeout)
		defer cancel()
		leadSecret = enrolAndSignIn(t, ctx, srv, "lead.totp@example.com", "lead")
	})
	if t.Failed() {
		return
	}
	srv, site, staff := passkeyApp(t, "--data-dir", dir, "--staff-passkeys-required")
	browser := startBrowser(t, exe)
	tab := newTab(t, browser)
	ctx, cancel := context.WithTimeout(tab, 3*timeout)
	defer cancel()
	step := browserSteps(t, ctx)
	virtualAuthenticator(t, ctx)

	signInPassword := func(email string) {
		t.Helper()
		step("sign in: password",
			chromedp.Navigate(staff+"/login?lang=en"),
			chromedp.WaitVisible("#email"),
			chromedp.SendKeys("#email", email),
			chromedp.SendKeys("#password", staffPassword),
			chromedp.Submit("#password"),
			chromedp.WaitVisible("#code"))
	}
	signInPassword("lead.totp@example.com")
	code, _ := totp.GenerateCode(leadSecret, time.Now().Add(60*time.Second))
	step("lead: TOTP code", chromedp.SendKeys("#code", code), chromedp.Submit("#code"), chromedp.WaitVisible(".errors"))
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#dashboard').length`)); n != 0 {
		t.Fatal("lead reached the dashboard with TOTP while passkeys are required")
	}

	token := staffCreate(t, srv, "agent.pk@example.com", "agent")
	step("enrolment: password",
		chromedp.Navigate(staff+"/enrol?lang=en&token="+url.QueryEscape(token)),
		chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#name", "Agent Passkey"),
		chromedp.SendKeys("#password", staffPassword),
		chromedp.Submit("#password"),
		chromedp.WaitVisible("#totp-secret"))
	secret, err := chromedp.Run(ctx, chromedp.Text("#totp-secret"))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := totp.GenerateCode(strings.TrimSpace(secret), time.Now())
	step("enrolment: TOTP refused", chromedp.SendKeys("#code", first), chromedp.Submit("#code"), chromedp.WaitVisible(".errors"))
	step("enrolment: passkey",
		chromedp.WaitVisible("#passkey-enrol"),
		chromedp.Click("#passkey-enrol"),
		chromedp.WaitVisible("#passkey-go"),
		chromedp.Click("#passkey-go"),
		chromedp.WaitVisible(`main a[href="/login"]`))
	signInPassword("agent.pk@example.com")
	step("sign in: passkey",
		chromedp.Click("#passkey-mfa"),
		chromedp.WaitVisible("#passkey-go"),
		chromedp.Click("#passkey-go"),
		chromedp.WaitVisible("#dashboard"))

	// The staff passkey means nothing to the customer site: another
	// origin, and no customer has it.
	var c struct {
		Ceremony string          `json:"ceremony"`
		Options  json.RawMessage `json:"options"`
	}
	if st := api(t, "POST", site+"/api/v1/auth/webauthn/login/begin", "", nil, &c); st != 200 {
		t.Fatalf("login begin: %d", st)
	}
	cred, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async function(o){`+getJS+`})(`+string(c.Options)+`)`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.Contains(cred, `"signature"`) {
		t.Fatalf("assertion on the staff origin: %q %v", cred, err)
	}
	if st := api(t, "POST", site+"/api/v1/auth/webauthn/login/finish", "", map[string]any{"ceremony": c.Ceremony, "credential": json.RawMessage(cred)}, nil); st != http.StatusUnauthorized {
		t.Errorf("staff passkey on the customer site: %d, want 401", st)
	}
}
