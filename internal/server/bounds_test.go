package server

import (
	"database/sql"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/testutil"
)

// Bounds on growth (limits.go): per customer collections, sessions and app
// sign-ins, sign-ups and unsolicited mail per client network, and the
// outbox's ceiling.

// registerFrom registers through the API from a client address (through
// the trusted proxy).
func (ts *testServer) registerFrom(t *testing.T, ip, email string) response {
	t.Helper()
	body := fmt.Sprintf(`{"email":%q,"password":%q,"name":"Flood"}`, email, testPassword)
	return ts.do(t, ts.site, "POST", "/api/v1/auth/register", strings.NewReader(body), "Content-Type", "application/json", "X-Forwarded-For", ip)
}

// forgotFrom asks for a reset link from a client address.
func (ts *testServer) forgotFrom(t *testing.T, ip, email string) response {
	t.Helper()
	body := fmt.Sprintf(`{"email":%q}`, email)
	return ts.do(t, ts.site, "POST", "/api/v1/auth/password/forgot", strings.NewReader(body), "Content-Type", "application/json", "X-Forwarded-For", ip)
}

// rateLimited checks a 429: a problem document with a positive Retry-After.
func rateLimited(t *testing.T, r response) {
	t.Helper()
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", r.StatusCode, r.body)
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q, want a positive number of seconds", r.Header.Get("Retry-After"))
	}
	if p := r.problem(t); p.Type != "urn:resguardo:problem:rate_limited" {
		t.Errorf("problem type %q", p.Type)
	}
}

// tableCounts counts the rows a refused request must not add.
func tableCounts(t *testing.T, db *sql.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"customers", "outbox", "email_tokens", "audit_log", "customer_phones", "customer_addresses", "web_sessions", "token_families"} {
		out[table] = count(t, db, `SELECT COUNT(*) FROM `+table)
	}
	return out
}

// A registration flood from one network ends in 429 at the bound, whether
// or not the addresses are taken (the same answers in the same order), and
// leaves as many accounts and messages as the bound allows, no more. A
// refused registration writes nothing; another network is not affected;
// after the window the network may register again.
func TestRegistrationFloodEndsIn429(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b, withTrustedProxies("127.0.0.1/32"))
		db := testutil.RawDB(t, ts.env.DSN, ts.env.DataDir)
		const extra = 15
		flood := func(ip string, email func(i int) string) []int {
			var codes []int
			for i := range resguardo.SignUpsPerNetwork + extra {
				r := ts.registerFrom(t, ip, email(i))
				if i >= resguardo.SignUpsPerNetwork {
					rateLimited(t, r)
				}
				codes = append(codes, r.StatusCode)
			}
			return codes
		}
		fresh := flood("203.0.113.7", func(i int) string { return fmt.Sprintf("new%d@example.com", i) })
		for i, c := range fresh {
			if want := map[bool]int{true: 202, false: 429}[i < resguardo.SignUpsPerNetwork]; c != want {
				t.Fatalf("registration %d from one address: %d, want %d (all: %v)", i+1, c, want, fresh)
			}
		}
		after := tableCounts(t, db)
		if after["customers"] != resguardo.SignUpsPerNetwork || after["outbox"] != resguardo.SignUpsPerNetwork {
			t.Errorf("after %d registrations: %d accounts and %d queued messages, want %d of each",
				resguardo.SignUpsPerNetwork+extra, after["customers"], after["outbox"], resguardo.SignUpsPerNetwork)
		}

		// The same flood of one taken address from another network: the
		// same answers, so the bound says nothing about which addresses
		// have accounts. The owner gets at most three notices an hour.
		taken := flood("198.51.100.20", func(int) string { return "new0@example.com" })
		if fmt.Sprint(taken) != fmt.Sprint(fresh) {
			t.Errorf("answers differ for a taken address:\nfresh %v\ntaken %v", fresh, taken)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM customers`); n != resguardo.SignUpsPerNetwork {
			t.Errorf("%d accounts after registering a taken address", n)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM outbox`); n != resguardo.SignUpsPerNetwork+3 {
			t.Errorf("%d queued messages, want %d verifications and 3 notices to the owner", n, resguardo.SignUpsPerNetwork)
		}

		// IPv6: one /64 is one network, the next /64 another.
		for i := range resguardo.SignUpsPerNetwork {
			ip := fmt.Sprintf("2001:db8:1:2::%x", i+1)
			if r := ts.registerFrom(t, ip, fmt.Sprintf("six%d@example.com", i)); r.StatusCode != 202 {
				t.Fatalf("registration %d from %s: %d", i+1, ip, r.StatusCode)
			}
		}
		rateLimited(t, ts.registerFrom(t, "2001:db8:1:2:ffff::1", "six-more@example.com"))
		if r := ts.registerFrom(t, "2001:db8:1:3::1", "next64@example.com"); r.StatusCode != 202 {
			t.Errorf("a registration from the next /64: %d", r.StatusCode)
		}

		// A refused registration writes nothing, through the page as well,
		// which answers 429 with Retry-After.
		before := tableCounts(t, db)
		rateLimited(t, ts.registerFrom(t, "203.0.113.7", "one-more@example.com"))
		br := ts.browser(t)
		_, _, tok := br.get("/register")
		resp, body := br.postPage("/register", url.Values{"csrf_token": {tok}, "email": {"web-more@example.com"}, "password": {testPassword}, "name": {"Web"}},
			"X-Forwarded-For", "203.0.113.7")
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(html.UnescapeString(body), messages["en"]["error.429"]) {
			t.Errorf("registration page past the bound: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if got := tableCounts(t, db); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("refused registrations changed the database:\nbefore %v\nafter  %v", before, got)
		}

		// Delivered mail is what was queued: one message per accepted
		// registration, three notices, nothing for the refused ones.
		if msgs := ts.env.DeliverMail(t); len(msgs) != 2*resguardo.SignUpsPerNetwork+1+3 {
			t.Errorf("%d messages sent, want %d", len(msgs), 2*resguardo.SignUpsPerNetwork+1+3)
		}

		// After the window the network may register again.
		ts.env.Clock.Advance(resguardo.SignUpWindow + time.Second)
		if r := ts.registerFrom(t, "203.0.113.7", "next-hour@example.com"); r.StatusCode != 202 {
			t.Errorf("registration an hour later: %d", r.StatusCode)
		}
	})
}

