package server

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/testutil"
)

// Every destructive form carries a required confirmation box, and the
// server refuses the form without it (400, nothing changed): without
// script, one click runs nothing destructive. With the box ticked each
// action runs.
func TestDestructiveFormsNeedConfirmation(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		app := ts.signUp(t, "careful@example.com", "Care Ful")
		id := customerID(t, ts, "careful@example.com")
		ts.enrolTOTP(t, app.AccessToken)
		if r := ts.apiCall(t, "POST", "/api/v1/me/phones", app.AccessToken, map[string]string{"number": "+34 612 345 678"}, nil); r.StatusCode != 201 {
			t.Fatalf("add phone: %d", r.StatusCode)
		}
		if r := ts.apiCall(t, "POST", "/api/v1/me/addresses", app.AccessToken, map[string]string{"line1": "Calle Mayor 1", "city": "Madrid", "country": "ES"}, nil); r.StatusCode != 201 {
			t.Fatalf("add address: %d", r.StatusCode)
		}
		profile := func() resguardo.Customer {
			t.Helper()
			c, err := ts.env.Accounts.Profile(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		c := profile()
		phoneID, addressID := c.Phones[0].ID, c.Addresses[0].ID

		// The staff forms.
		lead := ts.console(t)
		tok := lead.signIn(ts.newStaff(t, "lead@corp.example", resguardo.RoleLead))
		page := lead.get("/customers/" + id)
		box := regexp.MustCompile(`<input type="checkbox" name="confirm" value="yes" required>`)
		if n := len(box.FindAllString(page.Body, -1)); n != 4 {
			t.Errorf("%d confirmation boxes on the customer's staff page, want 4 (second factor, lock, sessions, erasure)", n)
		}
		for _, path := range []string{"mfa-reset", "lock", "revoke-sessions", "erase"} {
			for _, v := range []url.Values{{"csrf_token": {tok}}, {"csrf_token": {tok}, "confirm": {"on"}}} {
				if r := lead.post("/customers/"+id+"/"+path, v); r.StatusCode != 400 {
					t.Errorf("%s without the box ticked: %d, want 400", path, r.StatusCode)
				}
			}
		}
		c = profile()
		if !c.TOTPEnabled || c.Locked || len(c.Phones) != 1 || len(c.Addresses) != 1 {
			t.Fatalf("an unconfirmed form changed the customer: totp %t, locked %t", c.TOTPEnabled, c.Locked)
		}
		if r := ts.apiCall(t, "GET", "/api/v1/me", app.AccessToken, nil, nil); r.StatusCode != 200 {
			t.Fatalf("an unconfirmed form ended the customer's sessions: %d", r.StatusCode)
		}
		if list := lead.get("/approvals"); strings.Contains(list.Body, id) {
			t.Error("an unconfirmed erasure request was filed")
		}
		for _, path := range []string{"mfa-reset", "revoke-sessions", "lock"} {
			if r := lead.post("/customers/"+id+"/"+path, url.Values{"csrf_token": {tok}, "confirm": {"yes"}}); r.StatusCode != 303 {
				t.Errorf("%s confirmed: %d", path, r.StatusCode)
			}
		}
		c = profile()
		if c.TOTPEnabled || !c.Locked {
			t.Errorf("confirmed actions did not run: totp %t, locked %t", c.TOTPEnabled, c.Locked)
		}
		if r := ts.apiCall(t, "GET", "/api/v1/me", app.AccessToken, nil, nil); r.StatusCode != 401 {
			t.Errorf("confirmed end of sessions left the app session: %d", r.StatusCode)
		}
		if r := lead.post("/customers/"+id+"/unlock", url.Values{"csrf_token": {tok}}); r.StatusCode != 303 {
			t.Fatalf("unlock: %d", r.StatusCode)
		}

		// The customer's own forms, now without a second factor.
		web := ts.browser(t)
		if r := web.signIn("careful@example.com", testPassword, ""); r.StatusCode != 303 {
			t.Fatalf("web sign-in: %d", r.StatusCode)
		}
		device := ts.login(t, "careful@example.com", testPassword)
		other := func() bool {
			return ts.apiCall(t, "GET", "/api/v1/me", device.AccessToken, nil, nil).StatusCode == 200
		}
		_, contact, ctok := web.get("/account/contact")
		_, security, _ := web.get("/account/security")
		if n := len(box.FindAllString(contact+security, -1)); n != 3 {
			t.Errorf("%d confirmation boxes on the contact and security pages, want 3 (phone, address, other devices)", n)
		}
		customerForms := []string{"/account/phones/" + phoneID + "/delete", "/account/addresses/" + addressID + "/delete", "/account/sessions/revoke-others"}
		for _, path := range customerForms {
			if r := web.post(path, url.Values{"csrf_token": {ctok}}); r.StatusCode != 400 {
				t.Errorf("%s without the box ticked: %d, want 400", path, r.StatusCode)
			}
		}
		if c = profile(); len(c.Phones) != 1 || len(c.Addresses) != 1 {
			t.Errorf("an unconfirmed form deleted contact data: %d phones, %d addresses", len(c.Phones), len(c.Addresses))
		}
		if !other() {
			t.Error("an unconfirmed form signed the other devices out")
		}
		for _, path := range customerForms {
			if r := web.post(path, url.Values{"csrf_token": {ctok}, "confirm": {"yes"}}); r.StatusCode != 303 {
				t.Errorf("%s confirmed: %d", path, r.StatusCode)
			}
		}
		if c = profile(); len(c.Phones) != 0 || len(c.Addresses) != 0 {
			t.Errorf("confirmed deletes did not run: %d phones, %d addresses", len(c.Phones), len(c.Addresses))
		}
		if other() {
			t.Error("confirmed 'sign out other devices' left another device signed in")
		}
	})
}
