package main

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/testutil"
)

// demoLine is one account line of the demo's printout: kind, then the
// name or role (which may hold spaces), e-mail, password, TOTP secret.
var demoLine = regexp.MustCompile(`(?m)^(customer|staff)\s+(.+?)\s+(\S+@\S+)\s+(\S+)\s+(\S+)\s*$`)

type demoSignIn struct{ kind, who, email, password, secret string }

func parseDemo(t *testing.T, out string) []demoSignIn {
	t.Helper()
	var got []demoSignIn
	for _, m := range demoLine.FindAllStringSubmatch(out, -1) {
		got = append(got, demoSignIn{m[1], m[2], m[3], m[4], m[5]})
	}
	if len(got) == 0 {
		t.Fatalf("no demo accounts printed:\n%s", out)
	}
	return got
}

// demoServe starts `serve --demo --metrics-addr` on an empty deployment of
// backend b and returns the listeners and what it printed.
func demoServe(t *testing.T, b testutil.Backend, dataDir string) (listeners, string, func()) {
	t.Helper()
	environ := map[string]string{"RESGUARDO_DATA_DIR": dataDir}
	args := []string{"serve", "--demo", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}
	if b.Name == "mysql" {
		environ["RESGUARDO_DATABASE"] = testutil.MySQLDatabase(t)
		args = append(args, "--migrate")
		keysInit(t, dataDir, environ["RESGUARDO_DATABASE"])
	}
	out := &testutil.SyncBuffer{}
	ready, stop := startServeOut(t, environ, args, out)
	return ready, out.String(), stop
}