// Password-reset requests count per network too, whether or not the
// address has an account, and share the bound with registrations: each of
// them mails someone who did not ask for it.
func TestUnsolicitedMailBoundPerNetwork(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b, withTrustedProxies("127.0.0.1/32"))
		ts.signUp(t, "owner@example.com", "Owner")
		db := testutil.RawDB(t, ts.env.DSN, ts.env.DataDir)
		const ip = "192.0.2.44"
		for i := range resguardo.SignUpsPerNetwork {
			if r := ts.registerFrom(t, ip, fmt.Sprintf("r%d@example.com", i)); r.StatusCode != 202 {
				t.Fatalf("registration %d: %d", i+1, r.StatusCode)
			}
		}
		left := resguardo.UnsolicitedMailPerNetwork - resguardo.SignUpsPerNetwork
		for i := range left {
			email := "nobody@example.com"
			if i%2 == 0 {
				email = "owner@example.com"
			}
			if r := ts.forgotFrom(t, ip, email); r.StatusCode != 202 {
				t.Fatalf("reset request %d: %d", i+1, r.StatusCode)
			}
		}
		ts.env.Accounts.Wait()
		before := tableCounts(t, db)
		for _, email := range []string{"owner@example.com", "nobody@example.com"} {
			rateLimited(t, ts.forgotFrom(t, ip, email))
		}
		br := ts.browser(t)
		_, _, tok := br.get("/password/forgot")
		if resp := br.post("/password/forgot", url.Values{"csrf_token": {tok}, "email": {"owner@example.com"}}, "X-Forwarded-For", ip); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("reset page past the bound: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		ts.env.Accounts.Wait()
		if got := tableCounts(t, db); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("refused reset requests changed the database:\nbefore %v\nafter  %v", before, got)
		}
		if r := ts.forgotFrom(t, "192.0.2.45", "owner@example.com"); r.StatusCode != 202 {
			t.Errorf("a reset request from another address: %d", r.StatusCode)
		}
	})
}

