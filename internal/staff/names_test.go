package staff

import (
	"strings"
	"testing"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/testutil"
)

// The display name chosen at enrolment is checked (1 to 80 characters, no
// control or invisible formatting characters), and a refused one sets
// nothing. Names answers it with the role; List shows it on the team page.
func TestDisplayNameAtEnrolment(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b)
		ctx := t.Context()
		inv, err := f.staff.Create(ctx, "named@corp.example", resguardo.RoleAgent, nil)
		if err != nil {
			t.Fatal(err)
		}
		token := inv.Link[strings.Index(inv.Link, "token=")+len("token="):]
		for _, bad := range []string{"", "   ", strings.Repeat("é", MaxNameLen+1), "Ana\nGarcía", "Ana\u200bGarcía"} {
			_, err := f.staff.EnrolPassword(ctx, token, bad, staffPassword)
			fields := resguardo.ErrorFields(err)
			if resguardo.ErrorCode(err) != resguardo.EInvalid || len(fields) != 1 || fields[0].Field != "name" {
				t.Errorf("name %q: %v, want a field error on name", bad, err)
			}
		}
		// Both faults at once are both reported.
		if _, err := f.staff.EnrolPassword(ctx, token, "", "short"); len(resguardo.ErrorFields(err)) != 2 {
			t.Errorf("a bad name and a bad password: %v, want both fields", resguardo.ErrorFields(err))
		}
		row, err := f.env.DB.Conn().StaffByEmail(ctx, "named@corp.example")
		if err != nil {
			t.Fatal(err)
		}
		if row.NameSealed != nil || row.PasswordHash != "" {
			t.Fatal("a refused enrolment stored something")
		}
		long := strings.Repeat("é", MaxNameLen)
		if _, err := f.staff.EnrolPassword(ctx, token, " "+long+" ", staffPassword); err != nil {
			t.Fatalf("a name of %d characters: %v", MaxNameLen, err)
		}

		secret := f.enrol("admin@corp.example", resguardo.RoleAdmin)
		admin := f.signIn("admin@corp.example", secret)
		names, err := f.staff.Names(ctx, admin, []string{row.ID, admin.StaffID, "NOSUCHSTAFF"})
		if err != nil {
			t.Fatal(err)
		}
		if n := names[row.ID]; n.Name != long || n.Display() != long || n.Role != resguardo.RoleAgent {
			t.Errorf("Names: %+v, want the trimmed name and the role", n)
		}
		if n := names[admin.StaffID]; n.Display() != "Test Staff" {
			t.Errorf("Names for the admin: %+v", n)
		}
		if _, ok := names["NOSUCHSTAFF"]; ok {
			t.Error("Names answered an id that names no one")
		}
		members, err := f.staff.List(ctx, &admin)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range members {
			if m.ID == row.ID && m.Name != long {
				t.Errorf("List: %+v, want the display name", m)
			}
		}
		// Without a name (enrolled before names existed) the work address is shown.
		if (StaffName{Email: "old@corp.example"}).Display() != "old@corp.example" {
			t.Error("a staff member without a name is not shown by work address")
		}
	})
}
