package account_test

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/testutil"
)

// server is a second customer side on the same database, as another server
// of the deployment would be, with its own sending budget setting.
func server(env *testutil.Env, perMinute int) *account.Service {
	o := account.DefaultOptions("http://127.0.0.1:8080")
	o.Now = env.Clock.Now
	o.MailPerMinute = perMinute
	return account.New(env.DB, env.Vault, auth.NewHasher(testutil.FastParams, env.Vault, 2), env.Audit, env.Log, o)
}

// queueSignUps registers n accounts, each queueing one verification mail,
// and returns their addresses.
func queueSignUps(t *testing.T, env *testutil.Env, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		email := fmt.Sprintf("queued%02d@example.com", i)
		err := env.Accounts.Register(t.Context(), account.RegisterInput{Email: email, Password: "correct horse battery staple", Name: "Queued",
			Client: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})})
		if err != nil {
			t.Fatalf("register %s: %v", email, err)
		}
		out = append(out, email)
	}
	return out
}

// The global budget is shared by two servers on one database: together
// they send at most the budget in a minute, the rest waits in the outbox,
// and every message goes out exactly once as the minutes pass.
func TestMailBudgetDelaysButDoesNotLoseMail(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		env := testutil.NewEnv(t, b, nil)
		const budget, queued = 5, 12
		want := queueSignUps(t, env, queued)
		one, two := server(env, budget), server(env, budget)
		total, minutes := 0, 0
		for total < queued {
			if minutes++; minutes > 10 {
				t.Fatalf("only %d of %d messages sent after 10 minutes", total, queued)
			}
			thisMinute := 0
			for _, s := range []*account.Service{one, two, one} {
				n, err := s.SendMail(t.Context(), env.Sender, 100)
				if err != nil {
					t.Fatal(err)
				}
				thisMinute += n
			}
			if thisMinute > budget {
				t.Fatalf("minute %d: %d messages sent by two servers, budget %d", minutes, thisMinute, budget)
			}
			if thisMinute == 0 {
				t.Fatalf("minute %d: nothing sent with %d waiting", minutes, queued-total)
			}
			total += thisMinute
			env.Clock.Advance(time.Minute)
		}
		if minutes != (queued+budget-1)/budget {
			t.Errorf("sent in %d minutes, want %d at %d a minute", minutes, (queued+budget-1)/budget, budget)
		}
		var got []string
		for _, m := range env.DeliverMail(t) {
			got = append(got, strings.Trim(m.To, "<>"))
		}
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("delivered to %v\nwant exactly once each %v", got, want)
		}
	})
}

// Two servers sending at once never take the same message: each claim
// leases what it takes.
func TestConcurrentSendersSendEachMessageOnce(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		env := testutil.NewEnv(t, b, nil)
		const queued = 16
		want := queueSignUps(t, env, queued)
		var wg sync.WaitGroup
		for _, s := range []*account.Service{server(env, 1000), server(env, 1000), server(env, 1000)} {
			wg.Go(func() {
				for range 4 {
					if _, err := s.SendMail(t.Context(), env.Sender, 3); err != nil && resguardo.ErrorCode(err) != resguardo.EUnavailable {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		var got []string
		for _, m := range env.DeliverMail(t) {
			got = append(got, strings.Trim(m.To, "<>"))
		}
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("delivered to %v\nwant exactly once each %v", got, want)
		}
	})
}
