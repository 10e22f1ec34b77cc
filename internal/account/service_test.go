package account_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
)

// Service-level tests of rules the HTTP tests reach only indirectly: the
// guessing limits' arithmetic, app token families, the step-up window and
// the erasure sweep. Each runs on SQLite and, when configured, on MariaDB.

const testPassword = "correct horse battery staple"

var (
	netA = netip.MustParseAddr("192.0.2.1")
	netB = netip.MustParseAddr("198.51.100.7")
)

// register makes a customer and returns their id.
func register(t *testing.T, env *testutil.Env, email string) string {
	t.Helper()
	ctx := t.Context()
	if err := env.Accounts.Register(ctx, account.RegisterInput{Email: email, Password: testPassword, Name: "Test Customer", Client: netA}); err != nil {
		t.Fatal(err)
	}
	id, _, err := env.Accounts.Login(ctx, account.SignIn{Email: email, Password: testPassword, Client: netA})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSignInWaitsDouble checks the guessing limits' arithmetic: an account
// on one network has five free attempts, then waits 2 s, doubling with each
// further failure; a waiting key refuses even the right password without
// checking it; another network is not made to wait by the first one's
// failures, until the account's failures across networks reach ten, when
// every unknown network waits too.
func TestSignInWaitsDouble(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		env := testutil.NewEnv(t, b, nil)
		ctx := t.Context()
		const email = "guess@example.com"
		register(t, env, email) // a right password: its counts are settled
		login := func(password string, from netip.Addr) error {
			_, _, err := env.Accounts.Login(ctx, account.SignIn{Email: email, Password: password, Client: from})
			return err
		}
		for i := range 5 {
			if err := login("wrong password", netA); resguardo.ErrorCode(err) != resguardo.EUnauthenticated {
				t.Fatalf("free attempt %d: %v", i+1, err)
			}
		}
		// Six failures on the account so far, five of them from netA.
		if err := login("wrong password", netB); resguardo.ErrorCode(err) != resguardo.EUnauthenticated {
			t.Fatalf("another network: %v, want the password checked (401)", err)
		}
		for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second} {
			err := login(testPassword, netA)
			if resguardo.ErrorCode(err) != resguardo.ERateLimited || resguardo.RetryAfter(err) != want {
				t.Fatalf("while waiting: %v (retry after %v), want 429 after %v", err, resguardo.RetryAfter(err), want)
			}
			env.Clock.Advance(want)
			if err := login("wrong password", netA); resguardo.ErrorCode(err) != resguardo.EUnauthenticated {
				t.Fatalf("after waiting %v: %v, want the password checked (401)", want, err)
			}
		}
		// Ten failures on the account: a third network waits 2 s too.
		netC := netip.MustParseAddr("203.0.113.9")
		if err := login(testPassword, netC); resguardo.ErrorCode(err) != resguardo.ERateLimited || resguardo.RetryAfter(err) != 2*time.Second {
			t.Fatalf("a new network after ten failures on the account: %v (retry after %v), want 429 after 2s", err, resguardo.RetryAfter(err))
		}
		// netA's ninth failure set 32 s; after it the right password signs in.
		env.Clock.Advance(31 * time.Second)
		if err := login(testPassword, netA); resguardo.ErrorCode(err) != resguardo.ERateLimited {
			t.Fatalf("a second before the 32 s wait ends: %v, want 429", err)
		}
		env.Clock.Advance(time.Second)
		if err := login(testPassword, netA); err != nil {
			t.Fatalf("right password after the wait: %v", err)
		}
	})
}

