package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/resguardo/resguardo"
	staffsvc "github.com/resguardo/resguardo/internal/staff"
	"github.com/resguardo/resguardo/internal/testutil"
)

// The request fuzzer: a deterministic, bounded fuzzer of every API
// operation (generated from the served OpenAPI document) and of every form
// of the customer site and the staff console (found by reading the pages
// as a guest, a customer, a lead and an administrator). Each field gets
// malformed, oversized, wrong-type, Unicode-edge and injection values, one
// field at a time over a valid example. The oracle: no 5xx, every API
// answer matches the contract, and a refused (4xx) request changes nothing
// in the database. It runs the regression corpus first
// (testdata/fuzz-regressions.json), then a fixed seed, then a rotating one
// (the date, or RESGUARDO_FUZZ_SEED to replay a failure).

const (
	fuzzSeedEnv         = "RESGUARDO_FUZZ_SEED"
	fuzzFixedSeed       = 13
	fuzzRegressionsFile = "testdata/fuzz-regressions.json"
	// The rotating seed's pass samples: this many values per field and
	// cases about the request as a whole per operation or form.
	fuzzSampledPerField = 1
	fuzzSampledWhole    = 2
)

// knownFailure is a failure the fuzzer finds whose fix is made elsewhere.
// The list must stay small and explicit: each entry names its finding, and
// an allow-listed regression case that passes fails the test, so that the
// entry is removed once the fix is in.
type knownFailure struct {
	finding string
	matches func(c fuzzCase, status int) bool
}

// knownFailures is empty: the one entry it held (issue 13, finding 4, a
// malformed e-mail at customer sign-in answered 500) was removed when the
// sign-in fix landed; its regression cases now pass as ordinary cases.
var knownFailures = []knownFailure{}

func knownFailureOf(c fuzzCase, status int) string {
	for _, k := range knownFailures {
		if k.matches(c, status) {
			return k.finding
		}
	}
	return ""
}

// fuzzCase is one request. Regression entries in testdata have the same
// shape; paths and forms may hold {customer_id}, {phone_id},
// {address_id}, {session_id} and {random_id}, and forms {csrf}, the
// form token of the client's session.
type fuzzCase struct {
	Name        string `json:"name"`
	Finding     string `json:"finding,omitempty"`
	Surface     string `json:"surface"` // site or staff
	As          string `json:"as"`      // guest, customer, lead, admin
	Method      string `json:"method"`
	Path        string `json:"path"`
	ContentType string `json:"content_type,omitempty"`
	Body        string `json:"body,omitempty"`
	BodyBase64  string `json:"body_base64,omitempty"`
	Form        string `json:"form,omitempty"` // URL-encoded
	Want        string `json:"want,omitempty"` // 2xx, 3xx or 4xx
	// Generated cases only: where the value went, for messages and the
	// allow-list.
	Target string `json:"target,omitempty"`
	Field  string `json:"field,omitempty"`
	Value  string `json:"value,omitempty"`

	body  []byte
	whole bool // about the request as a whole, not one field
}

func (c *fuzzCase) setBody(b []byte) {
	c.body = b
	if utf8.Valid(b) {
		c.Body, c.BodyBase64 = string(b), ""
	} else {
		c.Body, c.BodyBase64 = "", base64.StdEncoding.EncodeToString(b)
	}
}

func (c fuzzCase) rawBody() []byte {
	if c.body != nil {
		return c.body
	}
	if c.BodyBase64 != "" {
		b, _ := base64.StdEncoding.DecodeString(c.BodyBase64)
		return b
	}
	if c.Form != "" {
		return []byte(c.Form)
	}
	return []byte(c.Body)
}

// asJSON is the case as a regression entry, for failure messages.
func (c fuzzCase) asJSON() string {
	if len(c.Body) > 300 || len(c.BodyBase64) > 400 || len(c.Form) > 400 {
		// Oversized cases: say the size, not the bytes.
		c.Body, c.BodyBase64, c.Form = fmt.Sprintf("[%d bytes]", len(c.rawBody())), "", ""
	}
	b, _ := json.Marshal(c)
	return string(b)
}

