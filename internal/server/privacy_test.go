package server

import (
	"bytes"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
)

// exportOf fetches GET /api/v1/me/export (checked against the OpenAPI
// document by ts.do) and checks the headers of a download.
func (ts *testServer) exportOf(t *testing.T, access string) (exportDoc, response) {
	t.Helper()
	var doc exportDoc
	r := ts.apiCall(t, "GET", "/api/v1/me/export", access, nil, &doc)
	if r.StatusCode == 200 {
		checkDownloadHeaders(t, r.Header)
	}
	return doc, r
}

func checkDownloadHeaders(t *testing.T, h http.Header) {
	t.Helper()
	if got := h.Get("Content-Disposition"); got != `attachment; filename="resguardo-export.json"` {
		t.Errorf("Content-Disposition = %q", got)
	}
	if got := h.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
}

func countActions(entries []accessLogEntry, action string) int {
	n := 0
	for _, e := range entries {
		if e.Action == action {
			n++
		}
	}
	return n
}

// The export holds the profile, phones, addresses, a pending address,
// sessions and the access log; it needs step-up (a stale token gets 401
// reauthentication_required and nothing is recorded), and every export is
// recorded in the access log.
func TestExportNeedsStepUpAndHoldsTheCustomersData(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "export.me@example.com", "Exportación Pérez")
		for _, p := range []map[string]string{{"label": "móvil", "number": "+34 612 345 678"}, {"number": "+44 7911 123456"}} {
			if r := ts.apiCall(t, "POST", "/api/v1/me/phones", tk.AccessToken, p, nil); r.StatusCode != 201 {
				t.Fatalf("add phone: %d %s", r.StatusCode, r.body)
			}
		}
		addr := map[string]string{"label": "casa", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES"}
		if r := ts.apiCall(t, "POST", "/api/v1/me/addresses", tk.AccessToken, addr, nil); r.StatusCode != 201 {
			t.Fatalf("add address: %d %s", r.StatusCode, r.body)
		}
		if r := ts.apiCall(t, "POST", "/api/v1/me/email", tk.AccessToken, map[string]string{"email": "new.export@example.com"}, nil); r.StatusCode != 202 {
			t.Fatalf("email change: %d %s", r.StatusCode, r.body)
		}
		web := ts.browser(t)
		web.signIn("export.me@example.com", testPassword, "")
		var profile me
		ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, &profile)

		doc, r := ts.exportOf(t, tk.AccessToken)
		if r.StatusCode != 200 {
			t.Fatalf("export: %d %s", r.StatusCode, r.body)
		}
		numbers := map[string]string{}
		for _, p := range doc.Profile.Phones {
			numbers[p.Number] = p.Label
		}
		if doc.Profile.ID != profile.ID || doc.Profile.Email != "export.me@example.com" || doc.Profile.Name != "Exportación Pérez" ||
			len(numbers) != 2 || numbers["+34612345678"] != "móvil" || len(doc.Profile.Addresses) != 1 ||
			doc.Profile.Addresses[0].Line1 != "Calle Mayor 1" || doc.Profile.MFA.TOTP {
			t.Errorf("exported profile = %+v", doc.Profile)
		}
		if doc.PendingEmail == nil || *doc.PendingEmail != "new.export@example.com" {
			t.Errorf("pending e-mail = %v", doc.PendingEmail)
		}
		kinds := map[string]int{}
		for _, s := range doc.Sessions {
			kinds[s.Kind]++
			if s.DeviceName == "" {
				t.Errorf("session %s has no device name", s.ID)
			}
		}
		if kinds["app"] != 1 || kinds["web"] != 1 {
			t.Errorf("exported sessions = %+v", doc.Sessions)
		}
		for _, act := range []string{"account.sign_up", "session.sign_in", "profile.phone_added", "profile.address_added", "account.email_change_requested"} {
			if countActions(doc.AccessLog, act) == 0 {
				t.Errorf("exported access log lacks %s: %+v", act, doc.AccessLog)
			}
		}
		if doc.CreatedAt.IsZero() || doc.ExportedAt.Before(doc.CreatedAt) {
			t.Errorf("created_at %v, exported_at %v", doc.CreatedAt, doc.ExportedAt)
		}

		// Six minutes after the last password check: step-up first.
		ts.env.Clock.Advance(6 * time.Minute)
		if _, r := ts.exportOf(t, tk.AccessToken); r.StatusCode != 401 || r.problem(t).Type != problemTypeBase+"reauthentication_required" {
			t.Fatalf("stale export: %d %s, want 401 reauthentication_required", r.StatusCode, r.body)
		}
		if r := ts.apiCall(t, "POST", "/api/v1/auth/reauth", tk.AccessToken, map[string]string{"password": testPassword}, nil); r.StatusCode != 204 {
			t.Fatalf("reauth: %d", r.StatusCode)
		}
		again, r := ts.exportOf(t, tk.AccessToken)
		if r.StatusCode != 200 {
			t.Fatalf("export after reauth: %d %s", r.StatusCode, r.body)
		}
		// The first export is recorded; the refused one is not.
		if n := countActions(again.AccessLog, "account.data_exported"); n != 1 {
			t.Errorf("access log holds %d exports, want 1", n)
		}
		var page accessLogPage
		ts.apiCall(t, "GET", "/api/v1/me/access-log", tk.AccessToken, nil, &page)
		if n := countActions(page.Entries, "account.data_exported"); n != 2 {
			t.Errorf("access log after two exports holds %d, want 2", n)
		}
	})
}