// While the outbox holds its ceiling of unsent messages, requests that
// would add unsolicited mail are answered 429 and add nothing; mail the
// customer caused (a password change notice) still queues, and once the
// queue drains registrations are taken again.
func TestOutboxCeilingRefusesUnsolicitedMail(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "queued@example.com", "Queued")
		id := customerID(t, ts, "queued@example.com")
		db := testutil.RawDB(t, ts.env.DSN, ts.env.DataDir)
		tx, err := db.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		waiting := count(t, db, `SELECT COUNT(*) FROM outbox`)
		for i := waiting; i < resguardo.OutboxCeiling; i++ {
			if _, err := tx.ExecContext(t.Context(), `INSERT INTO outbox (id, customer_id, sealed, created_at, attempts, next_attempt_at) VALUES (?, ?, ?, 0, 0, ?)`,
				fmt.Sprintf("FILL%022d", i), id, []byte("x"), ts.env.Clock.Now().Add(time.Hour).Unix()); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		before := tableCounts(t, db)
		rateLimited(t, ts.apiCall(t, "POST", "/api/v1/auth/register", "", map[string]string{"email": "late@example.com", "password": testPassword, "name": "Late"}, nil))
		rateLimited(t, ts.apiCall(t, "POST", "/api/v1/auth/register", "", map[string]string{"email": "queued@example.com", "password": testPassword, "name": "Again"}, nil))
		rateLimited(t, ts.apiCall(t, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": "queued@example.com"}, nil))
		ts.env.Accounts.Wait()
		if got := tableCounts(t, db); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("refused requests changed the database:\nbefore %v\nafter  %v", before, got)
		}
		if r := ts.apiCall(t, "POST", "/api/v1/me/password", tk.AccessToken, map[string]string{"current_password": testPassword, "new_password": "another horse battery staple"}, nil); r.StatusCode != 204 {
			t.Fatalf("password change: %d %s", r.StatusCode, r.body)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM outbox`); n != resguardo.OutboxCeiling+1 {
			t.Errorf("the password change notice was not queued: %d waiting", n)
		}
		if _, err := db.ExecContext(t.Context(), `DELETE FROM outbox WHERE id LIKE 'FILL%'`); err != nil {
			t.Fatal(err)
		}
		if r := ts.apiCall(t, "POST", "/api/v1/auth/register", "", map[string]string{"email": "late@example.com", "password": testPassword, "name": "Late"}, nil); r.StatusCode != 202 {
			t.Errorf("registration once the queue drained: %d", r.StatusCode)
		}
	})
}

// An address flood through the API ends at the bound with 409 naming the
// collection, changes nothing, and the profile stays small. The same for
// phone numbers.
func TestAddressFloodEndsAtBound(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "flood@example.com", "Flood")
		db := testutil.RawDB(t, ts.env.DSN, ts.env.DataDir)
		long := strings.Repeat("Calle muy larga ", 12)
		for i := range resguardo.MaxAddresses + 10 {
			r := ts.apiCall(t, "POST", "/api/v1/me/addresses", tk.AccessToken,
				map[string]string{"label": fmt.Sprint("casa ", i), "line1": long[:190], "line2": long[:190], "city": "Madrid", "region": "Madrid", "postal_code": "28013", "country": "ES"}, nil)
			if i < resguardo.MaxAddresses {
				if r.StatusCode != 201 {
					t.Fatalf("address %d: %d %s", i+1, r.StatusCode, r.body)
				}
				continue
			}
			if r.StatusCode != 409 {
				t.Fatalf("address %d past the bound: %d %s", i+1, r.StatusCode, r.body)
			}
			if p := r.problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "addresses" || !strings.Contains(p.Detail, strconv.Itoa(resguardo.MaxAddresses)) {
				t.Errorf("address past the bound: %+v", p)
			}
			if i == resguardo.MaxAddresses {
				before := tableCounts(t, db)
				ts.apiCall(t, "POST", "/api/v1/me/addresses", tk.AccessToken, map[string]string{"line1": "Otra 1", "city": "Madrid", "country": "ES"}, nil)
				if got := tableCounts(t, db); fmt.Sprint(got) != fmt.Sprint(before) {
					t.Errorf("a refused address changed the database:\nbefore %v\nafter  %v", before, got)
				}
			}
		}
		for i := range resguardo.MaxPhones + 3 {
			r := ts.apiCall(t, "POST", "/api/v1/me/phones", tk.AccessToken, map[string]string{"number": fmt.Sprintf("+3461200%04d", i)}, nil)
			want := 201
			if i >= resguardo.MaxPhones {
				want = 409
			}
			if r.StatusCode != want {
				t.Fatalf("phone %d: %d %s, want %d", i+1, r.StatusCode, r.body, want)
			}
			if want == 409 {
				if p := r.problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "phones" {
					t.Errorf("phone past the bound: %+v", p)
				}
			}
		}
		var profile me
		r := ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, &profile)
		if r.StatusCode != 200 || len(profile.Addresses) != resguardo.MaxAddresses || len(profile.Phones) != resguardo.MaxPhones {
			t.Fatalf("profile: %d, %d addresses, %d phones", r.StatusCode, len(profile.Addresses), len(profile.Phones))
		}
		// Ten long addresses and ten numbers: a few KiB, whatever was sent.
		if len(r.body) > 8<<10 {
			t.Errorf("GET /me is %d bytes at the bounds", len(r.body))
		}
		// Removing one makes room for one.
		if r := ts.apiCall(t, "DELETE", "/api/v1/me/addresses/"+profile.Addresses[0].ID, tk.AccessToken, nil, nil); r.StatusCode != 204 {
			t.Fatalf("delete address: %d", r.StatusCode)
		}
		if r := ts.apiCall(t, "POST", "/api/v1/me/addresses", tk.AccessToken, map[string]string{"line1": "Nueva 1", "city": "Madrid", "country": "ES"}, nil); r.StatusCode != 201 {
			t.Errorf("add after a removal: %d %s", r.StatusCode, r.body)
		}
		// The contract states the bounds it answers with.
		for path, bound := range map[string]int{"/api/v1/me/phones": resguardo.MaxPhones, "/api/v1/me/addresses": resguardo.MaxAddresses} {
			if !strings.Contains(ts.api.doc.Paths.Value(path).Post.Summary, "At most "+strconv.Itoa(bound)) {
				t.Errorf("the OpenAPI summary of POST %s does not state the bound", path)
			}
		}
	})
}

// The account page and the staff console refuse an add past the bound with
// 409 and a message naming the bound, and change nothing.
func TestCollectionBoundOnPagesAndConsole(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "pages@example.com", "Pages")
		id := customerID(t, ts, "pages@example.com")
		db := testutil.RawDB(t, ts.env.DSN, ts.env.DataDir)
		for i := range resguardo.MaxAddresses {
			if r := ts.apiCall(t, "POST", "/api/v1/me/addresses", tk.AccessToken, map[string]string{"line1": fmt.Sprint("Calle ", i), "city": "Madrid", "country": "ES"}, nil); r.StatusCode != 201 {
				t.Fatalf("address %d: %d", i+1, r.StatusCode)
			}
		}
		for i := range resguardo.MaxPhones {
			if r := ts.apiCall(t, "POST", "/api/v1/me/phones", tk.AccessToken, map[string]string{"number": fmt.Sprintf("+3461300%04d", i)}, nil); r.StatusCode != 201 {
				t.Fatalf("phone %d: %d", i+1, r.StatusCode)
			}
		}
		before := tableCounts(t, db)

		br := ts.browser(t)
		if r := br.signIn("pages@example.com", testPassword, ""); r.StatusCode != 303 {
			t.Fatalf("sign-in: %d", r.StatusCode)
		}
		_, _, tok := br.get("/account")
		before["web_sessions"]++ // the browser's own session
		for path, form := range map[string]url.Values{
			"/account/addresses": {"csrf_token": {tok}, "line1": {"Calle Web 1"}, "city": {"Madrid"}, "country": {"ES"}},
			"/account/phones":    {"csrf_token": {tok}, "number": {"+34699999999"}},
		} {
			resp, body := br.postPage(path, form)
			key := "error.field.addresses"
			if path == "/account/phones" {
				key = "error.field.phones"
			}
			if resp.StatusCode != 409 || !strings.Contains(html.UnescapeString(body), messages["en"][key]) {
				t.Errorf("POST %s past the bound: %d", path, resp.StatusCode)
			}
		}

		c := ts.console(t)
		lead := ts.newStaff(t, "lead@corp.example", resguardo.RoleLead)
		stok := c.signIn(lead)
		for path, form := range map[string]url.Values{
			"/customers/" + id + "/addresses": {"csrf_token": {stok}, "line1": {"Calle Staff 1"}, "city": {"Madrid"}, "country": {"ES"}},
			"/customers/" + id + "/phones":    {"csrf_token": {stok}, "number": {"+34688888888"}},
		} {
			p := c.post(path, form)
			key := "staff.error.field.addresses"
			if strings.HasSuffix(path, "/phones") {
				key = "staff.error.field.phones"
			}
			if p.StatusCode != 409 || !strings.Contains(html.UnescapeString(p.Body), messages["en"][key]) {
				t.Errorf("staff POST %s past the bound: %d", path, p.StatusCode)
			}
		}
		got := tableCounts(t, db)
		got["audit_log"], before["audit_log"] = 0, 0 // sign-ins and views are audited
		if fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("refused adds changed the database:\nbefore %v\nafter  %v", before, got)
		}
		for _, msg := range []string{messages["en"]["error.field.phones"], messages["es"]["error.field.addresses"], messages["en"]["staff.error.field.phones"]} {
			if !strings.Contains(msg, strconv.Itoa(resguardo.MaxPhones)) {
				t.Errorf("message %q does not state the bound", msg)
			}
		}
	})
}

// Concurrent adds at one below the bound: exactly one gets in, on both
// databases (the count is taken under the customer's row lock).
func TestConcurrentAddsCannotPassBound(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "race@example.com", "Race")
		id := customerID(t, ts, "race@example.com")
		db := testutil.RawDB(t, ts.env.DSN, ts.env.DataDir)
		for i := range resguardo.MaxPhones - 1 {
			if r := ts.apiCall(t, "POST", "/api/v1/me/phones", tk.AccessToken, map[string]string{"number": fmt.Sprintf("+3461400%04d", i)}, nil); r.StatusCode != 201 {
				t.Fatalf("phone %d: %d", i+1, r.StatusCode)
			}
		}
		for i := range resguardo.MaxAddresses - 1 {
			if r := ts.apiCall(t, "POST", "/api/v1/me/addresses", tk.AccessToken, map[string]string{"line1": fmt.Sprint("Calle ", i), "city": "Madrid", "country": "ES"}, nil); r.StatusCode != 201 {
				t.Fatalf("address %d: %d", i+1, r.StatusCode)
			}
		}
		const racers = 8
		var mu sync.Mutex
		outcomes := map[string]map[string]int{"phones": {}, "addresses": {}}
		record := func(what string, err error) {
			mu.Lock()
			defer mu.Unlock()
			code := resguardo.ErrorCode(err)
			if code == "" {
				code = "added"
			}
			outcomes[what][code]++
		}
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				_, err := ts.env.Accounts.AddPhone(t.Context(), resguardo.CustomerActor(id), id, "", fmt.Sprintf("+3461500%04d", i))
				record("phones", err)
			})
			wg.Go(func() {
				_, err := ts.env.Accounts.AddAddress(t.Context(), resguardo.CustomerActor(id), id, resguardo.Address{Line1: fmt.Sprint("Carrera ", i), City: "Madrid", Country: "ES"})
				record("addresses", err)
			})
		}
		wg.Wait()
		for what, o := range outcomes {
			if o["added"] != 1 || o[resguardo.EConflict] != racers-1 {
				t.Errorf("%d concurrent adds of %s at the bound minus one: %v; want one added and %d conflicts", racers, what, o, racers-1)
			}
		}
		if n := count(t, db, `SELECT COUNT(*) FROM customer_phones WHERE customer_id = ?`, id); n != resguardo.MaxPhones {
			t.Errorf("%d phones, want %d", n, resguardo.MaxPhones)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM customer_addresses WHERE customer_id = ?`, id); n != resguardo.MaxAddresses {
			t.Errorf("%d addresses, want %d", n, resguardo.MaxAddresses)
		}
	})
}

