package server

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/testutil"
)

// The enrolment page asks for a display name: a missing, too long or
// control-character name is a field error that sets nothing (the link
// still offers its first step, no password is stored), and the name typed
// comes back. A valid name is stored sealed, never in clear.
func TestStaffEnrolAsksForDisplayName(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		token := ts.enrolLink(t, "named@corp.example", resguardo.RoleAgent)
		c := ts.console(t)
		form := c.get("/enrol?token=" + url.QueryEscape(token))
		if form.StatusCode != 200 || !strings.Contains(form.Body, `name="name"`) {
			t.Fatalf("enrolment page without a name field: %d", form.StatusCode)
		}
		for _, tc := range []struct{ name, want string }{
			{"   ", "Enter your name, as colleagues will see it."},
			{strings.Repeat("n", 81), "Use a name of 1 to 80 characters."},
			{"Ana\u202eGarcía", "The name must not contain control or invisible formatting characters."},
			{"Ana\x07García", "The name must not contain control or invisible formatting characters."},
		} {
			r := c.post("/enrol", url.Values{"csrf_token": {form.token()}, "token": {token}, "name": {tc.name}, "password": {staffTestPassword}})
			if r.StatusCode != 400 || !strings.Contains(r.Body, tc.want) || !strings.Contains(r.Body, `aria-invalid="true"`) {
				t.Errorf("name %q: %d, want 400 with %q at the field", tc.name, r.StatusCode, tc.want)
			}
			if secretRe.MatchString(r.Body) {
				t.Errorf("name %q: the TOTP step was shown", tc.name)
			}
		}
		// Nothing was set: the link is still at its first step, no password.
		row, err := ts.env.DB.Conn().StaffByEmail(t.Context(), "named@corp.example")
		if err != nil {
			t.Fatal(err)
		}
		if row.PasswordHash != "" || row.NameSealed != nil || row.TOTPSealed != nil {
			t.Errorf("a refused enrolment stored something: password %t, name %t, totp %t", row.PasswordHash != "", row.NameSealed != nil, row.TOTPSealed != nil)
		}
		// The name typed is kept (the control characters are escaped by the template).
		kept := c.post("/enrol", url.Values{"csrf_token": {form.token()}, "token": {token}, "name": {strings.Repeat("n", 81)}, "password": {"short"}})
		if !strings.Contains(kept.Body, `value="`+strings.Repeat("n", 81)+`"`) || strings.Contains(kept.Body, `value="short"`) {
			t.Errorf("the failed form does not keep the name (or keeps the password)")
		}

		ok := c.post("/enrol", url.Values{"csrf_token": {form.token()}, "token": {token}, "name": {"  Ana García López  "}, "password": {staffTestPassword}})
		if ok.StatusCode != 200 || !secretRe.MatchString(ok.Body) {
			t.Fatalf("enrolment with a valid name: %d", ok.StatusCode)
		}
		row, err = ts.env.DB.Conn().StaffByEmail(t.Context(), "named@corp.example")
		if err != nil {
			t.Fatal(err)
		}
		if row.NameSealed == nil || bytes.Contains(row.NameSealed, []byte("García")) || bytes.Contains(row.NameSealed, []byte("Ana")) {
			t.Errorf("the display name is not stored sealed: %q", row.NameSealed)
		}
	})
}

// Colleagues are shown by display name and role on the approvals page, the
// audit trail and the team page; the id (and the work address) only in the
// detail. A staff member enrolled before names existed is shown by work
// address.
func TestStaffShownByDisplayName(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		adm := ts.newStaff(t, "adm@corp.example", resguardo.RoleAdmin)
		old := ts.newStaff(t, "old@corp.example", resguardo.RoleLead)
		// old enrolled before display names: no name stored.
		raw := testutil.RawDB(t, ts.env.DSN, ts.env.DataDir)
		if _, err := raw.ExecContext(t.Context(), `UPDATE staff SET name_sealed = NULL WHERE email = ?`, "old@corp.example"); err != nil {
			t.Fatal(err)
		}
		ts.signUp(t, "gone@example.com", "Ido Gone")
		id := customerID(t, ts, "gone@example.com")
		lead := ts.console(t)
		leadTok := lead.signIn(old)
		if r := lead.post("/customers/"+id+"/erase", url.Values{"csrf_token": {leadTok}, "confirm": {"yes"}}); r.StatusCode != 303 {
			t.Fatalf("erasure request: %d", r.StatusCode)
		}
		second := ts.console(t)
		second.signIn(ts.newStaff(t, "new@corp.example", resguardo.RoleLead))
		list := second.get("/approvals")
		if !strings.Contains(list.Body, "old@corp.example (lead)") {
			t.Errorf("a staff member without a name is not shown by work address: %s", list.Body)
		}
		admin := ts.console(t)
		admin.signIn(adm)
		team := admin.get("/team")
		if team.StatusCode != 200 || !strings.Contains(team.Body, "Colleague adm") || !strings.Contains(team.Body, "old@corp.example") {
			t.Errorf("the team page does not name its members: %d %s", team.StatusCode, team.Body)
		}
		trail := admin.get("/audit")
		admRow, err := ts.env.DB.Conn().StaffByEmail(t.Context(), "adm@corp.example")
		if err != nil {
			t.Fatal(err)
		}
		// The admin's own sign-in is in the trail, named, with the id in the detail only.
		if !strings.Contains(trail.Body, "Colleague adm (administrator)") {
			t.Errorf("the audit trail does not name the admin: %s", trail.Body)
		}
		if i := strings.Index(trail.Body, "Colleague adm (administrator)"); i >= 0 {
			rest := trail.Body[i:]
			d := strings.Index(rest, "<details")
			if d < 0 || strings.Index(rest, admRow.ID) < d {
				t.Errorf("the id is shown outside the detail view")
			}
		}
	})
}