// The export holds the whole access log, not its first page.
func TestExportHoldsTheWholeAccessLog(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "long.log@example.com", "Long Log")
	for i := range 120 {
		if r := ts.apiCall(t, "PATCH", "/api/v1/me", tk.AccessToken, map[string]string{"name": "Name " + string(rune('A'+i%26))}, nil); r.StatusCode != 200 {
			t.Fatalf("rename: %d", r.StatusCode)
		}
	}
	var all []accessLogEntry
	before := ""
	for {
		var p accessLogPage
		ts.apiCall(t, "GET", "/api/v1/me/access-log?limit=100"+before, tk.AccessToken, nil, &p)
		all = append(all, p.Entries...)
		if p.NextBefore == nil {
			break
		}
		before = "&before=" + jsonNumber(*p.NextBefore)
	}
	doc, r := ts.exportOf(t, tk.AccessToken)
	if r.StatusCode != 200 {
		t.Fatalf("export: %d", r.StatusCode)
	}
	if len(all) < 122 || len(doc.AccessLog) != len(all) {
		t.Fatalf("export holds %d access-log entries, the API pages %d", len(doc.AccessLog), len(all))
	}
	for i := range all {
		if doc.AccessLog[i].Seq != all[i].Seq {
			t.Fatalf("entry %d: seq %d, want %d (newest first)", i, doc.AccessLog[i].Seq, all[i].Seq)
		}
	}
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// On the pages: /account links to the download and to erasure; the
// download is the same JSON, asks for the password when stale and comes
// back to it.
func TestExportOnThePages(t *testing.T) {
	ts := newTestServer(t)
	ts.signUp(t, "web.export@example.com", "Web Export")
	b := ts.browser(t)
	b.signIn("web.export@example.com", testPassword, "")
	_, body, _ := b.get("/account/privacy?lang=es")
	for _, want := range []string{`href="/account/export"`, `href="/account/delete"`, "Descargar mis datos"} {
		if !strings.Contains(html.UnescapeString(body), want) {
			t.Errorf("/account lacks %s", want)
		}
	}
	resp, err := b.client.Get(ts.site.URL + "/account/export")
	if err != nil {
		t.Fatal(err)
	}
	var doc exportDoc
	err = json.NewDecoder(resp.Body).Decode(&doc)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || doc.Profile.Email != "web.export@example.com" || len(doc.Sessions) != 2 {
		t.Fatalf("web export: %d %v %+v", resp.StatusCode, err, doc)
	}
	checkDownloadHeaders(t, resp.Header)
	ts.env.Clock.Advance(6 * time.Minute)
	code, _, _ := b.get("/account") // keeps the session alive; not a step-up
	if code != 200 {
		t.Fatalf("account: %d", code)
	}
	resp, err = b.client.Get(ts.site.URL + "/account/export")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != "/account/reauth?next=%2Faccount%2Fexport" {
		t.Errorf("stale web export: %d → %q, want the password page and back", resp.StatusCode, loc)
	}
}

// --- direct database checks ---

