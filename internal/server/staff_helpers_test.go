package server

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/resguardo/resguardo"
	staffsvc "github.com/resguardo/resguardo/internal/staff"
)

const staffTestPassword = "a long staff passphrase"

// staffMember is an enrolled staff member of a test.
type staffMember struct {
	Email  string
	Role   resguardo.Role
	Secret string // TOTP secret
}

// code returns a TOTP code for a fresh time step: the clock moves on 31
// seconds first, since a step, once used, is refused.
func (ts *testServer) code(t *testing.T, m staffMember) string {
	t.Helper()
	ts.env.Clock.Advance(31 * time.Second)
	c, err := totp.GenerateCode(m.Secret, ts.env.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolLink creates a staff member as the operator's CLI does and returns
// the enrolment link's token.
func (ts *testServer) enrolLink(t *testing.T, email string, role resguardo.Role) string {
	t.Helper()
	inv, err := ts.staffSvc.Create(t.Context(), email, role, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(inv.Link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

// newStaff creates and enrols a staff member through the service.
func (ts *testServer) newStaff(t *testing.T, email string, role resguardo.Role) staffMember {
	t.Helper()
	token := ts.enrolLink(t, email, role)
	en, err := ts.staffSvc.EnrolPassword(t.Context(), token, staffTestName(email), staffTestPassword)
	if err != nil {
		t.Fatal(err)
	}
	m := staffMember{Email: email, Role: role, Secret: en.Secret}
	if err := ts.staffSvc.EnrolConfirm(t.Context(), token, ts.code(t, m)); err != nil {
		t.Fatal(err)
	}
	return m
}

// staffTestName is the display name test staff choose at enrolment:
// "Colleague one" for one@corp.example.
func staffTestName(email string) string {
	local, _, _ := strings.Cut(email, "@")
	return "Colleague " + local
}

// staffSession signs a staff member in through the service (password and
// code) and returns the session token and principal.
func (ts *testServer) staffSession(t *testing.T, m staffMember) (string, staffsvc.Principal) {
	t.Helper()
	_, pending, err := ts.staffSvc.SignIn(t.Context(), m.Email, staffTestPassword)
	if err != nil {
		t.Fatal(err)
	}
	token, p, err := ts.staffSvc.SecondFactor(t.Context(), pending, ts.code(t, m))
	if err != nil {
		t.Fatal(err)
	}
	return token, p
}

// console is a cookie-keeping client of the staff listener that does not
// follow redirects. Its cookie jar is shared by host, as a browser's is:
// the customer site's cookies (another port, same host) reach it too.
type console struct {
	t      *testing.T
	ts     *testServer
	client *http.Client
}

func (ts *testServer) console(t *testing.T) *console {
	jar, _ := cookiejar.New(nil)
	return &console{t: t, ts: ts, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is a response with its body read.
type page struct {
	*http.Response
	Body string
}

// token is the first form token on the page.
func (p page) token() string {
	if m := csrfRe.FindStringSubmatch(p.Body); m != nil {
		return m[1]
	}
	return ""
}

func (c *console) send(req *http.Request) page {
	c.t.Helper()
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return page{Response: resp, Body: string(b)}
}

func (c *console) get(path string) page {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), "GET", c.ts.staff.URL+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.send(req)
}

// post submits a form; header adds headers (e.g. Sec-Fetch-Site).
func (c *console) post(path string, form url.Values, header ...string) page {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), "POST", c.ts.staff.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.send(req)
}

func (c *console) cookie(name string) string {
	u, _ := url.Parse(c.ts.staff.URL)
	for _, ck := range c.client.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func (c *console) setCookie(name, value string) {
	u, _ := url.Parse(c.ts.staff.URL)
	c.client.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// signIn signs in through the pages, password then code, and returns the
// dashboard's form token.
func (c *console) signIn(m staffMember) string {
	c.t.Helper()
	tok := c.get("/login").token()
	resp := c.post("/login", url.Values{"csrf_token": {tok}, "email": {m.Email}, "password": {staffTestPassword}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login/code" {
		c.t.Fatalf("staff password step: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	codePage := c.get("/login/code")
	if codePage.StatusCode != 200 {
		c.t.Fatalf("code page: %d", codePage.StatusCode)
	}
	resp = c.post("/login/code", url.Values{"csrf_token": {codePage.token()}, "code": {c.ts.code(c.t, m)}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
		c.t.Fatalf("staff code step: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	home := c.get("/")
	if home.StatusCode != 200 {
		c.t.Fatalf("dashboard after sign-in: %d", home.StatusCode)
	}
	return home.token()
}

var phoneOptionRe = regexp.MustCompile(`<option value="phone:([A-Z2-7]{26})">`)
