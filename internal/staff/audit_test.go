package staff

import (
	"strings"
	"testing"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/testutil"
)

// Administrators and auditors browse the trail, newest first, by action
// prefix (wildcards matching only themselves), actor, target and cursor,
// and see it verify; nobody else reads it.
func TestAuditEntriesAndVerify(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b)
		ctx := t.Context()
		id := f.customer("trail@example.com", "+34612345677")
		lead := f.signIn("lead@corp.example", f.enrol("lead@corp.example", resguardo.RoleLead))
		if _, err := f.staff.View(ctx, lead, id); err != nil {
			t.Fatal(err)
		}
		auditor := f.signIn("auditor@corp.example", f.enrol("auditor@corp.example", resguardo.RoleAuditor))
		admin := f.signIn("admin@corp.example", f.enrol("admin@corp.example", resguardo.RoleAdmin))

		all, err := f.staff.AuditEntries(ctx, auditor, AuditFilter{})
		if err != nil || len(all) < 5 {
			t.Fatalf("all entries: %d, %v", len(all), err)
		}
		for i := 1; i < len(all); i++ {
			if all[i].ID >= all[i-1].ID {
				t.Fatal("not newest first")
			}
		}
		views, err := f.staff.AuditEntries(ctx, admin, AuditFilter{Action: "staff.customer_", ActorID: lead.StaffID, TargetID: id})
		if err != nil || len(views) != 1 || views[0].Action != resguardo.ActCustomerViewed {
			t.Fatalf("lead's views of the customer: %+v, %v", views, err)
		}
		if none, err := f.staff.AuditEntries(ctx, auditor, AuditFilter{Action: "staff_"}); err != nil || len(none) != 0 {
			t.Errorf("'_' matched as a wildcard: %d entries, %v", len(none), err)
		}
		if none, err := f.staff.AuditEntries(ctx, auditor, AuditFilter{Action: "%"}); resguardo.ErrorCode(err) != resguardo.EInvalid || len(none) != 0 {
			t.Errorf("'%%' filter: %d entries, %v", len(none), err)
		}
		page, err := f.staff.AuditEntries(ctx, auditor, AuditFilter{Before: all[1].ID, Limit: 2})
		if err != nil || len(page) != 2 || page[0].ID != all[2].ID {
			t.Errorf("cursor page: %+v, %v", page, err)
		}
		if _, err := f.staff.AuditEntries(ctx, auditor, AuditFilter{Limit: 101}); resguardo.ErrorCode(err) != resguardo.EInvalid {
			t.Errorf("limit 101: %v", err)
		}
		if _, err := f.staff.AuditEntries(ctx, auditor, AuditFilter{TargetID: strings.Repeat("A", 65)}); resguardo.ErrorCode(err) != resguardo.EInvalid {
			t.Errorf("a 65-character id: %v", err)
		}
		if _, err := f.staff.AuditEntries(ctx, lead, AuditFilter{}); resguardo.ErrorCode(err) != resguardo.EForbidden {
			t.Errorf("a lead read the trail: %v", err)
		}
		rep, err := f.staff.VerifyTrail(ctx, admin)
		if err != nil || !rep.OK() || rep.Entries < int64(len(all)) {
			t.Errorf("verify: %+v, %v", rep, err)
		}
		if _, err := f.staff.VerifyTrail(ctx, lead); resguardo.ErrorCode(err) != resguardo.EForbidden {
			t.Errorf("a lead verified the trail: %v", err)
		}
	})
}
