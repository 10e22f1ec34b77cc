package server

import (
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
)

// loginFrom signs in from a client address (through the trusted proxy).
func (ts *testServer) loginFrom(t *testing.T, ip, email, password string) int {
	t.Helper()
	body := `{"email":"` + email + `","password":"` + password + `"}`
	return ts.do(t, ts.site, "POST", "/api/v1/auth/login", strings.NewReader(body), "Content-Type", "application/json", "X-Forwarded-For", ip).StatusCode
}

// Concurrent guesses are each counted before any password is checked: a
// burst gets no more guesses than a sequence would.
func TestConcurrentGuessesAreCountedOneByOne(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		ts.signUp(t, "burst@example.com", "Burst")
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				req, _ := http.NewRequest("POST", ts.site.URL+"/api/v1/auth/login", strings.NewReader(`{"email":"burst@example.com","password":"guess guess guess"}`))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if codes[401] > 5 || codes[401]+codes[429] != 20 {
			t.Errorf("20 concurrent guesses: %v; want at most 5 checked (401), the rest 429", codes)
		}
	})
}

// concurrentSignIns has clients sign in to email with the right password,
// each times in a row, all at once, and counts the answers by status.
func (ts *testServer) concurrentSignIns(t *testing.T, email string, clients, each int) map[int]int {
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range each {
				code := ts.loginFrom(t, "127.0.0.1", email, testPassword)
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return codes
}

// Concurrent right passwords for one account from one network: a success
// forgets the account's record while other attempts are being counted
// against it. Every answer is a success or a wait: no server error, and no
// 503 from lock contention either.
func TestConcurrentSignInsNeverFail(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		ts.signUp(t, "busy@example.com", "Busy")
		codes := ts.concurrentSignIns(t, "busy@example.com", 16, 25)
		if codes[200] == 0 || codes[200]+codes[429] != 400 {
			t.Errorf("400 concurrent right sign-ins answered %v; want only 200 or 429\n%s", codes, ts.logs.String())
		}
	})
}

// Housekeeping removes quiet throttle records, among them one an attempt
// has just created and not yet locked; the attempt is then claimed again.
// Every answer is a success, a wait or busy — never "not found" or a 500.
func TestSignInsDuringHousekeeping(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		ts.signUp(t, "swept@example.com", "Swept")
		done := make(chan struct{})
		swept := make(chan int)
		go func() {
			n := 0
			for {
				select {
				case <-done:
					swept <- n
					return
				default:
				}
				if err := ts.env.Accounts.Housekeep(t.Context()); err == nil {
					n++
				}
			}
		}()
		codes := ts.concurrentSignIns(t, "swept@example.com", 8, 25)
		close(done)
		if n := <-swept; n == 0 {
			t.Fatal("housekeeping never ran")
		}
		if codes[200] == 0 || codes[200]+codes[429]+codes[503] != 200 {
			t.Errorf("200 sign-ins during housekeeping answered %v; want only 200, 429 or 503", codes)
		}
	})
}

// An attacker guessing from one network cannot keep the owner, on another
// network, out; the owner's own wait ends with a password reset.
func TestAttackerCannotLockTheOwnerOut(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b, withTrustedProxies("127.0.0.0/8"))
		ts.signUp(t, "owner@example.com", "Owner")
		for range 30 {
			ts.loginFrom(t, "203.0.113.7", "owner@example.com", "guess guess guess")
		}
		if code := ts.loginFrom(t, "203.0.113.7", "owner@example.com", testPassword); code != 429 {
			t.Fatalf("attacker's network after 30 guesses: %d, want 429", code)
		}
		if code := ts.loginFrom(t, "198.51.100.20", "owner@example.com", testPassword); code != 200 {
			t.Errorf("owner on another network: %d, want 200", code)
		}
		// The owner mistypes from home until made to wait, then resets.
		for range 6 {
			ts.loginFrom(t, "192.0.2.10", "owner@example.com", "mistyped password")
		}
		if code := ts.loginFrom(t, "192.0.2.10", "owner@example.com", testPassword); code != 429 {
			t.Fatalf("owner's network after 6 failures: %d, want 429", code)
		}
		ts.apiCall(t, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": "owner@example.com"}, nil)
		token := ts.env.LinkToken(t, "owner@example.com", "/password/reset")
		newPw := "the owner's new long passphrase"
		if r := ts.apiCall(t, "POST", "/api/v1/auth/password/reset", "", map[string]string{"token": token, "password": newPw}, nil); r.StatusCode != 204 {
			t.Fatalf("reset: %d %s", r.StatusCode, r.body)
		}
		if code := ts.loginFrom(t, "192.0.2.10", "owner@example.com", newPw); code != 200 {
			t.Errorf("owner after the reset: %d, want 200", code)
		}
	})
}

