package staff

import (
	"slices"
	"testing"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/testutil"
)

// opCalls runs each staff operation as p, with arguments that name nothing
// that exists: what is tested is only whether the operation let p in.
var opCalls = map[Op]func(f *fixture, p Principal) error{
	OpSearch: func(f *fixture, p Principal) error {
		_, err := f.staff.Search(f.t.Context(), p, "nobody@example.com")
		return err
	},
	OpView: func(f *fixture, p Principal) error {
		_, err := f.staff.View(f.t.Context(), p, noSuchID)
		return err
	},
	OpReveal: func(f *fixture, p Principal) error {
		_, err := f.staff.Reveal(f.t.Context(), p, noSuchID, "name", "checking a delivery complaint by phone")
		return err
	},
	OpEditName: func(f *fixture, p Principal) error {
		return f.staff.EditName(f.t.Context(), p, noSuchID, "Ana")
	},
	OpSaveAddress: func(f *fixture, p Principal) error {
		return f.staff.SaveAddress(f.t.Context(), p, noSuchID, resguardo.Address{})
	},
	OpDeleteAddress: func(f *fixture, p Principal) error {
		return f.staff.DeleteAddress(f.t.Context(), p, noSuchID, noSuchID)
	},
	OpChangeEmail: func(f *fixture, p Principal) error {
		return f.staff.ChangeEmail(f.t.Context(), p, noSuchID, "not an address")
	},
	OpAddPhone: func(f *fixture, p Principal) error {
		return f.staff.AddPhone(f.t.Context(), p, noSuchID, "home", "not a number")
	},
	OpDeletePhone: func(f *fixture, p Principal) error {
		return f.staff.DeletePhone(f.t.Context(), p, noSuchID, noSuchID)
	},
	OpResetMFA: func(f *fixture, p Principal) error {
		return f.staff.ResetSecondFactor(f.t.Context(), p, noSuchID)
	},
	OpSetLocked: func(f *fixture, p Principal) error {
		return f.staff.SetLocked(f.t.Context(), p, noSuchID, true)
	},
	OpRevokeSessions: func(f *fixture, p Principal) error {
		return f.staff.RevokeSessions(f.t.Context(), p, noSuchID)
	},
	OpRequestExport: func(f *fixture, p Principal) error {
		_, err := f.staff.Request(f.t.Context(), p, KindExport, noSuchID, "")
		return err
	},
	OpRequestErase: func(f *fixture, p Principal) error {
		_, err := f.staff.Request(f.t.Context(), p, KindErase, noSuchID, "")
		return err
	},
	OpRequestGrant: func(f *fixture, p Principal) error {
		_, err := f.staff.Request(f.t.Context(), p, KindGrant, noSuchID, "no such role")
		return err
	},
	OpApprovals: func(f *fixture, p Principal) error {
		_, err := f.staff.Approvals(f.t.Context(), p)
		return err
	},
	OpDecide: func(f *fixture, p Principal) error {
		_, err := f.staff.Decide(f.t.Context(), p, noSuchID, false)
		return err
	},
	OpExportDownload: func(f *fixture, p Principal) error {
		_, err := f.staff.CarryOutExport(f.t.Context(), p, noSuchID)
		return err
	},
	OpAuditRead: func(f *fixture, p Principal) error {
		_, err := f.staff.AuditEntries(f.t.Context(), p, AuditFilter{})
		return err
	},
	OpAuditVerify: func(f *fixture, p Principal) error {
		_, err := f.staff.VerifyTrail(f.t.Context(), p)
		return err
	},
	OpTeamList: func(f *fixture, p Principal) error {
		_, err := f.staff.List(f.t.Context(), &p)
		return err
	},
	OpTeamInvite: func(f *fixture, p Principal) error {
		_, err := f.staff.Create(f.t.Context(), "not an address", resguardo.RoleAuditor, &p)
		return err
	},
	OpTeamDisable: func(f *fixture, p Principal) error {
		_, err := f.staff.DisableOrRequest(f.t.Context(), p, noSuchID)
		return err
	},
}

const noSuchID = "AAAAAAAAAAAAAAAAAAAAAAAAAA"

