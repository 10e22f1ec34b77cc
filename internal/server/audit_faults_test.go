package server

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/resguardo/resguardo/internal/testutil"
)

// breakTrail makes every audit append fail (its table is moved away) until
// the returned function puts it back.
func breakTrail(t *testing.T, ts *testServer) (restore func()) {
	t.Helper()
	db := testutil.RawDB(t, ts.env.DSN, ts.env.DataDir)
	if _, err := db.ExecContext(t.Context(), `ALTER TABLE audit_log RENAME TO audit_log_away`); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if _, err := db.ExecContext(t.Context(), `ALTER TABLE audit_log_away RENAME TO audit_log`); err != nil {
			t.Fatal(err)
		}
	}
}

// throttleCounts reads every throttle record's attempt count.
func throttleCounts(t *testing.T, ts *testServer) map[string]int64 {
	t.Helper()
	rows, err := testutil.RawDB(t, ts.env.DSN, ts.env.DataDir).QueryContext(t.Context(), `SELECT name, failures FROM throttles`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		m[name] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// A refused sign-in whose audit entry cannot be written is not answered as
// a refusal (401, 429): the request fails, so that no refusal goes
// unrecorded while the client is told it happened.
func TestUnrecordedRefusalFailsTheRequest(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		ts.signUp(t, "trail@example.com", "Trail")
		restore := breakTrail(t, ts)
		if r := ts.loginAnswer(t, "192.0.2.7", "trail@example.com", "wrong wrong wrong"); r.StatusCode < 500 {
			t.Fatalf("wrong password with the trail failing: %d, want a 5xx", r.StatusCode)
		}
		restore()
		// Up to the wait, with the trail working: 401 each, each recorded.
		for i := 0; ; i++ {
			r := ts.loginAnswer(t, "192.0.2.7", "trail@example.com", "wrong wrong wrong")
			if r.StatusCode == 429 {
				break
			}
			if r.StatusCode != 401 || i > 10 {
				t.Fatalf("guess %d: %d", i, r.StatusCode)
			}
		}
		restore = breakTrail(t, ts)
		if r := ts.loginAnswer(t, "192.0.2.7", "trail@example.com", "wrong wrong wrong"); r.StatusCode < 500 {
			t.Fatalf("throttled sign-in with the trail failing: %d, want a 5xx", r.StatusCode)
		}
		restore()
		if r := ts.loginAnswer(t, "192.0.2.7", "trail@example.com", "wrong wrong wrong"); r.StatusCode != 429 {
			t.Fatalf("throttled sign-in with the trail back: %d, want 429", r.StatusCode)
		}
	})
}

// A right second-factor code whose sign-in cannot be committed (here its
// audit entry fails) was no failed guess: the code throttles count it not.
// Without the take-back, every database fault would bring the account
// nearer a wait.
func TestDatabaseFaultIsNoFailedGuess(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "fault@example.com", "Fault")
		secret, _ := ts.enrolTOTP(t, tk.AccessToken)
		before := throttleCounts(t, ts)
		for range 3 {
			ts.env.Clock.Advance(30 * time.Second) // a step not used yet
			challenge := ts.passwordStep(t, "fault@example.com")
			code, _ := totp.GenerateCode(secret, ts.env.Clock.Now())
			restore := breakTrail(t, ts)
			r := ts.apiCall(t, "POST", "/api/v1/auth/mfa", "", map[string]string{"mfa_token": challenge, "code": code}, nil)
			restore()
			if r.StatusCode < 500 {
				t.Fatalf("code step with the trail failing: %d, want a 5xx", r.StatusCode)
			}
		}
		after := throttleCounts(t, ts)
		for name, n := range after {
			if (strings.HasPrefix(name, "mf:") || strings.HasPrefix(name, "mc:")) && n > before[name] {
				t.Errorf("%s counts %d attempts after database faults (was %d)", name, n, before[name])
			}
		}
	})
}