// Nobody can flood a customer's inbox through the reset or registration
// forms: at most three unsolicited mails an hour, and only the newest
// reset link works.
func TestUnsolicitedMailIsLimited(t *testing.T) {
	ts := newTestServer(t)
	ts.signUp(t, "inbox@example.com", "Inbox")
	ts.env.DeliverMail(t) // the verification mail
	before := len(ts.env.DeliverMail(t))
	for range 5 {
		if r := ts.apiCall(t, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": "inbox@example.com"}, nil); r.StatusCode != 202 {
			t.Fatalf("forgot: %d", r.StatusCode)
		}
	}
	for range 5 {
		ts.apiCall(t, "POST", "/api/v1/auth/register", "", map[string]string{"email": "inbox@example.com", "password": testPassword, "name": "X"}, nil)
	}
	msgs := ts.env.DeliverMail(t)
	if sent := len(msgs) - before; sent != 3 {
		t.Errorf("10 requests sent %d mails, want 3", sent)
	}
	// One verification link and one reset link are outstanding: each new
	// reset request voided the one before.
	var n int
	if err := ts.env.DB.Tx(t.Context(), func(c sqlstore.Conn) error {
		var err error
		n, err = c.CountRows(t.Context(), "email_tokens")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d e-mail tokens outstanding, want 2 (verification and the newest reset)", n)
	}
}

// Housekeeping forgets throttle records once they have been quiet for an
// hour (the account-wide count: a day), so the table does not keep who tried to sign in from where.
func TestHousekeepingForgetsQuietThrottles(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		ts.signUp(t, "hk@example.com", "Hk")
		ts.apiCall(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": "hk@example.com", "password": "wrong wrong wrong"}, nil)
		count := func() int {
			var n int
			if err := ts.env.DB.Tx(t.Context(), func(c sqlstore.Conn) error {
				var err error
				n, err = c.CountRows(t.Context(), "throttles")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if count() == 0 {
			t.Fatal("no throttle record after a failure")
		}
		if err := ts.env.Accounts.Housekeep(t.Context()); err != nil || count() == 0 {
			t.Fatalf("a fresh record was removed (%v)", err)
		}
		ts.env.Clock.Advance(61 * time.Minute)
		if err := ts.env.Accounts.Housekeep(t.Context()); err != nil {
			t.Fatal(err)
		}
		// The account-wide count adds up over a day (guesses spread thinly
		// over time still count); the others go after a quiet hour.
		if n := count(); n != 1 {
			t.Errorf("%d throttle records after a quiet hour, want 1 (the account-wide count)", n)
		}
		ts.env.Clock.Advance(23 * time.Hour)
		if err := ts.env.Accounts.Housekeep(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 0 {
			t.Errorf("%d throttle records after a quiet day, want 0", n)
		}
	})
}

// A sign-in the hasher turns away (503: no hashing slot free in time)
// never had its password checked: it is no guess, and it is taken back
// from every key it was counted against, for a known account, a right
// password and an unknown address alike. Without that, a busy server
// would push customers and shared networks towards a wait (429).
func TestBusyHasherCountsNothing(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		logs := &testutil.SyncBuffer{}
		env := testutil.NewEnv(t, b, logs)
		hasher := auth.NewHasher(testutil.FastParams, env.Vault, 1)
		opts := account.DefaultOptions("http://127.0.0.1:8080")
		opts.Now = env.Clock.Now
		env.Accounts = account.New(env.DB, env.Vault, hasher, env.Audit, env.Log, opts)
		ts := serveEnv(t, env, logs)
		ts.signUp(t, "slot@example.com", "Slot")
		// Four wrong guesses: the account's key on this network is one
		// attempt short of its first wait.
		for range 4 {
			if code := ts.loginFrom(t, "127.0.0.1", "slot@example.com", "wrong wrong wrong"); code != 401 {
				t.Fatalf("wrong password: %d", code)
			}
		}
		db := testutil.RawDB(t, env.DSN, env.DataDir)
		counts := func() map[string][2]int64 {
			rows, err := db.QueryContext(t.Context(), `SELECT name, failures, blocked_until FROM throttles WHERE failures > 0`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			m := map[string][2]int64{}
			for rows.Next() {
				var name string
				var f, until int64
				if err := rows.Scan(&name, &f, &until); err != nil {
					t.Fatal(err)
				}
				m[name] = [2]int64{f, until}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return m
		}
		before := counts()
		guessed := 0
		for name, c := range before {
			if strings.HasPrefix(name, "an:") || strings.HasPrefix(name, "ac:") || strings.HasPrefix(name, "nt:") {
				guessed++
				if c[0] != 4 {
					t.Fatalf("%s counts %d attempts after 4 guesses", name, c[0])
				}
			}
		}
		if guessed != 3 {
			t.Fatalf("throttle records after 4 guesses: %v; want the account on the network, the account and the network", before)
		}
		release := hasher.Saturate()
		for _, try := range []struct{ email, password string }{
			{"slot@example.com", testPassword},        // the owner, right password
			{"slot@example.com", "wrong wrong wrong"}, // a guess
			{"nobody@example.com", testPassword},      // no such account (dummy hash)
		} {
			if code := ts.loginFrom(t, "127.0.0.1", try.email, try.password); code != 503 {
				t.Errorf("%s with every hashing slot taken: %d, want 503", try.email, code)
			}
		}
		release()
		if after := counts(); !maps.Equal(before, after) {
			t.Errorf("503 sign-ins changed the guessing counts: before %v, after %v", before, after)
		}
		// And the owner is not kept waiting: the next attempt is checked.
		if code := ts.loginFrom(t, "127.0.0.1", "slot@example.com", testPassword); code != 200 {
			t.Errorf("right password after the busy spell: %d, want 200", code)
		}
	})
}