// TestServeDemoAndMetrics starts `serve --demo` on an empty deployment,
// signs in with the printed details (a customer on the API, one with
// TOTP up to its second step, a staff lead on the console with its code,
// who reveals a phone number), draws a throttle refusal, and then scrapes
// the metrics listener: every series is there, and nothing the test used
// (e-mail, phone, name, password, token, secret) is in the scrape.
func TestServeDemoAndMetrics(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ready, printed, _ := demoServe(t, b, filepath.Join(t.TempDir(), "data"))
		accounts := parseDemo(t, printed)
		roles := map[string]demoSignIn{}
		var plain, withTOTP demoSignIn
		customers := 0
		for _, a := range accounts {
			switch {
			case a.kind == "staff":
				roles[a.who] = a
			case a.secret == "-" && plain.email == "":
				plain, customers = a, customers+1
			case a.secret != "-" && withTOTP.email == "":
				withTOTP, customers = a, customers+1
			default:
				customers++
			}
		}
		for _, r := range []string{"agent", "lead", "admin", "auditor"} {
			if roles[r].email == "" {
				t.Errorf("no %s printed:\n%s", r, printed)
			}
		}
		if plain.email == "" || withTOTP.email == "" || customers < 4 {
			t.Fatalf("want customers with and without TOTP, got:\n%s", printed)
		}
		if !strings.Contains(printed, "otpauth://totp/") {
			t.Errorf("no otpauth link printed:\n%s", printed)
		}
		secrets := []string{} // what must never reach the scrape
		for _, a := range accounts {
			secrets = append(secrets, a.email, a.password)
			if a.secret != "-" {
				secrets = append(secrets, a.secret)
			}
		}

		// A customer signs in on the API with the printed password.
		var tokens struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if code := postJSON(t, ready.Site+"/api/v1/auth/login", map[string]string{"email": plain.email, "password": plain.password}, &tokens); code != 200 || tokens.AccessToken == "" {
			t.Fatalf("customer API sign-in = %d", code)
		}
		secrets = append(secrets, tokens.AccessToken, tokens.RefreshToken)
		req, _ := http.NewRequestWithContext(t.Context(), "GET", ready.Site+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tokens.AccessToken)
		var me struct {
			Name   string `json:"name"`
			Phones []struct {
				Number string `json:"number"`
			} `json:"phones"`
		}
		if code := doJSON(t, req, &me); code != 200 || me.Name != plain.who || len(me.Phones) == 0 {
			t.Fatalf("GET /me = %d, %+v; want %q with a phone", code, me, plain.who)
		}
		secrets = append(secrets, me.Name, me.Phones[0].Number)

		// The TOTP customer gets to the second step, and passes it with
		// the code of the printed secret.
		var step struct {
			MFARequired bool   `json:"mfa_required"`
			MFAToken    string `json:"mfa_token"`
		}
		if code := postJSON(t, ready.Site+"/api/v1/auth/login", map[string]string{"email": withTOTP.email, "password": withTOTP.password}, &step); code != 200 || !step.MFARequired {
			t.Fatalf("TOTP customer sign-in = %d, %+v", code, step)
		}
		code, err := auth.TOTPCode(withTOTP.secret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var mfaTokens struct {
			AccessToken string `json:"access_token"`
		}
		if c := postJSON(t, ready.Site+"/api/v1/auth/mfa", map[string]string{"mfa_token": step.MFAToken, "code": code}, &mfaTokens); c != 200 || mfaTokens.AccessToken == "" {
			t.Fatalf("TOTP customer second step = %d", c)
		}
		secrets = append(secrets, step.MFAToken, mfaTokens.AccessToken)

		// Wrong passwords until a limit refuses (429): a refused sign-in.
		refused := false
		for i := 0; i < 12 && !refused; i++ {
			c := postJSON(t, ready.Site+"/api/v1/auth/login", map[string]string{"email": plain.email, "password": "wrong-" + plain.password}, nil)
			refused = c == http.StatusTooManyRequests
			if c != http.StatusUnauthorized && !refused {
				t.Fatalf("wrong password = %d", c)
			}
		}
		if !refused {
			t.Fatal("no sign-in was refused by a limit")
		}

		// The lead signs in on the console (password, then code) and
		// reveals the first customer's phone number.
		lead := roles["lead"]
		con := newConsole(t, ready.Staff)
		con.signIn(lead)
		found := con.post("/customers", url.Values{"q": {plain.email}})
		m := regexp.MustCompile(`href="/customers/([A-Z2-7]{26})"`).FindStringSubmatch(found)
		if m == nil {
			t.Fatalf("search found nothing:\n%s", found)
		}
		page := con.get("/customers/" + m[1])
		ph := regexp.MustCompile(`<option value="(phone:[A-Z2-7]{26})">`).FindStringSubmatch(page)
		if ph == nil {
			t.Fatalf("no phone to reveal:\n%s", page)
		}
		revealed := con.post("/customers/"+m[1]+"/reveal", url.Values{"field": {ph[1]}, "reason": {"customer called about a delivery"}})
		if !strings.Contains(html.UnescapeString(revealed), me.Phones[0].Number) {
			t.Fatalf("reveal did not show %q:\n%s", me.Phones[0].Number, revealed)
		}
		secrets = append(secrets, con.cookies()...)

		// The scrape.
		if ready.Metrics == "" {
			t.Fatal("no metrics listener announced")
		}
		scrape := get(t, ready.Metrics)
		for _, series := range []string{
			`resguardo_http_requests_total{route="POST /api/v1/auth/login",status="200",surface="site"}`,
			`resguardo_http_requests_total{route="POST /api/v1/auth/login",status="429",surface="site"}`,
			`resguardo_http_requests_total{route="POST /customers/{id}/reveal",status="200",surface="staff"}`,
			`resguardo_http_request_duration_seconds_bucket{route="GET /api/v1/me",status="200",surface="site",le="+Inf"}`,
			`resguardo_password_hash_queue_depth `,
			`resguardo_password_hash_wait_seconds_count `,
			`resguardo_db_pool_open_connections `,
			`resguardo_audit_pending_entries `,
			`resguardo_audit_oldest_pending_seconds `,
			`resguardo_db_pool_in_use_connections `,
			`resguardo_db_statement_duration_seconds_count{kind="exec",outcome="ok"}`,
			`resguardo_db_statement_duration_seconds_count{kind="query",outcome="ok"}`,
			`resguardo_audit_appends_total{actor="customer"}`,
			`resguardo_audit_appends_total{actor="staff"}`,
			`resguardo_keys_reloads_total{result="unchanged"}`,
			`resguardo_keys_rotation_active{purpose="kek"}`,
			`resguardo_keys_rotation_customers_done{purpose="blind_index"}`,
			`resguardo_throttle_refusals_total{limit="account_network"}`,
			`resguardo_staff_reveals_total{role="lead"}`,
		} {
			if !strings.Contains(scrape, series) {
				t.Errorf("scrape lacks %s", series)
			}
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(scrape, s) {
				t.Errorf("the scrape contains a personal value or token used in the test: %q", s)
			}
		}
		for _, a := range accounts {
			if strings.Contains(scrape, a.who) && a.kind == "customer" {
				t.Errorf("the scrape contains a customer's name %q", a.who)
			}
		}

		// Neither the customer nor the staff listener serves the metrics.
		for _, u := range []string{ready.Site + "/metrics", ready.Staff + "/metrics"} {
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), "resguardo_http_requests_total") {
				t.Errorf("GET %s = %d, want 404 without series", u, resp.StatusCode)
			}
		}
	})
}

func postJSON(t *testing.T, u string, body any, out any) int {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), "POST", u, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return doJSON(t, req, out)
}

func doJSON(t *testing.T, req *http.Request, out any) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d, %v", u, resp.StatusCode, err)
	}
	return string(b)
}

// console is a cookie-keeping client of the staff console that does not
// follow redirects, sending each form with the page's form token.
type console struct {
	t      *testing.T
	base   string
	client *http.Client
	token  string
}

