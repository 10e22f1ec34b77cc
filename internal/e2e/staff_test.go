package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/resguardo/resguardo/internal/app"
)

const (
	customerPassword = "correct horse battery staple"
	staffPassword    = "a long staff passphrase"
)

// api sends a JSON request to the customer API and decodes the answer.
func api(t *testing.T, method, u, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, u, b, err)
		}
	}
	return resp.StatusCode
}

// newCustomer registers a customer through the API and returns an access
// token.
func newCustomer(t *testing.T, srv server, email, name string) string {
	t.Helper()
	if st := api(t, "POST", srv.SiteURL+"/api/v1/auth/register", "", map[string]string{"email": email, "password": customerPassword, "name": name}, nil); st != http.StatusAccepted {
		t.Fatalf("register %s: %d", email, st)
	}
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	if st := api(t, "POST", srv.SiteURL+"/api/v1/auth/login", "", map[string]string{"email": email, "password": customerPassword}, &tk); st != 200 {
		t.Fatalf("login %s: %d", email, st)
	}
	return tk.AccessToken
}

// staffCreate runs `resguardo staff create` on the running server's data
// directory, as an operator would, and returns the enrolment token.
func staffCreate(t *testing.T, srv server, email, role string) string {
	t.Helper()
	cfg := srv.Config
	cfg.Email, cfg.Role = email, role
	var out bytes.Buffer
	if err := app.StaffCreate(t.Context(), cfg, app.NewLogger(io.Discard, slog.LevelError), &out); err != nil {
		t.Fatalf("staff create: %v", err)
	}
	u, err := url.Parse(strings.TrimSpace(out.String()))
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("staff create printed %q", out.String())
	}
	return u.Query().Get("token")
}

// browserSteps runs chromedp actions, failing the test with what was being
// done.
func browserSteps(t *testing.T, ctx context.Context) func(what string, actions ...chromedp.Action[chromedp.Void]) {
	return func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		for _, a := range actions {
			if _, err := chromedp.Run(ctx, a); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
	}
}

