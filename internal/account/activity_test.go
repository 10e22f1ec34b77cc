package account_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/testutil"
)

// Last-seen times are written off the request path: a request leaves the
// row alone and FlushActivity writes it, once. Meanwhile the pending time
// keeps the web session alive on this server (the idle timeout counts it),
// and the session list shows it.
func TestActivityIsWrittenOffTheRequestPath(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		env := testutil.NewEnv(t, b, nil)
		ctx := t.Context()
		const email = "seen@example.com"
		if err := env.Accounts.Register(ctx, account.RegisterInput{Email: email, Password: "correct horse battery staple", Name: "Seen",
			Client: netip.MustParseAddr("192.0.2.1")}); err != nil {
			t.Fatal(err)
		}
		id, _, err := env.Accounts.Login(ctx, account.SignIn{Email: email, Password: "correct horse battery staple", Client: netip.MustParseAddr("192.0.2.1")})
		if err != nil {
			t.Fatal(err)
		}
		token, p, err := env.Accounts.StartWebSession(ctx, id, "Browser", "en")
		if err != nil {
			t.Fatal(err)
		}
		lastSeen := func() int64 {
			t.Helper()
			rows, err := env.DB.Conn().WebSessions(ctx, id)
			if err != nil || len(rows) != 1 {
				t.Fatalf("sessions: %d, %v", len(rows), err)
			}
			return rows[0].LastSeenAt
		}
		started := lastSeen()
		// 20 idle minutes, a request, 20 more: alive only if the request's
		// activity counts although it is not written yet.
		env.Clock.Advance(20 * time.Minute)
		if _, err := env.Accounts.WebSession(ctx, token); err != nil {
			t.Fatal(err)
		}
		if got := lastSeen(); got != started {
			t.Errorf("a request wrote last-seen on its own path (%d → %d)", started, got)
		}
		env.Clock.Advance(20 * time.Minute)
		if _, err := env.Accounts.WebSession(ctx, token); err != nil {
			t.Errorf("session active 20 minutes ago ended as idle: %v", err)
		}
		list, err := env.Accounts.Sessions(ctx, p)
		if err != nil || len(list) != 1 || list[0].LastSeenAt.Unix() != env.Clock.Now().Unix() {
			t.Errorf("session list %+v (%v), want last seen now", list, err)
		}
		if err := env.Accounts.FlushActivity(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := lastSeen(), env.Clock.Now().Unix(); got != want {
			t.Errorf("after the flush last-seen = %d, want %d", got, want)
		}
		// A second flush has nothing to write; an older time never goes back.
		if err := env.Accounts.FlushActivity(ctx); err != nil {
			t.Fatal(err)
		}
		if err := env.DB.Conn().TouchWebSession(ctx, p.SessionID, started); err != nil || lastSeen() != env.Clock.Now().Unix() {
			t.Errorf("an older last-seen moved the time back (%v)", err)
		}
	})
}