// TestRefreshRotatesAndReuseRevokesTheFamily checks app token families: a
// refresh gives a new pair and retires the old access token; presenting a
// used refresh token again revokes the whole family (the thief's and the
// owner's tokens) and is audited.
func TestRefreshRotatesAndReuseRevokesTheFamily(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		env := testutil.NewEnv(t, b, nil)
		ctx := t.Context()
		id := register(t, env, "family@example.com")
		first, err := env.Accounts.IssueTokens(ctx, id, "Phone app", "en")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Accounts.AppPrincipal(ctx, first.AccessToken); err != nil {
			t.Fatalf("fresh access token: %v", err)
		}
		second, err := env.Accounts.Refresh(ctx, first.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if second.AccessToken == first.AccessToken || second.RefreshToken == first.RefreshToken {
			t.Fatal("a refresh returned the same tokens")
		}
		if _, err := env.Accounts.AppPrincipal(ctx, first.AccessToken); resguardo.ErrorCode(err) != resguardo.EUnauthenticated {
			t.Errorf("the access token before the refresh still works: %v", err)
		}
		p, err := env.Accounts.AppPrincipal(ctx, second.AccessToken)
		if err != nil || p.CustomerID != id {
			t.Fatalf("new access token: %+v, %v", p, err)
		}
		// The first refresh token again: stolen, so the family ends.
		if _, err := env.Accounts.Refresh(ctx, first.RefreshToken); !errors.Is(err, account.ErrRefreshReused) {
			t.Fatalf("reused refresh token: %v, want ErrRefreshReused", err)
		}
		if _, err := env.Accounts.AppPrincipal(ctx, second.AccessToken); resguardo.ErrorCode(err) != resguardo.EUnauthenticated {
			t.Errorf("the family's newest access token outlived the reuse: %v", err)
		}
		if _, err := env.Accounts.Refresh(ctx, second.RefreshToken); err == nil {
			t.Error("the family's newest refresh token outlived the reuse")
		}
		log, err := env.Accounts.AccessLog(ctx, id, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(log) == 0 || log[0].Action != resguardo.ActRefreshReused || log[0].Outcome != resguardo.OutcomeDenied {
			t.Errorf("newest entry of the customer's log: %+v, want the reuse, denied", log)
		}
		// A family of another sign-in is untouched.
		other, err := env.Accounts.IssueTokens(ctx, id, "Tablet app", "en")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Accounts.Refresh(ctx, other.RefreshToken); err != nil {
			t.Errorf("another family after the reuse: %v", err)
		}
	})
}

// TestStepUpWindow checks that a sign-in counts as recent for
// RecentAuthWindow and no longer, and that re-authenticating with the
// password opens the window again (and, for a browser, replaces the
// session token), while a wrong password does not.
func TestStepUpWindow(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		env := testutil.NewEnv(t, b, nil)
		ctx := t.Context()
		id := register(t, env, "stepup@example.com")
		token, p, err := env.Accounts.StartWebSession(ctx, id, "Browser", "en")
		if err != nil {
			t.Fatal(err)
		}
		if !p.Recent(env.Clock.Now()) {
			t.Fatal("a fresh sign-in is not recent")
		}
		env.Clock.Advance(account.RecentAuthWindow)
		if p, err = env.Accounts.WebSession(ctx, token); err != nil || !p.Recent(env.Clock.Now()) {
			t.Fatalf("at the end of the window: recent %v, %v", p.Recent(env.Clock.Now()), err)
		}
		env.Clock.Advance(time.Second)
		if p, err = env.Accounts.WebSession(ctx, token); err != nil || p.Recent(env.Clock.Now()) {
			t.Fatalf("past the window: recent %v, %v", p.Recent(env.Clock.Now()), err)
		}
		if _, err := env.Accounts.Reauthenticate(ctx, p, "wrong password"); err == nil {
			t.Fatal("a wrong password re-authenticated")
		}
		if p, err = env.Accounts.WebSession(ctx, token); err != nil || p.Recent(env.Clock.Now()) {
			t.Fatalf("after a wrong password: recent %v, %v", p.Recent(env.Clock.Now()), err)
		}
		fresh, err := env.Accounts.Reauthenticate(ctx, p, testPassword)
		if err != nil || fresh == "" || fresh == token {
			t.Fatalf("re-authentication: token replaced %v, %v", fresh != token, err)
		}
		if _, err := env.Accounts.WebSession(ctx, token); err == nil {
			t.Error("the session token from before the re-authentication still works")
		}
		if p, err = env.Accounts.WebSession(ctx, fresh); err != nil || !p.Recent(env.Clock.Now()) {
			t.Errorf("after re-authenticating: recent %v, %v", p.Recent(env.Clock.Now()), err)
		}
	})
}

