package staff

import (
	"testing"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/testutil"
)

// The staff service itself, whatever the route table says, keeps one
// administrator from creating an account that sees personal data, from
// seeing any enrolment link, and from disabling another administrator;
// every /team change needs step-up.
func TestServiceEnforcesSeparationOfDutiesForStaff(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b)
		ctx := t.Context()
		aSecret, bSecret, cSecret := f.enrol("a@corp.example", resguardo.RoleAdmin), f.enrol("b@corp.example", resguardo.RoleAdmin), f.enrol("c@corp.example", resguardo.RoleAdmin)
		xSecret := f.enrol("x@corp.example", resguardo.RoleAgent)
		agent := f.signIn("x@corp.example", xSecret)
		a := f.signIn("a@corp.example", aSecret)

		// Step-up for every change, in the service.
		f.env.Clock.Advance(6 * time.Minute)
		if _, err := f.staff.Create(ctx, "n@corp.example", resguardo.RoleAuditor, &a); resguardo.ErrorCode(err) != resguardo.EReauthRequired {
			t.Errorf("stale invitation: %v", err)
		}
		if _, err := f.staff.Disable(ctx, agent.StaffID, &a); resguardo.ErrorCode(err) != resguardo.EReauthRequired {
			t.Errorf("stale disable: %v", err)
		}
		if _, err := f.staff.DisableOrRequest(ctx, a, agent.StaffID); resguardo.ErrorCode(err) != resguardo.EReauthRequired {
			t.Errorf("stale disable (console): %v", err)
		}
		a = f.signIn("a@corp.example", aSecret)
		bb := f.signIn("b@corp.example", bSecret)
		c := f.signIn("c@corp.example", cSecret)
		agent = f.signIn("x@corp.example", xSecret)
		if _, err := f.staff.Create(ctx, "n@corp.example", resguardo.RoleAuditor, &agent); resguardo.ErrorCode(err) != resguardo.EForbidden {
			t.Errorf("an agent invited someone: %v", err)
		}

		// An agent: an invitation with no link, and a request.
		inv, err := f.staff.Create(ctx, "new@corp.example", resguardo.RoleAgent, &a)
		if err != nil || inv.Link != "" || inv.RequestID == "" {
			t.Fatalf("console invitation = %+v, %v", inv, err)
		}
		if _, err := f.staff.Request(ctx, a, KindCreate, inv.ID, "agent"); resguardo.ErrorCode(err) != resguardo.EInvalid {
			t.Errorf("a staff.create asked through Request: %v", err)
		}
		if _, err := f.staff.Decide(ctx, a, inv.RequestID, true); resguardo.ErrorCode(err) != resguardo.EForbidden {
			t.Errorf("the inviting administrator approved: %v", err)
		}
		if _, err := f.staff.Decide(ctx, agent, inv.RequestID, true); resguardo.ErrorCode(err) != resguardo.EForbidden {
			t.Errorf("an agent approved an invitation: %v", err)
		}
		if n := f.staffMail(t, inv.ID); n != 0 {
			t.Fatalf("%d messages queued before approval", n)
		}
		if _, err := f.staff.Decide(ctx, bb, inv.RequestID, true); err != nil {
			t.Fatal(err)
		}
		if n := f.staffMail(t, inv.ID); n != 1 {
			t.Fatalf("%d messages queued after approval, want 1", n)
		}
		if _, err := f.staff.Decide(ctx, c, inv.RequestID, true); resguardo.ErrorCode(err) != resguardo.EConflict {
			t.Errorf("an invitation approved twice: %v", err)
		}
		sent, err := f.staff.SendMail(ctx, f.env.Sender, 10)
		if err != nil || sent != 1 {
			t.Fatalf("sent %d, %v", sent, err)
		}
		if msgs := f.env.DeliverMail(t); len(msgs) != 1 || msgs[0].To != "<new@corp.example>" && msgs[0].To != "new@corp.example" {
			t.Fatalf("mail: %+v", msgs)
		}
		if m, _ := f.member(inv.ID); m.State != MemberLinkMailed {
			t.Errorf("state after mailing = %q", m.State)
		}

		// A refused invitation is dead: disabled, never a link.
		refused, err := f.staff.Create(ctx, "no@corp.example", resguardo.RoleLead, &a)
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := f.member(refused.ID); m.State != MemberAwaitingApproval {
			t.Errorf("state before approval = %q", m.State)
		}
		if _, err := f.staff.Decide(ctx, bb, refused.RequestID, false); err != nil {
			t.Fatal(err)
		}
		if m, _ := f.member(refused.ID); m.State != MemberDisabled {
			t.Errorf("state after refusal = %q", m.State)
		}
		if n := f.staffMail(t, refused.ID); n != 0 {
			t.Errorf("a refused invitation queued %d messages", n)
		}

		// An auditor: at once, and still by mail only.
		aud, err := f.staff.Create(ctx, "aud@corp.example", resguardo.RoleAuditor, &a)
		if err != nil || aud.Link != "" || aud.RequestID != "" {
			t.Fatalf("auditor invitation = %+v, %v", aud, err)
		}
		if n := f.staffMail(t, aud.ID); n != 1 {
			t.Errorf("%d messages queued for an auditor", n)
		}

		// An expired invitation cannot be approved.
		late, err := f.staff.Create(ctx, "late@corp.example", resguardo.RoleAgent, &a)
		if err != nil {
			t.Fatal(err)
		}

		// Disabling an administrator: a request, decided by neither the
		// requester nor the target.
		if _, err := f.staff.Disable(ctx, c.StaffID, &a); resguardo.ErrorCode(err) != resguardo.EForbidden {
			t.Fatalf("one administrator disabled another: %v", err)
		}
		req, err := f.staff.DisableOrRequest(ctx, a, c.StaffID)
		if err != nil || req == "" {
			t.Fatalf("request = %q, %v", req, err)
		}
		if _, err := f.staff.DisableOrRequest(ctx, a, a.StaffID); resguardo.ErrorCode(err) != resguardo.EConflict {
			t.Errorf("disabling oneself: %v", err)
		}
		for _, who := range []Principal{a, c} {
			if _, err := f.staff.Decide(ctx, who, req, true); resguardo.ErrorCode(err) != resguardo.EForbidden {
				t.Errorf("%s decided: %v", who.Email, err)
			}
		}
		c = f.refresh(c)
		if _, err := f.staff.Decide(ctx, bb, req, true); err != nil {
			t.Fatal(err)
		}
		if _, err := f.staff.Session(ctx, f.tokens[c.StaffID]); err == nil {
			t.Error("the disabled administrator's session still works")
		}

		f.env.Clock.Advance(25 * time.Hour)
		bb = f.signIn("b@corp.example", bSecret)
		if _, err := f.staff.Decide(ctx, bb, late.RequestID, true); resguardo.ErrorCode(err) != resguardo.EConflict {
			t.Errorf("an expired invitation was approved: %v", err)
		}
		if m, _ := f.member(late.ID); m.State != MemberAwaitingApproval {
			t.Errorf("state of an expired invitation = %q", m.State)
		}

		// The operator's CLI still disables anyone, an administrator too.
		if _, err := f.staff.Disable(ctx, "a@corp.example", nil); err != nil {
			t.Errorf("CLI disable of an administrator: %v", err)
		}
	})
}

// member reads one staff member as the team page shows them.
func (f *fixture) member(id string) (Member, error) {
	row, err := f.env.DB.Conn().StaffByID(f.t.Context(), id)
	return f.staff.member(row), err
}

func (f *fixture) staffMail(t *testing.T, id string) int {
	t.Helper()
	n, err := f.env.DB.Conn().CountStaffOutbox(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
