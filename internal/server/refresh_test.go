package server

import (
	"sync"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/testutil"
)

// A refresh retires the access token issued before it: only the newest
// pair works. Reuse detection still holds after the change.
func TestRefreshRetiresPreviousAccessToken(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		first := ts.signUp(t, "retire@example.com", "Retire")
		other := ts.login(t, "retire@example.com", testPassword) // another device, another family
		var second tokens
		if resp := ts.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken}, &second); resp.StatusCode != 200 {
			t.Fatalf("refresh: %d %s", resp.StatusCode, resp.body)
		}
		resp := ts.apiCall(t, "GET", "/api/v1/me", first.AccessToken, nil, nil)
		if resp.StatusCode != 401 {
			t.Fatalf("previous access token after refresh: %d, want 401", resp.StatusCode)
		}
		if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
			t.Errorf("WWW-Authenticate %q", got)
		}
		for name, tok := range map[string]string{"new access token": second.AccessToken, "other device": other.AccessToken} {
			if resp := ts.apiCall(t, "GET", "/api/v1/me", tok, nil, nil); resp.StatusCode != 200 {
				t.Errorf("%s: %d, want 200", name, resp.StatusCode)
			}
		}
		// A second refresh retires the second access token too.
		var third tokens
		if resp := ts.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": second.RefreshToken}, &third); resp.StatusCode != 200 {
			t.Fatalf("second refresh: %d", resp.StatusCode)
		}
		if resp := ts.apiCall(t, "GET", "/api/v1/me", second.AccessToken, nil, nil); resp.StatusCode != 401 {
			t.Errorf("second access token after the next refresh: %d, want 401", resp.StatusCode)
		}
		// Theft detection is unchanged: replaying a used refresh token ends
		// the family, the newest pair included.
		if resp := ts.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken}, nil); resp.StatusCode != 401 {
			t.Fatalf("replayed refresh token: %d, want 401", resp.StatusCode)
		}
		if resp := ts.apiCall(t, "GET", "/api/v1/me", third.AccessToken, nil, nil); resp.StatusCode != 401 {
			t.Errorf("newest access token after a replay: %d, want 401", resp.StatusCode)
		}
		if resp := ts.apiCall(t, "GET", "/api/v1/me", other.AccessToken, nil, nil); resp.StatusCode != 200 {
			t.Errorf("other device after the replay: %d, want 200", resp.StatusCode)
		}
	})
}

// Requests with the current access token racing a refresh either complete
// (they read the token before the refresh committed) or get 401 (after);
// none fails otherwise, exactly one pair comes out of the refresh, and
// afterwards only the new access token works.
func TestRefreshRacingRequests(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "race@example.com", "Race")
		var wg sync.WaitGroup
		statuses := make(chan int, 16)
		var next tokens
		var refreshStatus int
		wg.Go(func() {
			refreshStatus = ts.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}, &next).StatusCode
		})
		for range 8 {
			wg.Go(func() { statuses <- ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, nil).StatusCode })
		}
		wg.Wait()
		close(statuses)
		for s := range statuses {
			if s != 200 && s != 401 {
				t.Errorf("request racing a refresh: %d, want 200 or 401", s)
			}
		}
		if refreshStatus != 200 {
			t.Fatalf("refresh: %d", refreshStatus)
		}
		if resp := ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, nil); resp.StatusCode != 401 {
			t.Errorf("old access token after the race: %d, want 401", resp.StatusCode)
		}
		if resp := ts.apiCall(t, "GET", "/api/v1/me", next.AccessToken, nil, nil); resp.StatusCode != 200 {
			t.Errorf("new access token after the race: %d, want 200", resp.StatusCode)
		}
	})
}

// An app sign-in ends 90 days after the password was given, however often
// it was refreshed: the refresh after that answers 401 and the family is
// gone from the customer's sign-ins.
func TestAppSigninAbsoluteLifetime(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "absolute@example.com", "Absolute")
		var me struct {
			ID string `json:"id"`
		}
		if resp := ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, &me); resp.StatusCode != 200 || me.ID == "" {
			t.Fatalf("GET /me: %d", resp.StatusCode)
		}
		// Refresh every 20 days (inside the refresh token's 30) up to day 80.
		for day := 20; day <= 80; day += 20 {
			ts.env.Clock.Advance(20 * 24 * time.Hour)
			var next tokens
			if resp := ts.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}, &next); resp.StatusCode != 200 {
				t.Fatalf("refresh on day %d: %d %s", day, resp.StatusCode, resp.body)
			}
			tk = next
		}
		// Day 89 and 23 hours: still inside; the access token issued now
		// stops at day 90, not 15 minutes later.
		ts.env.Clock.Advance(9*24*time.Hour + 23*time.Hour + 50*time.Minute)
		var last tokens
		if resp := ts.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tk.RefreshToken}, &last); resp.StatusCode != 200 {
			t.Fatalf("refresh just before day 90: %d %s", resp.StatusCode, resp.body)
		}
		if last.ExpiresIn != 600 {
			t.Errorf("expires_in %d just before the end, want 600 (ten minutes left)", last.ExpiresIn)
		}
		ts.env.Clock.Advance(10 * time.Minute) // day 90 exactly
		if resp := ts.apiCall(t, "GET", "/api/v1/me", last.AccessToken, nil, nil); resp.StatusCode != 401 {
			t.Errorf("access token at day 90: %d, want 401", resp.StatusCode)
		}
		if resp := ts.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": last.RefreshToken}, nil); resp.StatusCode != 401 {
			t.Fatalf("refresh at day 90: %d, want 401", resp.StatusCode)
		}
		fams, err := ts.env.DB.Conn().TokenFamilies(t.Context(), me.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(fams) != 0 {
			t.Errorf("%d token families left after the end, want 0", len(fams))
		}
		// A new sign-in with the password starts a new 90 days.
		fresh := ts.login(t, "absolute@example.com", testPassword)
		if resp := ts.apiCall(t, "GET", "/api/v1/me", fresh.AccessToken, nil, nil); resp.StatusCode != 200 {
			t.Errorf("a new sign-in after the end: %d", resp.StatusCode)
		}
	})
}
