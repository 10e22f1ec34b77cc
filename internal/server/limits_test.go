package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/testutil"
)

// newPeerServer is a second server of the same deployment as ts (see
// testutil.Env.Peer), with its own listeners.
func newPeerServer(t *testing.T, ts *testServer, opts ...testOption) *testServer {
	t.Helper()
	return serveEnv(t, ts.env.Peer(t), ts.logs, opts...)
}

// on is the same browser (cookie jar) talking to another server of the
// deployment. Cookies do not tell ports apart, so it carries its cookies.
func (b *browser) on(ts *testServer) *browser {
	u, _ := url.Parse(ts.site.URL)
	return &browser{t: b.t, ts: ts, client: b.client, base: u}
}

// signInFrom posts the sign-in form from a client address (through the
// trusted proxy) and returns the status: 303 signed in, 401 refused, 429
// made to wait (with Retry-After).
func (b *browser) signInFrom(ip, email, password string) int {
	b.t.Helper()
	_, _, tok := b.get("/login")
	resp := b.post("/login", url.Values{"csrf_token": {tok}, "email": {email}, "password": {password}}, "X-Forwarded-For", ip)
	if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
		b.t.Errorf("429 without Retry-After")
	}
	return resp.StatusCode
}

// loginAnswer signs in through the API from ip and returns the answer.
func (ts *testServer) loginAnswer(t *testing.T, ip, email, password string) response {
	t.Helper()
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
	return ts.do(t, ts.site, "POST", "/api/v1/auth/login", strings.NewReader(body), "Content-Type", "application/json", "X-Forwarded-For", ip)
}

// accessLogActions lists the actions in a customer's access log, newest
// first.
func (ts *testServer) accessLogActions(t *testing.T, token string) []string {
	t.Helper()
	var page accessLogPage
	if r := ts.apiCall(t, "GET", "/api/v1/me/access-log?limit=100", token, nil, &page); r.StatusCode != 200 {
		t.Fatalf("access log: %d %s", r.StatusCode, r.body)
	}
	var out []string
	for _, e := range page.Entries {
		out = append(out, e.Action)
	}
	return out
}

// 100 wrong passwords for one account from 100 networks, spread over two
// servers of one deployment: unknown devices are slowed (429 with
// Retry-After) after the account-wide allowance, on both servers; the
// owner's known browser still signs in, on either server, and the owner's
// app keeps its sign-in through its refresh family. The owner sees the
// refusals in their access log.
func TestGuessesFromManyNetworksSlowOnlyUnknownDevices(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		a := newTestServerOn(t, b, withTrustedProxies("127.0.0.0/8"))
		peer := newPeerServer(t, a, withTrustedProxies("127.0.0.0/8"))
		const email = "owner@example.com"
		app := a.signUp(t, email, "Owner")
		owner := a.browser(t)
		if code := owner.signInFrom("192.0.2.10", email, testPassword); code != 303 {
			t.Fatalf("owner's first browser sign-in: %d", code)
		}
		if owner.cookie(deviceCookie) == "" {
			t.Fatal("no device cookie after a sign-in")
		}

		codes := map[int]int{}
		for i := range 100 {
			srv := []*testServer{a, peer}[i%2]
			r := srv.loginAnswer(t, fmt.Sprintf("198.18.%d.%d", i/50, i%50+1), email, fmt.Sprintf("guess number %03d!", i))
			codes[r.StatusCode]++
			if r.StatusCode == 429 && r.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
		}
		if codes[401] == 0 || codes[401] > 10 || codes[429] != 100-codes[401] {
			t.Errorf("100 guesses from 100 networks: %v; want at most 10 checked (401), the rest 429", codes)
		}
		// An unknown device, even with the right password, waits: on either
		// server (the count lives in the shared database).
		for _, srv := range []*testServer{a, peer} {
			if r := srv.loginAnswer(t, "203.0.113.50", email, testPassword); r.StatusCode != 429 {
				t.Errorf("unknown device with the right password: %d, want 429", r.StatusCode)
			}
			if code := srv.browser(t).signInFrom("203.0.113.51", email, testPassword); code != 429 {
				t.Errorf("unknown browser with the right password: %d, want 429", code)
			}
		}
		// The owner's known browser signs in, on both servers, from a
		// network of its own and from one the attacker used.
		if code := owner.on(peer).signInFrom("198.51.100.7", email, testPassword); code != 303 {
			t.Errorf("owner's known browser on the other server: %d, want 303", code)
		}
		if code := owner.signInFrom("198.18.0.1", email, testPassword); code != 303 {
			t.Errorf("owner's known browser from an attacker's network: %d, want 303", code)
		}
		// The owner's app keeps going through its refresh family.
		var fresh tokens
		if r := peer.apiCall(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": app.RefreshToken}, &fresh); r.StatusCode != 200 {
			t.Fatalf("owner's app refresh: %d %s", r.StatusCode, r.body)
		}
		if r := a.apiCall(t, "GET", "/api/v1/me", fresh.AccessToken, nil, nil); r.StatusCode != 200 {
			t.Errorf("owner's app after the attack: %d", r.StatusCode)
		}
		// Every refusal is audited, and the owner sees them.
		throttled := 0
		for _, act := range a.accessLogActions(t, fresh.AccessToken) {
			if act == "session.sign_in_throttled" {
				throttled++
			}
		}
		if throttled < codes[429] {
			t.Errorf("the owner's access log shows %d refused sign-ins, want at least %d", throttled, codes[429])
		}
	})
}