func TestRequestFuzz(t *testing.T) {
	if testing.Short() {
		t.Skip("the request fuzzer sends thousands of requests")
	}
	rotating, fromEnv := rotatingSeed(t)
	replay := fmt.Sprintf("%s=%d go test -count=1 -run TestRequestFuzz ./internal/server", fuzzSeedEnv, rotating)
	t.Logf("request fuzzer: fixed seed %d, rotating seed %d (%s); replay: %s", fuzzFixedSeed, rotating,
		map[bool]string{true: "from " + fuzzSeedEnv, false: "from the date"}[fromEnv], replay)
	corpus := loadRegressions(t)
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		start := time.Now()
		f := newFuzzer(t, bk, rotating)
		t.Logf("%s: set-up (server, principals, the crawl of the pages) in %s", bk.Name, time.Since(start).Round(time.Millisecond))
		f.runRegressions(corpus)
		seeds := []uint64{fuzzFixedSeed}
		if rotating != fuzzFixedSeed {
			seeds = append(seeds, rotating)
		}
		for _, seed := range seeds {
			f.pass(seed)
		}
		t.Logf("%s: %d requests (%d regression cases) in %s (requests %s, state snapshots %s); seeds fixed %d, rotating %d",
			bk.Name, f.sent, len(corpus), time.Since(start).Round(time.Millisecond), f.inRequests.Round(time.Millisecond),
			f.inSnapshots.Round(time.Millisecond), fuzzFixedSeed, rotating)
		for what, d := range f.spent {
			t.Logf("%s: %s in %s", bk.Name, what, d.Round(time.Millisecond))
		}
		if len(f.failures) > 0 {
			const show = 25
			msgs := f.failures
			if len(msgs) > show {
				msgs = msgs[:show]
			}
			t.Errorf("%d fuzz failures on %s (fixed seed %d, rotating seed %d; replay: %s); each line is a regression entry for %s:\n%s",
				len(f.failures), bk.Name, fuzzFixedSeed, rotating, replay, fuzzRegressionsFile, strings.Join(msgs, "\n"))
		}
	})
}

// rotatingSeed is RESGUARDO_FUZZ_SEED when set, else the date (UTC) as
// YYYYMMDD, so each day's CI runs try other values.
func rotatingSeed(t *testing.T) (uint64, bool) {
	if s := os.Getenv(fuzzSeedEnv); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer", fuzzSeedEnv, s)
		}
		return n, true
	}
	d := time.Now().UTC()
	return uint64(d.Year()*10000 + int(d.Month())*100 + d.Day()), false
}

func loadRegressions(t *testing.T) []fuzzCase {
	t.Helper()
	b, err := os.ReadFile(fuzzRegressionsFile)
	if err != nil {
		t.Fatalf("regression corpus: %v", err)
	}
	var cases []fuzzCase
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cases); err != nil {
		t.Fatalf("regression corpus %s: %v", fuzzRegressionsFile, err)
	}
	for _, c := range cases {
		if c.Name == "" || c.Finding == "" || c.Want == "" || c.Method == "" || !strings.HasPrefix(c.Path, "/") {
			t.Fatalf("regression case %+v: name, finding, want, method and path are required", c)
		}
	}
	return cases
}

// --- the fuzzer and its principals ---

type fuzzer struct {
	t        *testing.T
	ts       *testServer
	rotating uint64
	seed     uint64
	sampling bool // the rotating seed's pass: a sample of the values
	rng      *rand.Rand
	state    *stateReader
	before   dbState

	doc    *openapi3.T
	router routers.Router

	clients   map[string]*fuzzClient // by "surface as"
	cust      fuzzCustomer
	custDirty bool
	lead      staffMember
	admin     staffMember
	n         int // for fresh e-mail addresses
	ids       map[string]string
	forms     map[string]*formTarget // by key
	failures  []string
	sent      int
	// time spent sending cases and reading the database's state
	inRequests, inSnapshots time.Duration
	spent                   map[string]time.Duration
	knownSeen               map[string]bool
}

// fuzzClient is a cookie-keeping client of one listener for one principal.
type fuzzClient struct {
	surface, as string
	http        *http.Client
	csrf        string
	dirty       bool      // refresh the session and its form token first
	since       time.Time // sign-in, for the step-up window
}

type fuzzCustomer struct {
	email, access string
	loggedAt      time.Time
}