// App sign-ins past the bound end the least recently used one, never the
// new sign-in: the owner's app in use keeps working, the newest sign-ins
// work, the customer sees each one ended in the access log, and concurrent
// sign-ins do not pass the bound.
func TestAppSignInBoundEvictsLeastRecentlyUsed(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		owner := ts.signUp(t, "many@example.com", "Many")
		id := customerID(t, ts, "many@example.com")
		db := testutil.RawDB(t, ts.env.DSN, ts.env.DataDir)
		ts.env.Clock.Advance(2 * time.Minute)
		var old []tokens
		for range resguardo.MaxAppSignIns - 1 {
			old = append(old, ts.login(t, "many@example.com", testPassword))
		}
		ts.env.Clock.Advance(2 * time.Minute)
		if r := ts.apiCall(t, "GET", "/api/v1/me", owner.AccessToken, nil, nil); r.StatusCode != 200 { // the owner's app, in use
			t.Fatalf("owner's app: %d", r.StatusCode)
		}
		ts.env.Clock.Advance(2 * time.Minute)
		const more = 5
		var fresh []tokens
		for range more {
			fresh = append(fresh, ts.login(t, "many@example.com", testPassword))
		}
		if n := count(t, db, `SELECT COUNT(*) FROM token_families WHERE customer_id = ?`, id); n != resguardo.MaxAppSignIns {
			t.Errorf("%d app sign-ins, want the bound %d", n, resguardo.MaxAppSignIns)
		}
		live := func(tk tokens) bool {
			return ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, nil).StatusCode == 200
		}
		if !live(owner) {
			t.Error("the owner's app in use was ended by new sign-ins")
		}
		for i, tk := range fresh {
			if !live(tk) {
				t.Errorf("new sign-in %d does not work", i+1)
			}
		}
		ended := 0
		for _, tk := range old {
			if !live(tk) {
				ended++
			}
		}
		if ended != more {
			t.Errorf("%d of the least recently used sign-ins ended, want %d", ended, more)
		}
		var log accessLogPage
		ts.apiCall(t, "GET", "/api/v1/me/access-log", owner.AccessToken, nil, &log)
		if n := countActions(log.Entries, resguardo.ActSessionRevoked); n != more {
			t.Errorf("access log shows %d sessions ended, want %d", n, more)
		}

		// Concurrent sign-ins at the bound: every one succeeds, none passes
		// the bound.
		codes := ts.concurrentSignIns(t, "many@example.com", 8, 4)
		if codes[200] == 0 || codes[200]+codes[429] != 32 { // 429: the sign-in throttle, as ever
			t.Errorf("32 concurrent sign-ins at the bound: %v, want 200 (or the throttle's 429), never an error", codes)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM token_families WHERE customer_id = ?`, id); n != resguardo.MaxAppSignIns {
			t.Errorf("%d app sign-ins after concurrent sign-ins, want %d", n, resguardo.MaxAppSignIns)
		}
	})
}

// Browser sessions past the bound end the least recently used; the owner
// can always sign in, and the browser in use stays signed in.
func TestWebSessionBoundEvictsLeastRecentlyUsed(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		ts.signUp(t, "browsers@example.com", "Browsers")
		id := customerID(t, ts, "browsers@example.com")
		db := testutil.RawDB(t, ts.env.DSN, ts.env.DataDir)
		signedIn := func() *browser {
			br := ts.browser(t)
			if r := br.signIn("browsers@example.com", testPassword, ""); r.StatusCode != 303 || r.Header.Get("Location") != "/account" {
				t.Fatalf("browser sign-in: %d → %q", r.StatusCode, r.Header.Get("Location"))
			}
			return br
		}
		live := func(br *browser) bool {
			code, _, _ := br.get("/account")
			return code == 200
		}
		first := signedIn() // signed in first, then idle
		ts.env.Clock.Advance(2 * time.Minute)
		inUse := signedIn()
		for range resguardo.MaxWebSessions - 2 {
			signedIn()
		}
		ts.env.Clock.Advance(2 * time.Minute)
		if !live(inUse) { // touches it: now the most recently used of the old ones
			t.Fatal("browser in use signed out before the bound")
		}
		newest := signedIn()
		if n := count(t, db, `SELECT COUNT(*) FROM web_sessions WHERE customer_id = ?`, id); n != resguardo.MaxWebSessions {
			t.Errorf("%d web sessions, want the bound %d", n, resguardo.MaxWebSessions)
		}
		if live(first) {
			t.Error("the least recently used session survived a sign-in at the bound")
		}
		if !live(inUse) || !live(newest) {
			t.Error("the browser in use or the newest sign-in was signed out")
		}
	})
}