var formToken = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func newConsole(t *testing.T, base string) *console {
	jar, _ := cookiejar.New(nil)
	return &console{t: t, base: base, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *console) do(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		form.Set("csrf_token", c.token)
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := formToken.FindStringSubmatch(string(b)); m != nil {
		c.token = m[1]
	}
	return resp, string(b)
}

func (c *console) get(path string) string {
	c.t.Helper()
	resp, body := c.do("GET", path, nil)
	if resp.StatusCode != 200 {
		c.t.Fatalf("GET %s = %d", path, resp.StatusCode)
	}
	return body
}

func (c *console) post(path string, form url.Values) string {
	c.t.Helper()
	resp, body := c.do("POST", path, form)
	if resp.StatusCode != 200 {
		c.t.Fatalf("POST %s = %d", path, resp.StatusCode)
	}
	return body
}

// signIn goes through the console's two sign-in pages with the printed
// password and a code of the printed secret.
func (c *console) signIn(a demoSignIn) {
	c.t.Helper()
	c.get("/login")
	resp, _ := c.do("POST", "/login", url.Values{"email": {a.email}, "password": {a.password}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login/code" {
		c.t.Fatalf("staff password step: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	c.get("/login/code")
	code, err := auth.TOTPCode(a.secret, time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	resp, _ = c.do("POST", "/login/code", url.Values{"code": {code}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
		c.t.Fatalf("staff code step: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	c.get("/")
}

func (c *console) cookies() []string {
	u, _ := url.Parse(c.base)
	var out []string
	for _, ck := range c.client.Jar.Cookies(u) {
		out = append(out, ck.Value)
	}
	return out
}

// TestServeDemoRefusals: --demo never runs off loopback, nor on a database
// that holds real data; a second --demo on its own data adds nothing.
// --metrics-addr is refused off loopback.
func TestServeDemoRefusals(t *testing.T) {
	noEnv := func(string) string { return "" }
	err := run(t.Context(), []string{"serve", "--demo", "--addr", "0.0.0.0:8080", "--trusted-proxies", "10.0.0.0/8",
		"--public-url", "https://cuenta.example.com", "--data-dir", t.TempDir()}, noEnv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--demo is refused unless every listener is on loopback") {
		t.Errorf("--demo off loopback = %v", err)
	}
	err = run(t.Context(), []string{"serve", "--metrics-addr", "0.0.0.0:9090", "--data-dir", t.TempDir()}, noEnv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--metrics-addr 0.0.0.0:9090 is not a loopback address") {
		t.Errorf("--metrics-addr off loopback = %v", err)
	}

	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		// A deployment with a staff member and no demo mark is refused.
		dataDir := filepath.Join(t.TempDir(), "data")
		environ := map[string]string{"RESGUARDO_DATA_DIR": dataDir}
		args := []string{"--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0"}
		if b.Name == "mysql" {
			environ["RESGUARDO_DATABASE"] = testutil.MySQLDatabase(t)
			keysInit(t, dataDir, environ["RESGUARDO_DATABASE"])
			if err := run(t.Context(), []string{"migrate"}, func(k string) string { return environ[k] }, nil, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
		} else if err := run(t.Context(), []string{"migrate"}, func(k string) string { return environ[k] }, nil, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		if err := run(t.Context(), []string{"staff", "create", "--email", "real.admin@example.com", "--role", "admin"},
			func(k string) string { return environ[k] }, nil, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		err := run(t.Context(), append([]string{"serve", "--demo"}, args...), func(k string) string { return environ[k] }, nil, &out, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "refusing --demo: this database already holds 0 customers and 1 staff members") {
			t.Errorf("--demo on real data = %v", err)
		}
		if strings.Contains(out.String(), "password") || strings.Contains(out.String(), "@") {
			t.Errorf("a refused --demo printed accounts:\n%s", out.String())
		}
	})

	// A demo deployment started again with --demo starts, adding nothing.
	dataDir := filepath.Join(t.TempDir(), "data")
	_, first, stop := demoServe(t, testutil.Backends()[0], dataDir)
	stop()
	_, second, _ := demoServe(t, testutil.Backends()[0], dataDir)
	if len(parseDemo(t, first)) == 0 || demoLine.MatchString(second) || !strings.Contains(second, "already in this database") {
		t.Errorf("second --demo printed:\n%s", second)
	}
}

// TestMetricsOnlyOnTheirListener: with --metrics-addr, /metrics is served
// there and nowhere else: the customer and staff listeners answer 404, and
// the metrics listener serves nothing but /metrics.
func TestMetricsOnlyOnTheirListener(t *testing.T) {
	environ := map[string]string{"RESGUARDO_DATA_DIR": filepath.Join(t.TempDir(), "data")}
	ready, _ := startServe(t, environ, []string{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"})
	if !strings.Contains(get(t, ready.Metrics), "resguardo_db_pool_open_connections") {
		t.Fatal("the metrics listener serves no resguardo series")
	}
	base := strings.TrimSuffix(ready.Metrics, "/metrics")
	for _, u := range []string{ready.Site + "/metrics", ready.Staff + "/metrics", ready.Site + "/metrics/", base + "/", base + "/healthz"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), "resguardo_") {
			t.Errorf("GET %s = %d, want 404 without series", u, resp.StatusCode)
		}
	}
	// Without the flag there is no metrics listener at all.
	environ = map[string]string{"RESGUARDO_DATA_DIR": filepath.Join(t.TempDir(), "data")}
	if plain, _ := startServe(t, environ, []string{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0"}); plain.Metrics != "" {
		t.Errorf("metrics listener %s without --metrics-addr", plain.Metrics)
	}
}