const bystanderEmail = "fuzz.bystander@example.com"

// stepUpMargin: principals sign in again after this long, inside the
// five-minute step-up window, so that handlers behind step-up are reached
// (staff sign-ins move the test clock on by 31 s each).
const stepUpMargin = 4 * time.Minute

func newFuzzer(t *testing.T, bk testutil.Backend, rotating uint64) *fuzzer {
	ts := newTestServerOn(t, bk, withTrustedProxies("127.0.0.0/8"))
	f := &fuzzer{t: t, ts: ts, rotating: rotating, seed: fuzzFixedSeed, rng: rand.New(rand.NewPCG(fuzzFixedSeed, 0)),
		clients: map[string]*fuzzClient{}, ids: map[string]string{}, forms: map[string]*formTarget{}, knownSeen: map[string]bool{}}
	f.state = newStateReader(t, ts.env)

	// The contract, as served.
	resp := ts.do(t, ts.site, "GET", "/api/v1/openapi.json", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/openapi.json: %d", resp.StatusCode)
	}
	doc, err := openapi3.NewLoader().LoadFromData(resp.body)
	if err != nil {
		t.Fatalf("served OpenAPI document: %v", err)
	}
	f.router = contractRouter(t, doc, ts.site.URL)
	f.doc = doc

	// A bystander customer (whose address the examples use, so that
	// mutated sign-ins never throttle the principal) and staff.
	ts.signUp(t, bystanderEmail, "Bystander")
	f.lead = ts.newStaff(t, "fuzz.lead@example.com", resguardo.RoleLead)
	f.admin = ts.newStaff(t, "fuzz.admin@example.com", resguardo.RoleAdmin)
	ts.newStaff(t, "fuzz.agent@example.com", resguardo.RoleAgent)
	f.ensureCustomer()
	for _, k := range []string{"site guest", "site customer", "staff guest", "staff lead", "staff admin"} {
		sf, as, _ := strings.Cut(k, " ")
		f.clients[k] = &fuzzClient{surface: sf, as: as, dirty: true}
		f.resetJar(f.clients[k])
	}
	// One four-eyes request waiting, so that the approvals page has forms.
	f.ensureClient(f.clients["staff lead"])
	f.discoverForms()
	return f
}