// TestEveryOperationChecksItsOwnRequirement calls every staff operation
// directly (no route in front) as every role, with and without a recent
// password or code check, and wants the service to refuse exactly whom the
// operation's row in ops refuses. The route table builds its policies from
// the same rows (server.StaffOp), so an operation that checked another
// permission than its route, or none, fails here; an operation added to
// ops without a call here fails too.
func TestEveryOperationChecksItsOwnRequirement(t *testing.T) {
	f := newFixture(t, testutil.Backends()[0])
	var called []Op
	for op := range opCalls {
		called = append(called, op)
	}
	slices.Sort(called)
	if !slices.Equal(called, Ops()) {
		t.Fatalf("operations tested %v, declared %v: every declared operation needs a call here", called, Ops())
	}
	for _, op := range Ops() {
		req := Requires(op)
		for _, role := range resguardo.Roles() {
			for _, recent := range []bool{true, false} {
				p := Principal{StaffID: noSuchID, Role: role, MFADone: true, RecentAuthAt: f.env.Clock.Now()}
				if !recent {
					p.RecentAuthAt = f.env.Clock.Now().Add(-time.Hour)
				}
				code := resguardo.ErrorCode(opCalls[op](f, p))
				var want string
				switch {
				case !slices.ContainsFunc(req.AnyOf, role.Can):
					want = resguardo.EForbidden
				case req.Recent && !recent:
					want = resguardo.EReauthRequired
				}
				refused := code == resguardo.EForbidden || code == resguardo.EReauthRequired
				if want != "" && code != want || want == "" && refused {
					t.Errorf("%s as %s (recent %v): got %q, want %q", op, role, recent, code, or(want, "not refused"))
				}
			}
		}
		// Without its second factor nobody is let in.
		code := resguardo.ErrorCode(opCalls[op](f, Principal{StaffID: noSuchID, Role: resguardo.RoleLead, RecentAuthAt: f.env.Clock.Now()}))
		if code != resguardo.EForbidden {
			t.Errorf("%s before the second factor: got %q, want forbidden", op, code)
		}
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestStaffChangesNameTheStaffMember checks that what staff change on a
// customer is recorded as theirs, with their role, because the staff
// service passes them as the actor (nothing in the context rewrites an
// entry any more): the customer's access log shows the role.
func TestStaffChangesNameTheStaffMember(t *testing.T) {
	f := newFixture(t, testutil.Backends()[0])
	ctx := t.Context()
	id := f.customer("actor@example.com", "+34612345670")
	agent := f.signIn("agent@corp.example", f.enrol("agent@corp.example", resguardo.RoleAgent))
	lead := f.signIn("lead@corp.example", f.enrol("lead@corp.example", resguardo.RoleLead))
	for _, tc := range []struct {
		name   string
		by     Principal
		action string
		run    func() error
	}{
		{"name edited", agent, resguardo.ActProfileChanged, func() error { return f.staff.EditName(ctx, agent, id, "Ana Actor") }},
		{"address added", agent, resguardo.ActAddressAdded, func() error {
			return f.staff.SaveAddress(ctx, agent, id, resguardo.Address{Line1: "Calle Mayor 1", City: "Madrid", Country: "ES"})
		}},
		{"locked", lead, resguardo.ActCustomerLocked, func() error { return f.staff.SetLocked(ctx, lead, id, true) }},
		{"sessions revoked", lead, resguardo.ActCustomerSessionsRevoked, func() error { return f.staff.RevokeSessions(ctx, lead, id) }},
	} {
		if err := tc.run(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		rows, err := f.env.DB.Conn().AuditForTarget(ctx, resguardo.TargetCustomer, id, 0, 1)
		if err != nil || len(rows) != 1 {
			t.Fatalf("%s: %d entries, %v", tc.name, len(rows), err)
		}
		ev := rows[0].AuditEvent
		if ev.Action != tc.action || ev.ActorKind != resguardo.ActorStaff || ev.ActorID != tc.by.StaffID || ev.ActorRole != string(tc.by.Role) {
			t.Errorf("%s recorded as %s by %s %s (%s), want %s by staff %s (%s)", tc.name, ev.Action, ev.ActorKind, ev.ActorID, ev.ActorRole,
				tc.action, tc.by.StaffID, tc.by.Role)
		}
	}
}