// A known browser that guesses wrong is limited on its own key: whoever
// holds the owner's device cookie gets no more guesses than anyone on one
// network would.
func TestKnownDeviceHasItsOwnLimit(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b, withTrustedProxies("127.0.0.0/8"))
		const email = "device@example.com"
		ts.signUp(t, email, "Device")
		br := ts.browser(t)
		if code := br.signInFrom("192.0.2.20", email, testPassword); code != 303 {
			t.Fatalf("first sign-in: %d", code)
		}
		codes := map[int]int{}
		for i := range 12 {
			codes[br.signInFrom(fmt.Sprintf("198.18.1.%d", i+1), email, "wrong wrong wrong")]++
		}
		if codes[401] != 5 || codes[429] != 7 {
			t.Errorf("12 wrong passwords from a known browser: %v, want 5 checked, 7 made to wait", codes)
		}
		// The device's wait is its own: another unknown device is not
		// slowed by it.
		if r := ts.loginAnswer(t, "198.51.100.9", email, testPassword); r.StatusCode != 200 {
			t.Errorf("the owner's app from elsewhere: %d, want 200", r.StatusCode)
		}
	})
}

// A device cookie the server did not issue counts for nothing: a planted or
// made-up token is replaced, never recorded as known.
func TestMadeUpDeviceCookieIsNotKnown(t *testing.T) {
	ts := newTestServer(t, withTrustedProxies("127.0.0.0/8"))
	const email = "planted@example.com"
	ts.signUp(t, email, "Planted")
	br := ts.browser(t)
	br.client.Jar.SetCookies(br.base, []*http.Cookie{{Name: deviceCookie, Value: "made-up-by-an-attacker-0123456789", Path: "/"}})
	if code := br.signInFrom("192.0.2.30", email, testPassword); code != 303 {
		t.Fatalf("sign-in: %d", code)
	}
	if got := br.cookie(deviceCookie); got == "made-up-by-an-attacker-0123456789" || got == "" {
		t.Errorf("device cookie after sign-in = %q, want a fresh token", got)
	}
	known, err := ts.env.DB.Conn().DeviceIssued(t.Context(), auth.TokenHash("made-up-by-an-attacker-0123456789"), ts.env.Clock.Now().Unix())
	if err != nil || known {
		t.Errorf("the made-up token is recorded as known (%v)", err)
	}
}

// 60 wrong passwords against 60 accounts from one address: the address is
// made to wait (429) there, on both servers, while a customer's known
// browser on the same address still signs in, and a neighbour on the same
// /24 is not affected (the limit is per address, not per /24).
func TestSprayFromOneAddressSparesKnownDevicesAndNeighbours(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		a := newTestServerOn(t, b, withTrustedProxies("127.0.0.0/8"))
		peer := newPeerServer(t, a, withTrustedProxies("127.0.0.0/8"))
		const office = "203.0.113.77"
		a.signUp(t, "colleague@example.com", "Colleague")
		a.signUp(t, "neighbour@example.com", "Neighbour")
		colleague := a.browser(t)
		if code := colleague.signInFrom(office, "colleague@example.com", testPassword); code != 303 {
			t.Fatalf("colleague's first sign-in: %d", code)
		}
		codes := map[int]int{}
		for i := range 60 {
			srv := []*testServer{a, peer}[i%2]
			r := srv.loginAnswer(t, office, fmt.Sprintf("victim%02d@example.com", i), "Password1234!")
			codes[r.StatusCode]++
		}
		if codes[401] == 0 || codes[401] > 20 || codes[429] != 60-codes[401] {
			t.Errorf("60 guesses against 60 accounts from one address: %v; want at most 20 checked, the rest 429", codes)
		}
		if r := peer.loginAnswer(t, office, "neighbour@example.com", testPassword); r.StatusCode != 429 {
			t.Errorf("an unknown device on the sprayed address: %d, want 429", r.StatusCode)
		} else if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s <= 0 {
			t.Errorf("Retry-After = %q", r.Header.Get("Retry-After"))
		}
		if code := colleague.on(peer).signInFrom(office, "colleague@example.com", testPassword); code != 303 {
			t.Errorf("a known browser on the sprayed address: %d, want 303", code)
		}
		if r := a.loginAnswer(t, "203.0.113.78", "neighbour@example.com", testPassword); r.StatusCode != 200 {
			t.Errorf("a neighbour on the same /24: %d, want 200", r.StatusCode)
		}
	})
}

// A malformed address at sign-in is a 401 like any failure (never a 500),
// counted against the network, on the form and the API (where the document
// already refuses some with a 400).
func TestMalformedAddressAtSignInIsAFailure(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b, withTrustedProxies("127.0.0.0/8"))
		for _, addr := range []string{"a b@example.com", "'", "", "\u2028@example.com", strings.Repeat("x", 300) + "@example.com"} {
			if r := ts.loginAnswer(t, "192.0.2.40", addr, "some password here"); r.StatusCode != 401 && r.StatusCode != 400 {
				t.Errorf("API sign-in as %q: %d %s, want 401 or 400", addr, r.StatusCode, r.body)
			}
			if code := ts.browser(t).signInFrom("192.0.2.41", addr, "some password here"); code != 401 {
				t.Errorf("form sign-in as %q: %d, want 401", addr, code)
			}
		}
		if strings.Contains(ts.logs.String(), `"level":"ERROR"`) {
			t.Errorf("malformed addresses logged errors:\n%s", ts.logs.String())
		}
	})
}