// enrolAndSignIn follows a new staff member's enrolment link in the
// browser (password, then the TOTP secret shown as text and QR, then a
// first code) and signs in on the console with password and code. It
// returns the TOTP secret.
func enrolAndSignIn(t *testing.T, ctx context.Context, srv server, email, role string) string {
	t.Helper()
	step := browserSteps(t, ctx)
	token := staffCreate(t, srv, email, role)
	step("enrolment: password",
		chromedp.Navigate(srv.StaffURL+"/enrol?lang=en&token="+url.QueryEscape(token)),
		chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#name", "Staff "+role),
		chromedp.SendKeys("#password", staffPassword),
		chromedp.Submit("#password"),
		chromedp.WaitVisible("#totp-secret"))
	secret, err := chromedp.Run(ctx, chromedp.Text("#totp-secret"))
	secret = strings.TrimSpace(secret)
	if err != nil || len(secret) < 16 {
		t.Fatalf("secret on the enrolment page: %q %v", secret, err)
	}
	var qrWidth int
	if err := eventually(ctx, func() (bool, error) {
		var err error
		qrWidth, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector('#totp-qr').naturalWidth`))
		return qrWidth >= 100, err
	}); err != nil {
		t.Fatalf("QR image width %d: %v", qrWidth, err)
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	step("enrolment: first code",
		chromedp.SendKeys("#code", code),
		chromedp.Submit("#code"),
		chromedp.WaitVisible(`main a[href="/login"]`))

	step("sign in: password",
		chromedp.Navigate(srv.StaffURL+"/login"),
		chromedp.WaitVisible("#email"),
		chromedp.SendKeys("#email", email),
		chromedp.SendKeys("#password", staffPassword),
		chromedp.Submit("#password"),
		chromedp.WaitVisible("#code"))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/login/code") {
		t.Fatalf("after the password: %s, want the code page", loc)
	}
	// Enrolment used this time step; the next one is within the allowed
	// skew and has not been used.
	next, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	step("sign in: code", chromedp.SendKeys("#code", next), chromedp.Submit("#code"), chromedp.WaitVisible("#dashboard"))
	return secret
}

// searchCustomer searches on the console (a POST) and stays on the
// results; it returns the results list's text.
func searchCustomer(t *testing.T, ctx context.Context, srv server, q string) string {
	t.Helper()
	step := browserSteps(t, ctx)
	step("search",
		chromedp.Navigate(srv.StaffURL+"/customers"),
		chromedp.WaitVisible("#q"),
		chromedp.SendKeys("#q", q),
		chromedp.Submit("#q"),
		chromedp.WaitVisible("#results a"))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != srv.StaffURL+"/customers" {
		t.Errorf("after the search the address is %q: the terms must not be in a URL", loc)
	}
	results, err := chromedp.Run(ctx, chromedp.Text("#results"))
	if err != nil {
		t.Fatal(err)
	}
	return results
}

// openFirstResult opens the first customer of the results list.
func openFirstResult(t *testing.T, ctx context.Context) {
	t.Helper()
	browserSteps(t, ctx)("open the customer", chromedp.Click("#results a"), chromedp.WaitVisible("#masked-name"))
}

// reveal reveals the first option of the reveal form whose value starts
// with prefix, and returns the value shown.
func reveal(t *testing.T, ctx context.Context, prefix, reason string) string {
	t.Helper()
	step := browserSteps(t, ctx)
	field, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#reveal-field option[value^="`+prefix+`"]').value`))
	if err != nil || field == "" {
		t.Fatalf("no %q option to reveal: %v", prefix, err)
	}
	step("reveal "+prefix,
		chromedp.SetValue("#reveal-field", field),
		chromedp.SendKeys("#reveal-reason", reason),
		chromedp.Submit("#reveal-reason"),
		chromedp.WaitVisible("#revealed-value"))
	v, err := chromedp.Run(ctx, chromedp.Text("#revealed-value"))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestStaffLeadRevealsPhoneInBrowser: a lead enrols and signs in on the
// staff listener (password and TOTP), finds a customer by phone, sees
// masked data, reveals the phone with a reason, and the customer's access
// log shows the view by the lead role.
func TestStaffLeadRevealsPhoneInBrowser(t *testing.T) {
	srv, browser := setup(t)
	token := newCustomer(t, srv, "maria.garcia@example.com", "María García López")
	if st := api(t, "POST", srv.SiteURL+"/api/v1/me/phones", token, map[string]string{"label": "móvil", "number": "+34 612 345 612"}, nil); st != 201 {
		t.Fatalf("add phone: %d", st)
	}

	tab := newTab(t, browser)
	ctx, cancel := context.WithTimeout(tab, 3*timeout)
	defer cancel()
	enrolAndSignIn(t, ctx, srv, "lead@corp.example", "lead")

	results := searchCustomer(t, ctx, srv, "+34 612 345 612")
	if !strings.Contains(results, "María G.") || !strings.Contains(results, "+34 ••• ••• •12") {
		t.Errorf("search results: %q", results)
	}
	openFirstResult(t, ctx)
	main, err := chromedp.Run(ctx, chromedp.Text("main"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"maria.garcia@example.com", "García", "612345612", "612 345 612"} {
		if strings.Contains(main+results, v) {
			t.Errorf("a masked page shows %q", v)
		}
	}
	if !strings.Contains(main, "m•••@example.com") {
		t.Errorf("customer page lacks the masked e-mail: %q", main)
	}
	if got := reveal(t, ctx, "phone:", "customer called to confirm the number on ticket 4411"); got != "+34612345612" {
		t.Errorf("revealed phone = %q", got)
	}

	var log struct {
		Entries []struct {
			Action    string `json:"action"`
			ActorKind string `json:"actor_kind"`
			ActorRole string `json:"actor_role"`
		} `json:"entries"`
	}
	if st := api(t, "GET", srv.SiteURL+"/api/v1/me/access-log", token, nil, &log); st != 200 {
		t.Fatalf("access log: %d", st)
	}
	var viewed, revealed bool
	for _, e := range log.Entries {
		if e.ActorKind == "staff" && e.ActorRole == "lead" {
			viewed = viewed || e.Action == "staff.customer_viewed"
			revealed = revealed || e.Action == "staff.customer_field_revealed"
		}
	}
	if !viewed || !revealed {
		t.Errorf("the customer's access log lacks the lead's view and reveal: %+v", log.Entries)
	}
}

// The payloads a customer might store, each a different way out of text:
// a script element, an event handler on an element, and breaking out of an
// attribute value into a new element.
var xssPayloads = []string{
	`<script>window.__pwned=1</script>`,
	`<img src=x onerror="window.__pwned=1">`,
	`"><svg onload=window.__pwned=1>`,
}

// xssProbeJS reports whether anything ran or any markup got into the page:
// no script, image or svg element exists in the console's main content, so
// any there came from customer text.
const xssProbeJS = `({
	pwned: window.__pwned !== undefined,
	injected: document.querySelectorAll('main script, main img, main svg, main [onerror], main [onload]').length,
	text: document.querySelector('main').textContent,
})`

type xssProbe struct {
	Pwned    bool   `json:"pwned"`
	Injected int    `json:"injected"`
	Text     string `json:"text"`
}

func checkEscaped(t *testing.T, ctx context.Context, where string, want ...string) {
	t.Helper()
	p, err := chromedp.Run(ctx, chromedp.Evaluate[xssProbe](xssProbeJS))
	if err != nil {
		t.Fatalf("%s: probe: %v", where, err)
	}
	if p.Pwned || p.Injected != 0 {
		t.Errorf("%s: customer text ran or became markup (pwned=%v, injected elements=%d)", where, p.Pwned, p.Injected)
	}
	for _, w := range want {
		if !strings.Contains(p.Text, w) {
			t.Errorf("%s: the payload %q is not shown as text", where, w)
		}
	}
}

// TestStaffConsoleEscapesCustomerText: a customer stores XSS payloads in
// their name, phone label and address; an agent's console shows them as
// text in the search results, on the customer page and in revealed values,
// and none runs.
func TestStaffConsoleEscapesCustomerText(t *testing.T) {
	srv, browser := setup(t)
	name := xssPayloads[0] + " " + xssPayloads[1]
	token := newCustomer(t, srv, "xss@example.com", name)
	if st := api(t, "POST", srv.SiteURL+"/api/v1/me/phones", token, map[string]string{"label": xssPayloads[2], "number": "+34 611 222 333"}, nil); st != 201 {
		t.Fatalf("add phone: %d", st)
	}
	addr := map[string]string{"label": xssPayloads[0], "line1": xssPayloads[1], "line2": xssPayloads[2], "city": xssPayloads[2],
		"region": xssPayloads[0], "postal_code": "28013", "country": "ES"}
	if st := api(t, "POST", srv.SiteURL+"/api/v1/me/addresses", token, addr, nil); st != 201 {
		t.Fatalf("add address: %d", st)
	}

	tab := newTab(t, browser)
	ctx, cancel := context.WithTimeout(tab, 3*timeout)
	defer cancel()
	enrolAndSignIn(t, ctx, srv, "agent@corp.example", "agent")

	results := searchCustomer(t, ctx, srv, "xss@example.com")
	if !strings.Contains(results, xssPayloads[0]) {
		t.Errorf("search results do not show the masked name as text: %q", results)
	}
	checkEscaped(t, ctx, "search results", xssPayloads[0])
	openFirstResult(t, ctx)
	// Masked: the name's first word, the labels, the city.
	checkEscaped(t, ctx, "customer page", xssPayloads[0], xssPayloads[2])

	if got := reveal(t, ctx, "name", "checking the name spelling for the ticket"); got != name {
		t.Errorf("revealed name = %q", got)
	}
	checkEscaped(t, ctx, "revealed name", xssPayloads...)
	if got := reveal(t, ctx, "address:", "checking the delivery address for the ticket"); !strings.Contains(got, xssPayloads[1]) || !strings.Contains(got, xssPayloads[2]) {
		t.Errorf("revealed address = %q", got)
	}
	checkEscaped(t, ctx, "revealed address", xssPayloads...)
}