// rawDB opens the test database directly, as an operator (or an attacker
// with a copy) would read it.
func rawDB(t *testing.T, env *testutil.Env) (*sql.DB, sqlstore.Dialect) {
	t.Helper()
	if env.DSN == "" {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(env.DataDir, sqlstore.SQLiteFile)+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db, sqlstore.SQLite
	}
	cfg, err := sqlstore.MySQLConfig(env.DSN)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, sqlstore.MySQL
}

var identRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// columns lists every table of the database with its columns, from the
// catalog, so that tables added later are swept too.
func columns(t *testing.T, db *sql.DB, d sqlstore.Dialect) map[string][]string {
	t.Helper()
	q := `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`
	if d == sqlstore.MySQL {
		q = `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = DATABASE()`
	}
	rows, err := db.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		table, column = strings.ToLower(table), strings.ToLower(column)
		if !identRe.MatchString(table) || !identRe.MatchString(column) {
			t.Fatalf("unexpected name in the catalog: %q.%q", table, column)
		}
		out[table] = append(out[table], column)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// customerTables lists the tables with a customer_id column, and checks
// that the list holds every such table the migrations create (so a broken
// catalog query cannot make the sweep pass by finding nothing).
func customerTables(t *testing.T, cols map[string][]string) []string {
	t.Helper()
	var out []string
	for table, cs := range cols {
		if slices.Contains(cs, "customer_id") {
			out = append(out, table)
		}
	}
	sort.Strings(out)
	createRe := regexp.MustCompile(`(?s)CREATE TABLE (?:IF NOT EXISTS )?(\w+) \((.*?)\n\)`)
	for _, dir := range []string{"sqlite", "mysql"} {
		files, err := filepath.Glob(filepath.Join("..", "sqlstore", "migrations", dir, "*.sql"))
		if err != nil || len(files) == 0 {
			t.Fatalf("migrations: %v", err)
		}
		for _, f := range files {
			src, err := os.ReadFile(f) // #nosec G304 -- the repository's own migrations
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range createRe.FindAllStringSubmatch(string(src), -1) {
				if strings.Contains(m[2], "customer_id") && !slices.Contains(out, m[1]) {
					t.Errorf("%s creates %s with a customer_id, which the catalog sweep does not see", f, m[1])
				}
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d tables with customer_id: %v", len(out), out)
	}
	return out
}

func count(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// rowsOf counts the rows of each table that name the customer in
// customer_id, plus the customers row and the throttle records named
// after the customer.
func rowsOf(t *testing.T, db *sql.DB, tables []string, customerID string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range tables {
		// #nosec G202 -- table names come from the catalog and match identRe
		out[table] = count(t, db, `SELECT COUNT(*) FROM `+table+` WHERE customer_id = ?`, customerID)
	}
	out["customers"] = count(t, db, `SELECT COUNT(*) FROM customers WHERE id = ?`, customerID)
	out["throttles"] = count(t, db, `SELECT COUNT(*) FROM throttles WHERE name LIKE ?`, "%"+customerID+"%")
	return out
}

// sweep searches every column of every table but those skipped for each
// needle (an id, a blind index, a wrapped key) and names where it is found.
func sweep(t *testing.T, db *sql.DB, cols map[string][]string, needles map[string][]byte, skip ...string) []string {
	t.Helper()
	var found []string
	for table, cs := range cols {
		if slices.Contains(skip, table) {
			continue
		}
		for _, c := range cs {
			for name, needle := range needles {
				// #nosec G202 -- identifiers come from the catalog and match identRe
				if n := count(t, db, `SELECT COUNT(*) FROM `+table+` WHERE INSTR(`+c+`, ?) > 0`, needle); n > 0 {
					found = append(found, table+"."+c+" holds the "+name+" in "+jsonNumber(int64(n))+" rows")
				}
			}
		}
	}
	sort.Strings(found)
	return found
}

// accountKeyOf is how throttle records name an address (account.accountKey).
func accountKeyOf(index []byte) string { return hex.EncodeToString(index[:16]) }

// mfaLogin signs an app in with password and code.
func (ts *testServer) mfaLogin(t *testing.T, email, secret string) tokens {
	t.Helper()
	challenge := ts.passwordStep(t, email)
	code, _ := totp.GenerateCode(secret, ts.env.Clock.Now())
	var tk tokens
	if r := ts.apiCall(t, "POST", "/api/v1/auth/mfa", "", map[string]string{"mfa_token": challenge, "code": code}, &tk); r.StatusCode != 200 || tk.AccessToken == "" {
		t.Fatalf("mfa sign-in: %d %s", r.StatusCode, r.body)
	}
	return tk
}

// webMFASignIn signs a browser in with password and code.
func (b *browser) webMFASignIn(email, secret string) {
	b.t.Helper()
	if resp := b.signIn(email, testPassword, ""); resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login/mfa") {
		b.t.Fatalf("password step: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, _, tok := b.get("/login/mfa")
	code, _ := totp.GenerateCode(secret, b.ts.env.Clock.Now())
	if resp := b.post("/login/mfa", url.Values{"csrf_token": {tok}, "code": {code}}); resp.StatusCode != 303 || b.cookie(sessionCookie) == "" {
		b.t.Fatalf("code step: %d", resp.StatusCode)
	}
}

// After DELETE /api/v1/me no row anywhere names the customer or holds
// their blind indexes or wrapped key — only the audit trail keeps their id,
// still verifiable, with the erasure in it; every token and session of the
// account answers 401; the address can be registered again.
func TestErasureLeavesNothingButAuditIDs(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		const email, newEmail = "erase.me@example.com", "erase.new@example.com"
		tk := ts.signUp(t, email, "Erasmo Borrado Quintela")
		phones := []string{"+34612345678", "+447911123456"}
		for _, n := range phones {
			if r := ts.apiCall(t, "POST", "/api/v1/me/phones", tk.AccessToken, map[string]string{"label": "Xq", "number": n}, nil); r.StatusCode != 201 {
				t.Fatalf("add phone: %d %s", r.StatusCode, r.body)
			}
		}
		addr := map[string]string{"line1": "Rúa Wenceslao 17", "city": "Villaviciosa", "country": "ES"}
		if r := ts.apiCall(t, "POST", "/api/v1/me/addresses", tk.AccessToken, addr, nil); r.StatusCode != 201 {
			t.Fatalf("add address: %d %s", r.StatusCode, r.body)
		}
		secret, _ := ts.enrolTOTP(t, tk.AccessToken)
		// A passkey (with its user handle), and a ceremony left unfinished.
		ts.addPasskey(t, tk.AccessToken, testutil.NewSoftAuthenticator(t, testSiteOrigin, testRPID), "Xq key")
		if r := ts.apiCall(t, "POST", "/api/v1/me/webauthn/register/begin", tk.AccessToken, nil, nil); r.StatusCode != 200 {
			t.Fatalf("passkey ceremony: %d %s", r.StatusCode, r.body)
		}
		ts.env.Clock.Advance(30 * time.Second)
		second := ts.mfaLogin(t, email, secret) // a second app sign-in
		ts.env.Clock.Advance(30 * time.Second)
		web := ts.browser(t)
		web.webMFASignIn(email, secret) // and a web session
		// Rows in every other table that can name the customer: a pending
		// address with its link and mail, a reset link with its mail, a
		// sign-in waiting for its code, and throttle records (wrong
		// password, wrong code, failed sign-in, mail to the address).
		if r := ts.apiCall(t, "POST", "/api/v1/me/email", tk.AccessToken, map[string]string{"email": newEmail}, nil); r.StatusCode != 202 {
			t.Fatalf("email change: %d %s", r.StatusCode, r.body)
		}
		if r := ts.apiCall(t, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": email}, nil); r.StatusCode != 202 {
			t.Fatalf("forgot: %d", r.StatusCode)
		}
		ts.env.Accounts.Wait()
		ts.passwordStep(t, email)
		ts.apiCall(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": "not the password at all"}, nil)
		ts.apiCall(t, "POST", "/api/v1/auth/reauth", second.AccessToken, map[string]string{"password": "not the password at all"}, nil)
		ts.apiCall(t, "POST", "/api/v1/auth/reauth", second.AccessToken, map[string]string{"code": "000000"}, nil)

		var profile me
		ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, &profile)
		db, dialect := rawDB(t, ts.env)
		cols := columns(t, db, dialect)
		tables := customerTables(t, cols)
		for table, n := range rowsOf(t, db, tables, profile.ID) {
			if n == 0 {
				t.Errorf("before erasure %s holds nothing of the customer: the test does not exercise it", table)
			}
		}
		var wrapped []byte
		if err := db.QueryRowContext(t.Context(), `SELECT data_key FROM customers WHERE id = ?`, profile.ID).Scan(&wrapped); err != nil {
			t.Fatal(err)
		}
		needles := map[string][]byte{"customer id": []byte(profile.ID), "wrapped data key": wrapped}
		for _, addr := range []string{email, newEmail} {
			idx, err := ts.env.Vault.BlindIndex("email", addr)
			if err != nil {
				t.Fatal(err)
			}
			needles["blind index of "+addr] = idx
			needles["throttle key of "+addr] = []byte(accountKeyOf(idx))
		}
		for _, n := range phones {
			idx, err := ts.env.Vault.BlindIndex("phone", n)
			if err != nil {
				t.Fatal(err)
			}
			needles["blind index of "+n] = idx
		}

		var erasure erasureDoc
		if r := ts.apiCall(t, "DELETE", "/api/v1/me", tk.AccessToken, nil, &erasure); r.StatusCode != 200 {
			t.Fatalf("erase: %d %s", r.StatusCode, r.body)
		}
		counts := map[string]int64{}
		for _, e := range erasure.Erased {
			counts[e.What] = e.Count
		}
		for what, want := range map[string]int64{"phones": 2, "addresses": 1, "app_sign_ins": 2, "web_sessions": 1, "second_factor": 1,
			"passkeys": 1, "passkey_handle": 1, "passkey_challenges": 2, "recovery_codes": 10, "pending_email_change": 1, "account_and_data_key": 1} {
			if counts[what] != want {
				t.Errorf("erasure reports %d %s, want %d (report %+v)", counts[what], what, want, erasure)
			}
		}
		if counts["throttle_records"] < 5 || counts["sign_in_challenges"] < 1 || counts["email_links"] < 3 || counts["pending_mail"] < 2 || counts["app_tokens"] < 4 {
			t.Errorf("erasure report %+v", erasure)
		}
		if erasure.ID != profile.ID || erasure.Kept != "audit entries (ids only)" {
			t.Errorf("erasure report %+v", erasure)
		}

		// Every credential of the account is dead.
		for name, tok := range map[string]string{"the erasing token": tk.AccessToken, "another app's token": second.AccessToken} {
			if r := ts.apiCall(t, "GET", "/api/v1/me", tok, nil, nil); r.StatusCode != 401 {
				t.Errorf("%s after erasure: %d, want 401", name, r.StatusCode)
			}
		}
		for _, rt := range []string{tk.RefreshToken, second.RefreshToken} {
			if r := ts.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": rt}, nil); r.StatusCode != 401 {
				t.Errorf("refresh token after erasure: %d, want 401", r.StatusCode)
			}
		}
		if code, _, _ := web.get("/account"); code != 303 {
			t.Errorf("web session after erasure: %d, want 303 to sign in", code)
		}

		// Nothing is left but audit entries.
		for table, n := range rowsOf(t, db, tables, profile.ID) {
			if n != 0 {
				t.Errorf("after erasure %s still holds %d rows of the customer", table, n)
			}
		}
		if found := sweep(t, db, cols, needles, "audit_log"); len(found) > 0 {
			t.Errorf("after erasure:\n%s", strings.Join(found, "\n"))
		}
		if count(t, db, `SELECT COUNT(*) FROM app_tokens t LEFT JOIN token_families f ON f.id = t.family_id WHERE f.id IS NULL`) != 0 {
			t.Error("app tokens outlived their families")
		}
		// The audit trail keeps ids and action names, never values.
		values := map[string][]byte{"e-mail": []byte(email), "new e-mail": []byte(newEmail), "name": []byte("Quintela"), "address": []byte("Wenceslao"), "wrapped data key": wrapped}
		for _, n := range phones {
			values["phone "+n] = []byte(n)
		}
		if found := sweep(t, db, map[string][]string{"audit_log": cols["audit_log"]}, values); len(found) > 0 {
			t.Errorf("the audit trail holds personal values:\n%s", strings.Join(found, "\n"))
		}
		if n := count(t, db, `SELECT COUNT(*) FROM audit_log WHERE target_id = ? AND action = ? AND fields = '' AND reason = ''`, profile.ID, "account.erased"); n != 1 {
			t.Errorf("%d account.erased entries for the customer, want 1", n)
		}
		rep, err := ts.env.Audit.Verify(t.Context(), nil)
		if err != nil || !rep.OK() {
			t.Errorf("audit trail after erasure: %+v %v", rep, err)
		}
		if dialect == sqlstore.SQLite {
			checkFilesLack(t, ts.env.DataDir, "the wrapped data key", wrapped)
		}

		// The address is free again, for a new account with nothing old.
		fresh := ts.signUp(t, email, "Someone New")
		var again me
		ts.apiCall(t, "GET", "/api/v1/me", fresh.AccessToken, nil, &again)
		if again.ID == profile.ID || again.Name != "Someone New" || len(again.Phones) != 0 || len(again.Addresses) != 0 || again.MFA.TOTP {
			t.Errorf("the new account of the address = %+v", again)
		}
	})
}

// checkFilesLack reads the SQLite database and its write-ahead log byte for
// byte, as a copy of the data directory would hold them.
func checkFilesLack(t *testing.T, dir, what string, needle []byte) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(filepath.Join(dir, sqlstore.SQLiteFile+suffix)) // #nosec G304 -- the test's own data directory
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, needle) {
			t.Errorf("%s%s still holds %s", sqlstore.SQLiteFile, suffix, what)
		}
	}
}