// TestErasureSweepsEveryRowOfTheCustomer fills every sealed table of the
// store's registry (sqlstore.SealedColumns) with rows of two customers and
// the guessing limits with records of both, erases one, and wants none of
// that customer's rows or address-named records left and every row of the
// other customer kept.
func TestErasureSweepsEveryRowOfTheCustomer(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		env := testutil.NewEnv(t, b, nil)
		ctx := t.Context()
		raw := testutil.RawDB(t, env.DSN, env.DataDir)
		fill := func(email string) string {
			id := register(t, env, email)
			if _, err := env.Accounts.AddPhone(ctx, resguardo.CustomerActor(id), id, "móvil", "+34612345678"); err != nil {
				t.Fatal(err)
			}
			if _, err := env.Accounts.AddAddress(ctx, resguardo.CustomerActor(id), id, resguardo.Address{Line1: "Calle Mayor 1", City: "Madrid", Country: "ES"}); err != nil {
				t.Fatal(err)
			}
			_, p, err := env.Accounts.StartWebSession(ctx, id, "Browser", "en")
			if err != nil {
				t.Fatal(err)
			}
			// A passkey, through the real ceremony, first: adding one ends the
			// other sign-ins and what they started.
			c, err := env.Accounts.BeginPasskeyRegistration(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			a := testutil.NewSoftAuthenticator(t, testutil.SiteOrigin, testutil.SiteRPID)
			if _, _, err := env.Accounts.FinishPasskeyRegistration(ctx, p, c.Token, "Laptop", a.Create(t, c.Options), "en"); err != nil {
				t.Fatal(err)
			}
			if err := env.Accounts.RequestEmailChange(ctx, p.Actor(), p, "new."+email, "en"); err != nil {
				t.Fatal(err)
			}
			if _, err := env.Accounts.BeginTOTP(ctx, p); err != nil {
				t.Fatal(err)
			}
			if _, err := env.Accounts.IssueTokens(ctx, id, "Phone app", "en"); err != nil {
				t.Fatal(err)
			}
			// Failed guesses name the account in throttle records.
			if _, _, err := env.Accounts.Login(ctx, account.SignIn{Email: email, Password: "wrong password", Client: netB}); resguardo.ErrorCode(err) != resguardo.EUnauthenticated {
				t.Fatal(err)
			}
			return id
		}
		gone, kept := fill("gone@example.com"), fill("kept@example.com")
		count := func(col sqlstore.SealedColumn, id string) int {
			var n int
			// Names from the registry, the id as a value.
			q := "SELECT COUNT(*) FROM " + col.Table + " WHERE " + col.CustomerID + " = ?" // #nosec G202 -- names from sqlstore.SealedColumns
			if err := raw.QueryRowContext(ctx, q, id).Scan(&n); err != nil {
				t.Fatalf("%s: %v", col.Name(), err)
			}
			return n
		}
		for _, col := range sqlstore.SealedColumns {
			if col.Table == sqlstore.SealedOutbox.Table {
				continue // mail may be sent and deleted meanwhile; checked after
			}
			for _, id := range []string{gone, kept} {
				if count(col, id) == 0 {
					t.Fatalf("%s has no row of %s before the erasure: the test does not fill it", col.Name(), id)
				}
			}
		}
		throttles := func() []string {
			rows, err := raw.QueryContext(ctx, "SELECT name FROM throttles")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var n string
				if err := rows.Scan(&n); err != nil {
					t.Fatal(err)
				}
				out = append(out, n)
			}
			return out
		}
		accountRecords := func(names []string) (n int) {
			for _, name := range names {
				if strings.HasPrefix(name, "ac:") {
					n++
				}
			}
			return n
		}
		if n := accountRecords(throttles()); n != 2 {
			t.Fatalf("account-wide throttle records before: %d, want one per customer", n)
		}

		er, err := env.Accounts.Erase(ctx, resguardo.CustomerActor(gone), account.Principal{CustomerID: gone})
		if err != nil {
			t.Fatal(err)
		}
		if er.CustomerID != gone || len(er.Erased) == 0 {
			t.Errorf("erasure report %+v", er)
		}
		for _, col := range sqlstore.SealedColumns {
			if n := count(col, gone); n != 0 {
				t.Errorf("%s keeps %d rows of the erased customer", col.Name(), n)
			}
			if col.Table != sqlstore.SealedOutbox.Table && count(col, kept) == 0 {
				t.Errorf("%s lost the other customer's rows", col.Name())
			}
		}
		if n := accountRecords(throttles()); n != 1 {
			t.Errorf("account-wide throttle records after: %d, want the other customer's only", n)
		}
		if _, err := env.Accounts.Profile(ctx, gone); resguardo.ErrorCode(err) != resguardo.ENotFound {
			t.Errorf("profile of the erased customer: %v, want not found", err)
		}
		if _, err := env.Accounts.Profile(ctx, kept); err != nil {
			t.Errorf("profile of the other customer: %v", err)
		}
	})
}