func (f *fuzzer) resetJar(c *fuzzClient) {
	jar, _ := cookiejar.New(nil)
	c.http = &http.Client{Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (f *fuzzer) fresh(prefix string) string {
	f.n++
	return fmt.Sprintf("fuzz.%s.%d@example.com", prefix, f.n)
}

// ensureCustomer makes sure the principal customer can be reached: a
// working, recently authenticated access token, one phone and one address
// (so that their paths lead to handlers). A customer the fuzzing locked,
// erased or whose password it changed is replaced by a new one.
func (f *fuzzer) ensureCustomer() {
	t, ts := f.t, f.ts
	if !f.custDirty && f.cust.access != "" && ts.env.Clock.Now().Sub(f.cust.loggedAt) < stepUpMargin {
		return
	}
	defer f.timed("keeping the customer signed in")()
	defer func() { f.custDirty = false }()
	f.before = nil // what follows writes (sign-ins, a new customer)
	for attempt := 0; ; attempt++ {
		if attempt > 3 {
			t.Fatal("fuzzer: cannot keep a signed-in customer")
		}
		if f.cust.access == "" || ts.env.Clock.Now().Sub(f.cust.loggedAt) >= stepUpMargin || !f.apiOK("/api/v1/me") {
			f.cust.access = ""
			if f.cust.email != "" {
				f.cust.access = f.apiLogin(f.cust.email)
			}
			if f.cust.access == "" {
				f.cust.email = f.fresh("customer")
				ts.signUp(t, f.cust.email, "Cliente Fuzz")
				f.cust.access = f.apiLogin(f.cust.email)
				if c := f.clients["site customer"]; c != nil {
					c.dirty = true
				}
			}
			f.cust.loggedAt = ts.env.Clock.Now()
			if f.cust.access == "" {
				continue
			}
		}
		var me struct {
			ID     string `json:"id"`
			Phones []struct {
				ID string `json:"id"`
			} `json:"phones"`
			Addresses []struct {
				ID string `json:"id"`
			} `json:"addresses"`
		}
		if r := f.apiGet("/api/v1/me", &me); r != 200 {
			continue
		}
		if len(me.Phones) == 0 {
			ts.apiCall(t, "POST", "/api/v1/me/phones", f.cust.access, map[string]string{"label": "móvil", "number": fmt.Sprintf("+34600%06d", f.rng.IntN(1000000))}, nil)
			continue
		}
		if len(me.Addresses) == 0 {
			ts.apiCall(t, "POST", "/api/v1/me/addresses", f.cust.access, map[string]string{"line1": "Calle Mayor 1", "city": "Madrid", "country": "ES"}, nil)
			continue
		}
		f.ids["customer_id"], f.ids["phone_id"], f.ids["address_id"] = me.ID, me.Phones[0].ID, me.Addresses[0].ID
		var ss []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		}
		f.ids["session_id"] = strings.Repeat("A", 26)
		if f.apiGet("/api/v1/me/sessions", &ss) == 200 {
			for _, s := range ss {
				if !s.Current {
					f.ids["session_id"] = s.ID
				}
			}
		}
		return
	}
}

func (f *fuzzer) apiLogin(email string) string {
	var tk tokens
	b, _ := json.Marshal(map[string]string{"email": email, "password": testPassword, "device_name": "fuzz"})
	req, _ := http.NewRequestWithContext(f.t.Context(), "POST", f.ts.site.URL+"/api/v1/auth/login", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	status, _, body := f.roundTrip(http.DefaultClient, req)
	if status != 200 || json.Unmarshal(body, &tk) != nil {
		return ""
	}
	return tk.AccessToken
}

func (f *fuzzer) apiOK(path string) bool { return f.apiGet(path, nil) == 200 }

func (f *fuzzer) apiGet(path string, out any) int {
	req, _ := http.NewRequestWithContext(f.t.Context(), "GET", f.ts.site.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+f.cust.access)
	status, _, body := f.roundTrip(http.DefaultClient, req)
	if out != nil && status == 200 {
		if err := json.Unmarshal(body, out); err != nil {
			f.t.Fatalf("GET %s: %v", path, err)
		}
	}
	return status
}

// roundTrip sends req from a random address of 198.18.0.0/15 (through the
// trusted-proxy header), so that the per-network guessing limits do not
// turn every later request into a 429 before it reaches its handler.
func (f *fuzzer) roundTrip(c *http.Client, req *http.Request) (int, http.Header, []byte) {
	n := f.rng.Uint32()
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.%d.%d.%d", 18+n>>24&1, n>>16&0xff, n>>8&0xff))
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("%s %s: read: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, resp.Header, body
}

func (f *fuzzer) base(surface string) string {
	if surface == "staff" {
		return f.ts.staff.URL
	}
	return f.ts.site.URL
}

func (f *fuzzer) get(c *fuzzClient, path string) (int, string) {
	req, _ := http.NewRequestWithContext(f.t.Context(), "GET", f.base(c.surface)+path, nil)
	status, _, body := f.roundTrip(c.http, req)
	return status, string(body)
}

var csrfValueRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// ensureClient signs a client's principal in again when it needs to, and
// reads its form token.
func (f *fuzzer) ensureClient(c *fuzzClient) {
	if !c.dirty {
		return
	}
	t := f.t
	f.before = nil // what follows may write (sign-ins)
	defer f.timed("keeping page sessions signed in")()
	switch c.surface + " " + c.as {
	case "site guest", "staff guest":
		f.resetJar(c)
		home := map[string]string{"site": "/login", "staff": "/login"}[c.surface]
		status, body := f.get(c, home)
		m := csrfValueRe.FindStringSubmatch(body)
		if status != 200 || m == nil {
			t.Fatalf("guest %s %s: %d, no form token", c.surface, home, status)
		}
		c.csrf = m[1]
	case "site customer":
		f.ensureCustomer()
		if status, body := f.get(c, "/account"); status == 200 && f.ts.env.Clock.Now().Sub(c.since) < stepUpMargin {
			if m := csrfValueRe.FindStringSubmatch(body); m != nil {
				c.csrf = m[1]
				break
			}
		}
		for attempt := 0; ; attempt++ {
			f.resetJar(c)
			_, body := f.get(c, "/login")
			m := csrfValueRe.FindStringSubmatch(body)
			if m == nil {
				t.Fatal("customer sign-in page has no form token")
			}
			form := url.Values{"csrf_token": {m[1]}, "email": {f.cust.email}, "password": {testPassword}}
			req, _ := http.NewRequestWithContext(t.Context(), "POST", f.ts.site.URL+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			status, _, _ := f.roundTrip(c.http, req)
			if status == 303 {
				break
			}
			if attempt > 0 {
				t.Fatalf("customer web sign-in: %d", status)
			}
			// Locked, or its password changed, with the app token still
			// valid: a new customer.
			f.custDirty, f.cust.email, f.cust.access = true, "", ""
			f.ensureCustomer()
		}
		c.since = f.ts.env.Clock.Now()
		status, body := f.get(c, "/account")
		m := csrfValueRe.FindStringSubmatch(body)
		if status != 200 || m == nil {
			t.Fatalf("customer /account after sign-in: %d", status)
		}
		c.csrf = m[1]
	case "staff lead", "staff admin":
		member := &f.lead
		if c.as == "admin" {
			member = &f.admin
		}
		if status, body := f.get(c, "/"); status == 200 && f.ts.env.Clock.Now().Sub(c.since) < stepUpMargin {
			if m := csrfValueRe.FindStringSubmatch(body); m != nil {
				c.csrf = m[1]
				break
			}
		}
		f.resetJar(c)
		token, _, ok := f.staffSignIn(*member)
		if !ok {
			// Disabled by the fuzzing (the admin's team forms): a new one.
			*member = f.ts.newStaff(t, f.fresh(c.as), member.Role)
			if token, _, ok = f.staffSignIn(*member); !ok {
				t.Fatalf("staff %s cannot sign in", c.as)
			}
		}
		c.since = f.ts.env.Clock.Now()
		u, _ := url.Parse(f.ts.staff.URL)
		c.http.Jar.SetCookies(u, []*http.Cookie{{Name: staffSessionCookie, Value: token, Path: "/"}})
		status, body := f.get(c, "/")
		m := csrfValueRe.FindStringSubmatch(body)
		if status != 200 || m == nil {
			t.Fatalf("staff %s dashboard: %d", c.as, status)
		}
		c.csrf = m[1]
	}
	c.dirty = false
}

func (f *fuzzer) staffSignIn(m staffMember) (string, staffsvc.Principal, bool) {
	ctx := f.t.Context()
	_, pending, err := f.ts.staffSvc.SignIn(ctx, m.Email, staffTestPassword)
	if err != nil {
		return "", staffsvc.Principal{}, false
	}
	token, p, err := f.ts.staffSvc.SecondFactor(ctx, pending, f.ts.code(f.t, m))
	if err != nil {
		return "", staffsvc.Principal{}, false
	}
	return token, p, true
}

// --- sending one case and judging its answer ---

var placeholderRe = regexp.MustCompile(`\{(customer_id|phone_id|address_id|session_id|random_id|csrf)\}`)

// resolve fills the placeholders of s.
func (f *fuzzer) resolve(s string, c *fuzzClient) string {
	return placeholderRe.ReplaceAllStringFunc(s, func(p string) string {
		switch name := p[1 : len(p)-1]; name {
		case "csrf":
			if c == nil {
				return p
			}
			return url.QueryEscape(c.csrf)
		case "random_id":
			return "Z" + strings.Repeat("A", 25)
		default:
			return f.ids[name]
		}
	})
}

// send runs one case and judges it. It returns the status.
func (f *fuzzer) send(c fuzzCase) int {
	t := f.t
	api := c.Surface == "site" && strings.HasPrefix(c.Path, "/api/")
	var client *fuzzClient
	if api {
		if c.As == "customer" {
			f.ensureCustomer()
		}
	} else {
		if client = f.clients[c.Surface+" "+c.As]; client == nil {
			t.Fatalf("case %s: no client for %s %s", c.Name, c.Surface, c.As)
		}
		f.ensureClient(client)
	}
	body := c.rawBody()
	if c.Form != "" {
		body = []byte(f.resolve(c.Form, client))
	}
	path := f.resolve(c.Path, client)
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), c.Method, f.base(c.Surface)+path, rd)
	if err != nil {
		f.fail(c, 0, "cannot build the request: %v", err)
		return 0
	}
	if c.ContentType != "" {
		req.Header.Set("Content-Type", c.ContentType)
	}
	if api && c.As == "customer" {
		req.Header.Set("Authorization", "Bearer "+f.cust.access)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if client != nil {
		hc = client.http
	}
	if f.before == nil {
		f.before = f.snapshot()
	}
	t0 := time.Now()
	status, header, respBody := f.roundTrip(hc, req)
	f.inRequests += time.Since(t0)
	f.sent++
	f.ts.env.Accounts.Wait() // mail queued after the answer belongs to this request
	t0 = time.Now()
	after := f.snapshot()
	f.inSnapshots += time.Since(t0)

	known := knownFailureOf(c, status)
	switch {
	case known != "":
		if !f.knownSeen[known] {
			t.Logf("known failure, allow-listed (%s): %s → %d", known, c.asJSON(), status)
		}
		f.knownSeen[known] = true
	case status >= 500:
		f.fail(c, status, "server error")
	case status >= 400:
		if changed := f.before.diff(after); len(changed) > 0 {
			f.fail(c, status, "a refused request changed the database: %s", strings.Join(changed, ", "))
		}
	}
	if api {
		if err := f.checkContract(req, status, header, respBody); err != nil {
			f.fail(c, status, "answer off the contract: %v", err)
		}
	}
	f.before = after
	f.afterAnswer(c, client, api, status)
	return status
}

// afterAnswer marks the principals an answer may have affected, to be
// checked (and signed in again, or replaced) before their next case. A
// success may have signed someone out, changed a password, locked or
// erased the customer or disabled a staff member; a 401 or 403 may mean a
// session or form token that is no longer valid.
func (f *fuzzer) afterAnswer(c fuzzCase, client *fuzzClient, api bool, status int) {
	switch {
	case status == 401 || status == 429 || status == 403 && c.Field != formTokenName:
		// The session or its form token may be stale.
		if client != nil {
			client.dirty = true
		}
		if api && c.As == "customer" {
			f.custDirty = true
		}
		return
	case status >= 400 || !sessionChangeRe.MatchString(c.Method+" "+c.Path):
		return
	}
	if client != nil {
		client.dirty = true
	}
	switch {
	case c.As == "customer" || c.Surface == "staff" && c.As == "lead":
		// The customer's own changes, or a lead's on the customer.
		f.custDirty = true
		f.clients["site customer"].dirty = true
	case c.Surface == "staff" && c.As == "admin":
		f.clients["staff lead"].dirty = true // disabled, or a role changed
	}
}

// sessionChangeRe matches the requests whose success may end or replace a
// session or form token, lock or erase the customer, remove a phone or an
// address the cases name, or disable a staff member.
var sessionChangeRe = regexp.MustCompile(`^DELETE |logout|password|email|session|lock|revoke|mfa|totp|erase|delete|reauth|login|disable|grant|enrol|register|reset|verify`)

// timed adds the time until the returned function runs to what's spent.
func (f *fuzzer) timed(what string) func() {
	start := time.Now()
	return func() {
		if f.spent == nil {
			f.spent = map[string]time.Duration{}
		}
		f.spent[what] += time.Since(start)
	}
}

func (f *fuzzer) snapshot() dbState {
	st, err := f.state.snapshot(f.t.Context())
	if err != nil {
		f.t.Fatalf("state snapshot: %v", err)
	}
	return st
}

func (f *fuzzer) fail(c fuzzCase, status int, format string, args ...any) {
	msg := fmt.Sprintf("seed %d: %s %s → %d: %s\n  %s", f.seed, c.Method, c.Path, status, fmt.Sprintf(format, args...), c.asJSON())
	f.failures = append(f.failures, msg)
}

// checkContract validates an API answer against the served document. A
// path the document does not know must still answer problem+json.
func (f *fuzzer) checkContract(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := f.router.FindRoute(req)
	if err != nil {
		if status >= 400 && header.Get("Content-Type") != "application/problem+json" {
			return fmt.Errorf("undocumented path answered %d %q, not problem+json", status, header.Get("Content-Type"))
		}
		return nil
	}
	// The request's body was sent; the validator needs only its headers.
	r2 := req.Clone(context.Background())
	r2.Body = http.NoBody
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r2, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(body)
	if err := undeclared4xx(route, req, status); err != nil {
		return err
	}
	return openapi3filter.ValidateResponse(f.t.Context(), in)
}

// --- the regression corpus ---

func (f *fuzzer) runRegressions(cases []fuzzCase) {
	for _, c := range cases {
		before := len(f.failures)
		status := f.send(c)
		if class := fmt.Sprintf("%dxx", status/100); class != c.Want {
			if known := knownFailureOf(c, status); known != "" {
				continue
			}
			f.fail(c, status, "regression %q: answered %s, want %s", c.Name, class, c.Want)
		}
		if c.Field != "" && knownFailureOf(c, http.StatusInternalServerError) != "" && status < 500 {
			f.fail(c, status, "regression %q is allow-listed as a known failure but passes now: remove its knownFailures entry", c.Name)
		}
		if len(f.failures) > before {
			f.t.Logf("regression case %q failed", c.Name)
		}
	}
}

// --- one pass: every API operation and every form ---

func (f *fuzzer) pass(seed uint64) {
	f.seed, f.sampling = seed, seed != fuzzFixedSeed
	f.rng = rand.New(rand.NewPCG(seed, seed^0x5eed))
	for _, c := range f.apiCases() {
		if status := f.send(c); c.As == "customer" && status == 401 {
			f.send(c) // once more with a fresh token
		}
	}
	keys := make([]string, 0, len(f.forms))
	for k := range f.forms {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, c := range f.budget(f.formCases(f.forms[k])) {
			if !f.refreshForm(f.forms[k]) {
				break
			}
			c.Path = f.forms[k].action
			c.Form = f.fillHidden(c.Form, f.forms[k])
			if c.Method == "GET" {
				c.Path += "?" + c.Form
				c.Form = ""
			}
			if status := f.send(c); c.As != "guest" && (status == 401 || status == 403 && c.Field != formTokenName) && f.refreshForm(f.forms[k]) {
				c.Path = f.forms[k].action
				f.send(c) // once more with a fresh session and token
			}
		}
	}
}

// pick returns up to n values of vs, chosen by the pass's seed.
func (f *fuzzer) pick(vs []fuzzValue, n int) []fuzzValue {
	if len(vs) <= n {
		return vs
	}
	idx := f.rng.Perm(len(vs))[:n]
	sort.Ints(idx)
	out := make([]fuzzValue, 0, n)
	for _, i := range idx {
		out = append(out, vs[i])
	}
	return out
}

// valuesForField chooses the pass's values for one field. The fixed seed
// tries one value of every category (the first malformed value of the
// field's kind, the most telling, and one of each other category); the
// rotating seed samples the whole pool.
func (f *fuzzer) valuesForField(kind string, maxLength int, json bool) []fuzzValue {
	if f.sampling {
		return f.pick(valuesFor(kind, maxLength, json), fuzzSampledPerField)
	}
	out := []fuzzValue{malformed(kind)[0]}
	out = append(out, f.pick(oversized(maxLength), 1)...)
	if json {
		out = append(out, f.pick(wrongType(), 1)...)
	}
	out = append(out, f.pick(unicodeEdges(), 1)...)
	out = append(out, f.pick(injections(), 1)...)
	return append(out, fuzzValue{Cat: "missing", Note: "field left out"})
}

// budget keeps, in a sampling pass, the valid example, the field cases and
// a few of the cases about the request as a whole.
func (f *fuzzer) budget(cases []fuzzCase) []fuzzCase {
	if !f.sampling {
		return cases
	}
	var out, whole []fuzzCase
	for i, c := range cases {
		if i == 0 || !c.whole {
			out = append(out, c)
		} else {
			whole = append(whole, c)
		}
	}
	return append(out, f.pickCases(whole, fuzzSampledWhole)...)
}

func (f *fuzzer) pickCases(cs []fuzzCase, n int) []fuzzCase {
	if len(cs) <= n {
		return cs
	}
	var out []fuzzCase
	for _, i := range f.rng.Perm(len(cs))[:n] {
		out = append(out, cs[i])
	}
	return out
}