// Erasure without a recent password check is refused (401
// reauthentication_required on the API, the password page on the web) and
// deletes nothing.
func TestErasureNeedsStepUp(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		tk := ts.signUp(t, "keep.me@example.com", "Keep Me")
		if r := ts.apiCall(t, "POST", "/api/v1/me/phones", tk.AccessToken, map[string]string{"number": "+34612345678"}, nil); r.StatusCode != 201 {
			t.Fatalf("add phone: %d", r.StatusCode)
		}
		web := ts.browser(t)
		web.signIn("keep.me@example.com", testPassword, "")
		var profile me
		ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, &profile)
		db, _ := rawDB(t, ts.env)
		intact := func(when string) {
			t.Helper()
			var m me
			if r := ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, &m); r.StatusCode != 200 || len(m.Phones) != 1 {
				t.Errorf("%s: profile %d %+v", when, r.StatusCode, m)
			}
			if n := count(t, db, `SELECT COUNT(*) FROM customers WHERE id = ?`, profile.ID); n != 1 {
				t.Errorf("%s: the customers row is gone", when)
			}
		}

		ts.env.Clock.Advance(6 * time.Minute)
		r := ts.apiCall(t, "DELETE", "/api/v1/me", tk.AccessToken, nil, nil)
		if r.StatusCode != 401 || r.problem(t).Type != problemTypeBase+"reauthentication_required" {
			t.Fatalf("stale erasure: %d %s, want 401 reauthentication_required", r.StatusCode, r.body)
		}
		intact("after a stale API erasure")

		_, _, tok := web.get("/account")
		if code, _, _ := web.get("/account/delete"); code != 303 {
			t.Errorf("stale confirmation page: %d, want 303 to the password page", code)
		}
		resp := web.post("/account/delete", url.Values{"csrf_token": {tok}, "confirm": {"keep.me@example.com"}})
		if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/account/reauth") {
			t.Errorf("stale web erasure: %d → %q, want the password page", resp.StatusCode, resp.Header.Get("Location"))
		}
		intact("after a stale web erasure")

		// The refusal was only for the stale check.
		if r := ts.apiCall(t, "POST", "/api/v1/auth/reauth", tk.AccessToken, map[string]string{"password": testPassword}, nil); r.StatusCode != 204 {
			t.Fatalf("reauth: %d", r.StatusCode)
		}
		if r := ts.apiCall(t, "DELETE", "/api/v1/me", tk.AccessToken, nil, nil); r.StatusCode != 200 {
			t.Fatalf("erasure after reauth: %d %s", r.StatusCode, r.body)
		}
	})
}

