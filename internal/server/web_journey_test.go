package server

import (
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/resguardo/resguardo/internal/testutil"
)

// TestCustomerJourneyWeb: the same journey as the API one, through the
// pages only: register, confirm the address from the .eml file, sign in,
// add two phones and an address, sign out.
func TestCustomerJourneyWeb(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		b := ts.browser(t)
		_, _, tok := b.get("/register")
		if resp := b.post("/register", url.Values{"csrf_token": {tok}, "name": {"Lucía Pérez"}, "email": {"lucia@example.com"}, "password": {testPassword}}); resp.StatusCode != 200 {
			t.Fatalf("register: %d", resp.StatusCode)
		}
		token := ts.env.LinkToken(t, "lucia@example.com", "/verify-email")
		code, body, tok := b.get("/verify-email?token=" + url.QueryEscape(token))
		if code != 200 || !strings.Contains(body, `name="token" value="`+token+`"`) {
			t.Fatalf("verify page: %d", code)
		}
		if resp := b.post("/verify-email", url.Values{"csrf_token": {tok}, "token": {token}}); resp.StatusCode != 200 {
			t.Fatalf("verify: %d", resp.StatusCode)
		}
		if resp := b.signIn("lucia@example.com", testPassword, ""); resp.StatusCode != 303 {
			t.Fatalf("sign in: %d", resp.StatusCode)
		}
		_, _, tok = b.get("/account")
		for _, f := range []url.Values{{"label": {"móvil"}, "number": {"+34 612 345 678"}}, {"number": {"+52 55 1234 5678"}}} {
			f.Set("csrf_token", tok)
			if resp := b.post("/account/phones", f); resp.StatusCode != 303 {
				t.Fatalf("add phone: %d", resp.StatusCode)
			}
		}
		if resp := b.post("/account/addresses", url.Values{"csrf_token": {tok}, "line1": {"Av. Reforma 222"}, "city": {"Ciudad de México"}, "country": {"MX"}}); resp.StatusCode != 303 {
			t.Fatalf("add address: %d", resp.StatusCode)
		}
		// An invalid phone is answered on the page, and changes nothing.
		if resp := b.post("/account/phones", url.Values{"csrf_token": {tok}, "number": {"12345"}}); resp.StatusCode != 400 {
			t.Errorf("invalid phone: %d, want 400", resp.StatusCode)
		}
		_, profile, _ := b.get("/account")
		_, body, _ = b.get("/account/contact")
		body = html.UnescapeString(profile + body)
		for _, want := range []string{"Lucía Pérez", "lucia@example.com", "+34612345678", "+525512345678", "Av. Reforma 222", "Ciudad de México", "confirmed"} {
			if !strings.Contains(body, want) {
				t.Errorf("account page lacks %q", want)
			}
		}
		if n := len(regexp.MustCompile(`action="/account/phones/[A-Z2-7]{26}/delete"`).FindAllString(body, -1)); n != 2 {
			t.Errorf("%d phones listed, want 2", n)
		}
		if resp := b.post("/logout", url.Values{"csrf_token": {tok}}); resp.StatusCode != 303 {
			t.Fatalf("sign out: %d", resp.StatusCode)
		}
		if code, _, _ := b.get("/account"); code != 303 {
			t.Errorf("account after sign-out: %d, want 303", code)
		}
	})
}