// The web flow: a confirmation page that says what goes and what stays,
// a form that needs its token, the account's address typed in, and a
// same-site post; then the cookie is cleared and the account is gone.
func TestErasureOnThePages(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		tk := ts.signUp(t, "web.erase@example.com", "Web Erase")
		ts.signUp(t, "other.web@example.com", "Other")
		other := ts.browser(t)
		other.signIn("other.web@example.com", testPassword, "")
		_, _, foreign := other.get("/account")
		b := ts.browser(t)
		b.signIn("web.erase@example.com", testPassword, "")
		cookie := b.cookie(sessionCookie)
		var profile me
		ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, &profile)
		db, _ := rawDB(t, ts.env)
		alive := func(when string) {
			t.Helper()
			if n := count(t, db, `SELECT COUNT(*) FROM customers WHERE id = ?`, profile.ID); n != 1 {
				t.Fatalf("%s: the account was erased", when)
			}
			if code, _, _ := b.get("/account"); code != 200 {
				t.Fatalf("%s: the session ended: %d", when, code)
			}
		}

		const mail = "web.erase@example.com"
		code, body, tok := b.get("/account/delete?lang=en")
		body = html.UnescapeString(body)
		if code != 200 || tok == "" || !strings.Contains(body, `action="/account/delete"`) || !strings.Contains(body, `name="confirm"`) || !strings.Contains(body, mail) ||
			!strings.Contains(body, "What is erased") || !strings.Contains(body, "What is kept") {
			t.Fatalf("confirmation page: %d %s", code, body)
		}
		if _, es, _ := b.get("/account/delete?lang=es"); !strings.Contains(html.UnescapeString(es), "Qué se conserva") {
			t.Error("the confirmation page is not in Spanish")
		}
		refused := []struct {
			name   string
			form   url.Values
			header []string
		}{
			{"cross-site with the right token", url.Values{"csrf_token": {tok}, "confirm": {mail}}, []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}},
			{"foreign Origin", url.Values{"csrf_token": {tok}, "confirm": {mail}}, []string{"Origin", "https://evil.example"}},
			{"no token", url.Values{"confirm": {mail}}, []string{"Sec-Fetch-Site", "same-origin"}},
			{"another session's token", url.Values{"csrf_token": {foreign}, "confirm": {mail}}, []string{"Sec-Fetch-Site", "same-origin"}},
		}
		for _, tt := range refused {
			if resp := b.post("/account/delete", tt.form, tt.header...); resp.StatusCode != 403 {
				t.Errorf("%s: %d, want 403", tt.name, resp.StatusCode)
			}
			alive(tt.name)
		}
		for _, typed := range []string{"", "yes", "other.web@example.com", "web.erase@example"} {
			resp, page := b.postPage("/account/delete?lang=en", url.Values{"csrf_token": {tok}, "confirm": {typed}}, "Sec-Fetch-Site", "same-origin")
			if resp.StatusCode != 400 || !strings.Contains(page, "type the e-mail address of your account") {
				t.Errorf("confirmation %q: %d", typed, resp.StatusCode)
			}
			alive("confirmation " + typed)
		}

		// The address as typed by a person: other case, spaces around.
		resp, page := b.postPage("/account/delete?lang=en", url.Values{"csrf_token": {tok}, "confirm": {" Web.Erase@Example.com "}}, "Sec-Fetch-Site", "same-origin")
		if resp.StatusCode != 200 || !strings.Contains(html.UnescapeString(page), "Your account and your data have been deleted") || strings.Contains(page, `action="/logout"`) {
			t.Fatalf("erasure: %d %s", resp.StatusCode, page)
		}
		cleared := false
		for _, c := range resp.Cookies() {
			if c.Name == sessionCookie && c.MaxAge < 0 && c.Value == "" {
				cleared = true
			}
		}
		if !cleared || b.cookie(sessionCookie) != "" {
			t.Error("the session cookie was not cleared")
		}
		if n := count(t, db, `SELECT COUNT(*) FROM customers WHERE id = ?`, profile.ID); n != 0 {
			t.Error("the customers row is still there")
		}
		if resp, err := b.client.Get(ts.site.URL + "/account"); err != nil || resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("/account after erasure: %v %v", resp.StatusCode, resp.Header.Get("Location"))
		}
		old := ts.browser(t)
		old.client.Jar.SetCookies(old.base, []*http.Cookie{{Name: sessionCookie, Value: cookie, Path: "/"}}) // #nosec G124 -- the test replays a stolen cookie value
		if code, _, _ := old.get("/account"); code != 303 {
			t.Errorf("the old session cookie still works: %d", code)
		}
		if r := ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, nil); r.StatusCode != 401 {
			t.Errorf("the app token outlived the account: %d", r.StatusCode)
		}
		if code, _, _ := other.get("/account"); code != 200 {
			t.Errorf("another customer's session ended: %d", code)
		}
	})
}
