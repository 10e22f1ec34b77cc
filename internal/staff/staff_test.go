package staff

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/testutil"
)

const staffPassword = "a long staff passphrase"

type fixture struct {
	t      testing.TB
	env    *testutil.Env
	staff  *Service
	tokens map[string]string // session token by staff id
}

func newFixture(t testing.TB, b testutil.Backend) *fixture {
	env := testutil.NewEnv(t, b, nil)
	o := DefaultOptions(staffOrigin)
	o.Now = env.Clock.Now
	o.RevealsPerHour = 3
	return &fixture{t: t, env: env, tokens: map[string]string{}, staff: New(env.DB, env.Vault, auth.NewHasher(testutil.FastParams, env.Vault, 4), env.Audit, env.Accounts, env.Log, o)}
}

// enrol creates a staff member from the CLI and walks the enrolment link:
// password, then TOTP. It returns the TOTP secret.
func (f *fixture) enrol(email string, role resguardo.Role) string {
	f.t.Helper()
	ctx := f.t.Context()
	inv, err := f.staff.Create(ctx, email, role, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	u, _ := url.Parse(inv.Link)
	token := u.Query().Get("token")
	en, err := f.staff.EnrolPassword(ctx, token, "Test Staff", staffPassword)
	if err != nil {
		f.t.Fatal(err)
	}
	code, _ := totp.GenerateCode(en.Secret, f.env.Clock.Now())
	if err := f.staff.EnrolConfirm(ctx, token, code); err != nil {
		f.t.Fatal(err)
	}
	if err := f.staff.EnrolConfirm(ctx, token, code); err == nil {
		f.t.Fatal("an enrolment link worked twice")
	}
	return en.Secret
}

// signIn signs a staff member in with password and code.
func (f *fixture) signIn(email, secret string) Principal {
	f.t.Helper()
	ctx := f.t.Context()
	f.env.Clock.Advance(31 * time.Second) // a fresh TOTP step
	_, pending, err := f.staff.SignIn(ctx, email, staffPassword)
	if err != nil {
		f.t.Fatal(err)
	}
	if pending.Can(resguardo.PermCustomerSearch) {
		f.t.Fatal("a sign-in without its code holds permissions")
	}
	code, _ := totp.GenerateCode(secret, f.env.Clock.Now())
	token, p, err := f.staff.SecondFactor(ctx, pending, code)
	if err != nil {
		f.t.Fatal(err)
	}
	f.tokens[p.StaffID] = token
	return p
}

// refresh reads a staff member's session again, as the next request would.
func (f *fixture) refresh(p Principal) Principal {
	f.t.Helper()
	np, err := f.staff.Session(f.t.Context(), f.tokens[p.StaffID])
	if err != nil {
		f.t.Fatal(err)
	}
	return np
}

// erasureRequested sets up a customer and two leads, "one" and "two"; one
// requests the customer's erasure. It returns the customer's id, both
// leads and the request.
func (f *fixture) erasureRequested(email, phone string) (id string, one, two Principal, req string) {
	f.t.Helper()
	id = f.customer(email, phone)
	one = f.signIn("one@corp.example", f.enrol("one@corp.example", resguardo.RoleLead))
	two = f.signIn("two@corp.example", f.enrol("two@corp.example", resguardo.RoleLead))
	req, err := f.staff.Request(f.t.Context(), one, KindErase, id, "")
	if err != nil {
		f.t.Fatal(err)
	}
	return id, one, two, req
}

func (f *fixture) customer(email, phone string) string {
	f.t.Helper()
	ctx := f.t.Context()
	if err := f.env.Accounts.Register(ctx, account.RegisterInput{Email: email, Password: "correct horse battery staple", Name: "María García López"}); err != nil {
		f.t.Fatal(err)
	}
	id, err := f.env.Accounts.FindByEmail(ctx, email)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.env.Accounts.AddPhone(ctx, resguardo.CustomerActor(id), id, "móvil", phone); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// A lead finds a customer by exact phone and by exact e-mail and sees
// masked values only; the view is in the customer's access log as a view
// by the lead role; an administrator cannot search at all.
func TestSearchShowsMaskedAndIsAudited(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b)
		ctx := t.Context()
		id := f.customer("maria@example.com", "+34612345612")
		lead := f.signIn("lead@corp.example", f.enrol("lead@corp.example", resguardo.RoleLead))
		for _, q := range []string{"+34 612 345 612", "MARIA@example.com", id} {
			found, err := f.staff.Search(ctx, lead, q)
			if err != nil || len(found) != 1 || found[0].ID != id {
				t.Fatalf("search %q: %+v, %v", q, found, err)
			}
			m := found[0]
			if m.Name != "María G." || m.Email != "m•••@example.com" || m.Phones[0].Masked != "+34 ••• ••• •12" {
				t.Errorf("search %q shows %+v", q, m)
			}
		}
		if found, err := f.staff.Search(ctx, lead, "nobody@example.com"); err != nil || len(found) != 0 {
			t.Errorf("unknown address: %+v, %v", found, err)
		}
		if _, err := f.staff.Search(ctx, lead, "María"); resguardo.ErrorCode(err) != resguardo.EInvalid {
			t.Errorf("a name search was not refused: %v", err)
		}
		events, err := f.env.Accounts.AccessLog(ctx, id, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		if events[0].Action != resguardo.ActCustomerViewed || events[0].ActorRole != "lead" || events[0].ActorKind != resguardo.ActorStaff {
			t.Errorf("newest access-log entry = %+v", events[0])
		}
		admin := f.signIn("admin@corp.example", f.enrol("admin@corp.example", resguardo.RoleAdmin))
		if _, err := f.staff.Search(ctx, admin, "maria@example.com"); resguardo.ErrorCode(err) != resguardo.EForbidden {
			t.Errorf("an administrator searched customers: %v", err)
		}
		if _, err := f.staff.Reveal(ctx, admin, id, "email", "the customer called us about it"); resguardo.ErrorCode(err) != resguardo.EForbidden {
			t.Errorf("an administrator revealed personal data: %v", err)
		}
	})
}

// A view whose audit entry cannot be committed shows nothing: the search
// reads the customer while the entry is written, and must still fail
// closed when the write fails.
func TestNoViewWithoutItsAuditEntry(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b)
		ctx := t.Context()
		id := f.customer("maria@example.com", "+34612345612")
		lead := f.signIn("lead@corp.example", f.enrol("lead@corp.example", resguardo.RoleLead))
		// Without its table the trail cannot take another entry.
		if _, err := testutil.RawDB(t, f.env.DSN, f.env.DataDir).ExecContext(ctx, `DROP TABLE audit_log`); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"+34612345612", "maria@example.com", id} {
			if found, err := f.staff.Search(ctx, lead, q); err == nil || len(found) != 0 {
				t.Errorf("search %q with the trail failing: %+v, %v", q, found, err)
			}
		}
		if m, err := f.staff.View(ctx, lead, id); err == nil || m.ID != "" {
			t.Errorf("view with the trail failing: %+v, %v", m, err)
		}
	})
}

// A reveal needs a real reason, is audited with it, and is limited per
// staff member per hour.
func TestRevealNeedsReasonAndIsRateLimited(t *testing.T) {
	f := newFixture(t, testutil.Backends()[0])
	ctx := t.Context()
	id := f.customer("rev@example.com", "+34612345699")
	agent := f.signIn("agent@corp.example", f.enrol("agent@corp.example", resguardo.RoleAgent))
	if _, err := f.staff.Reveal(ctx, agent, id, "email", "because"); resguardo.ErrorCode(err) != resguardo.EInvalid {
		t.Fatalf("one-word reason accepted: %v", err)
	}
	c, _ := f.env.Accounts.Profile(ctx, id)
	reason := "customer asked us to confirm the number on ticket 4411"
	got, err := f.staff.Reveal(ctx, agent, id, "phone:"+c.Phones[0].ID, reason)
	if err != nil || got.Value != "+34612345699" || got.Field != "phone" {
		t.Fatalf("reveal phone = %q (%s), %v", got.Value, got.Field, err)
	}
	// The trail keeps the reason for auditors (the customer's own view
	// shows staff by role only).
	rows, err := f.env.DB.Conn().AuditForTarget(ctx, resguardo.TargetCustomer, id, 0, 1)
	if err != nil || len(rows) != 1 {
		t.Fatalf("audit entries of the customer: %d, %v", len(rows), err)
	}
	if ev := rows[0].AuditEvent; ev.Action != resguardo.ActCustomerRevealed || ev.Reason != reason || strings.Join(ev.Fields, ",") != "phone" || ev.ActorID != agent.StaffID {
		t.Errorf("reveal entry = %+v", ev)
	}
	for range 2 {
		if _, err := f.staff.Reveal(ctx, agent, id, "name", reason); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.staff.Reveal(ctx, agent, id, "name", reason); resguardo.ErrorCode(err) != resguardo.ERateLimited {
		t.Fatalf("fourth reveal in an hour (limit 3): %v", err)
	}
	f.env.Clock.Advance(61 * time.Minute)
	if _, err := f.staff.Reveal(ctx, agent, id, "name", reason); err != nil {
		t.Errorf("reveal an hour later: %v", err)
	}
}

// TestOneRevealOneOpeningOneEntry holds a reveal to what it needs: the
// profile opened once (as many field decryptions as one reading of it) and
// one audit entry, a reveal, that also stands for the masked page shown with
// the value; the page data comes back masked, with only the asked field in
// clear. The customer's access log shows the reveal.
func TestOneRevealOneOpeningOneEntry(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b)
		ctx := t.Context()
		id := f.customer("count@example.com", "+34612345677")
		if _, err := f.env.Accounts.AddAddress(ctx, resguardo.CustomerActor(id), id, resguardo.Address{Label: "home", Line1: "Calle Mayor 1", PostalCode: "28013", City: "Madrid", Country: "ES"}); err != nil {
			t.Fatal(err)
		}
		agent := f.signIn("agent@corp.example", f.enrol("agent@corp.example", resguardo.RoleAgent))

		// What one opening of this profile costs.
		before := f.env.Vault.FieldsOpened()
		c, err := f.env.Accounts.Profile(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		perProfile := f.env.Vault.FieldsOpened() - before
		if perProfile < 4 { // name, e-mail, a phone, an address at least
			t.Fatalf("one profile opened %d fields; the count does not see decryptions", perProfile)
		}

		entries := func() int {
			rows, err := f.env.DB.Conn().AuditForTarget(ctx, resguardo.TargetCustomer, id, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			return len(rows)
		}
		entriesBefore := entries()
		before = f.env.Vault.FieldsOpened()
		got, err := f.staff.Reveal(ctx, agent, id, "phone:"+c.Phones[0].ID, "customer asked us to confirm the number on ticket 4411")
		if err != nil {
			t.Fatal(err)
		}
		if opened := f.env.Vault.FieldsOpened() - before; opened != perProfile {
			t.Errorf("a reveal opened %d fields; one opening of the profile is %d", opened, perProfile)
		}
		if n := entries() - entriesBefore; n != 1 {
			t.Errorf("a reveal wrote %d audit entries about the customer, want 1", n)
		}
		log, err := f.env.Accounts.AccessLog(ctx, id, 0, 1)
		if err != nil || len(log) != 1 || log[0].Action != resguardo.ActCustomerRevealed || log[0].ActorRole != string(resguardo.RoleAgent) {
			t.Errorf("the customer's access log shows %+v, %v; want the reveal by an agent", log, err)
		}
		if got.Value != "+34612345677" || got.Customer.ID != id || len(got.Customer.Phones) != 1 ||
			got.Customer.Phones[0].Masked == got.Value || strings.Contains(got.Customer.Email, "count@") || len(got.Customer.Addresses) != 1 {
			t.Errorf("reveal returned %+v; want the value and the customer masked", got)
		}
	})
}

// Erasure is four-eyes: the requesting lead cannot approve it; a second
// lead can, and the customer is erased.
func TestErasureNeedsASecondLead(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b)
		ctx := t.Context()
		id, one, two, req := f.erasureRequested("gone@example.com", "+34612345600")
		if _, err := f.staff.Decide(ctx, one, req, true); resguardo.ErrorCode(err) != resguardo.EForbidden {
			t.Fatalf("a lead approved their own erasure: %v", err)
		}
		if ok, _ := f.env.Accounts.Exists(ctx, id); !ok {
			t.Fatal("customer erased by a self-approval")
		}
		er, err := f.staff.Decide(ctx, two, req, true)
		if err != nil || er == nil {
			t.Fatalf("second lead's approval: %v", err)
		}
		if ok, _ := f.env.Accounts.Exists(ctx, id); ok {
			t.Error("customer still there after an approved erasure")
		}
		if _, err := f.staff.Decide(ctx, two, req, true); resguardo.ErrorCode(err) != resguardo.EConflict {
			t.Errorf("a request decided twice: %v", err)
		}
	})
}

// An approval expires after 24 hours; critical operations need step-up;
// a locked customer cannot sign in.
func TestApprovalExpiresAndCriticalNeedsStepUp(t *testing.T) {
	f := newFixture(t, testutil.Backends()[0])
	ctx := t.Context()
	id := f.customer("late@example.com", "+34612345601")
	oneSecret, twoSecret := f.enrol("one@corp.example", resguardo.RoleLead), f.enrol("two@corp.example", resguardo.RoleLead)
	one := f.signIn("one@corp.example", oneSecret)
	req, err := f.staff.Request(ctx, one, KindExport, id, "")
	if err != nil {
		t.Fatal(err)
	}
	f.env.Clock.Advance(25 * time.Hour)
	two := f.signIn("two@corp.example", twoSecret)
	if _, err := f.staff.Decide(ctx, two, req, true); resguardo.ErrorCode(err) != resguardo.EConflict {
		t.Fatalf("approved a request after 25 hours: %v", err)
	}

	f.env.Clock.Advance(6 * time.Minute)
	if err := f.staff.SetLocked(ctx, two, id, true); resguardo.ErrorCode(err) != resguardo.EReauthRequired {
		t.Fatalf("lock without recent authentication: %v", err)
	}
	if _, err := f.staff.Reauthenticate(ctx, two, "not the password at all", ""); err == nil {
		t.Fatal("step-up with a wrong password")
	}
	token, err := f.staff.Reauthenticate(ctx, two, staffPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	// Step-up gives the session a new token; the one from before is dead.
	if _, err := f.staff.Session(ctx, f.tokens[two.StaffID]); resguardo.ErrorCode(err) != resguardo.EUnauthenticated {
		t.Errorf("the token from before the step-up: %v, want unauthenticated", err)
	}
	f.tokens[two.StaffID] = token
	two = f.refresh(two)
	if err := f.staff.SetLocked(ctx, two, id, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.env.Accounts.Login(ctx, account.SignIn{Email: "late@example.com", Password: "correct horse battery staple", Client: netip.MustParseAddr("192.0.2.7")}); resguardo.ErrorCode(err) != resguardo.EForbidden {
		t.Errorf("a locked customer signed in: %v", err)
	}
	agent := f.signIn("agent@corp.example", f.enrol("agent@corp.example", resguardo.RoleAgent))
	if err := f.staff.SetLocked(ctx, agent, id, false); resguardo.ErrorCode(err) != resguardo.EForbidden {
		t.Errorf("an agent unlocked a customer: %v", err)
	}
}

// Reveals sent at once by one person are counted one after another: a
// burst gets no more than the hourly limit (3 here) on either database.
func TestConcurrentRevealsAreCountedOneByOne(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b)
		id := f.customer("burst@example.com", "+34612345602")
		agent := f.signIn("agent@corp.example", f.enrol("agent@corp.example", resguardo.RoleAgent))
		var ok atomic.Int32
		var wg sync.WaitGroup
		for range 12 {
			wg.Go(func() {
				if _, err := f.staff.Reveal(t.Context(), agent, id, "name", "customer asked to confirm the spelling"); err == nil {
					ok.Add(1)
				} else if resguardo.ErrorCode(err) != resguardo.ERateLimited {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 3 {
			t.Errorf("%d of 12 concurrent reveals went through, want 3", ok.Load())
		}
	})
}

// A request whose requester has since been disabled cannot be approved.
func TestApprovalRefusedOnceRequesterDisabled(t *testing.T) {
	f := newFixture(t, testutil.Backends()[0])
	ctx := t.Context()
	id, _, two, req := f.erasureRequested("kept@example.com", "+34612345603")
	if _, err := f.staff.Disable(ctx, "one@corp.example", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.staff.Decide(ctx, two, req, true); resguardo.ErrorCode(err) != resguardo.EConflict {
		t.Fatalf("approved a disabled member's request: %v", err)
	}
	if ok, _ := f.env.Accounts.Exists(ctx, id); !ok {
		t.Error("the customer was erased")
	}
}

// Staff sessions end after 15 idle minutes and after 8 hours whatever the
// activity, and at once when the member is disabled.
func TestStaffSessionTimeoutsAndDisable(t *testing.T) {
	f := newFixture(t, testutil.Backends()[0])
	ctx := t.Context()
	secret := f.enrol("agent@corp.example", resguardo.RoleAgent)
	p := f.signIn("agent@corp.example", secret)
	f.env.Clock.Advance(14 * time.Minute)
	p = f.refresh(p) // active within 15 minutes: still signed in
	f.env.Clock.Advance(16 * time.Minute)
	if _, err := f.staff.Session(ctx, f.tokens[p.StaffID]); err == nil {
		t.Fatal("a session idle for 16 minutes still works")
	}
	p = f.signIn("agent@corp.example", secret)
	for range 8 * 6 { // active every 10 minutes for 8 hours
		f.env.Clock.Advance(10 * time.Minute)
		if _, err := f.staff.Session(ctx, f.tokens[p.StaffID]); err != nil {
			break
		}
	}
	if _, err := f.staff.Session(ctx, f.tokens[p.StaffID]); err == nil {
		t.Fatal("a session outlived the 8-hour absolute timeout")
	}
	p = f.signIn("agent@corp.example", secret)
	if _, err := f.staff.Disable(ctx, "agent@corp.example", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.staff.Session(ctx, f.tokens[p.StaffID]); err == nil {
		t.Error("a disabled member's session still works")
	}
	if _, _, err := f.staff.SignIn(ctx, "agent@corp.example", staffPassword); err == nil {
		t.Error("a disabled member signed in")
	}
}

// One network spraying passwords over many staff addresses meets the
// per-network limit, though each address is tried only once; and setting a
// password through an enrolment link leaves an audit entry.
func TestStaffSignInSprayIsLimitedPerNetworkAndEnrolmentIsAudited(t *testing.T) {
	f := newFixture(t, testutil.Backends()[0])
	ctx := audit.WithMeta(t.Context(), audit.Meta{Network: "203.0.113.0/24"})
	limited := false
	for i := range 60 {
		_, _, err := f.staff.SignIn(ctx, fmt.Sprintf("guess%02d@corp.example", i), "some guessed password")
		if resguardo.ErrorCode(err) == resguardo.ERateLimited {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("60 sign-in attempts on different addresses from one network were never limited")
	}
	inv, err := f.staff.Create(t.Context(), "new@corp.example", resguardo.RoleAgent, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(inv.Link)
	if _, err := f.staff.EnrolPassword(t.Context(), u.Query().Get("token"), "Test Staff", staffPassword); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	if err := f.env.Audit.Export(t.Context(), &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), resguardo.ActStaffEnrolPassword) {
		t.Error("setting an enrolment password left no audit entry")
	}
}

// A session lookup the database cannot answer is a fault (503), never
// "not signed in": a staff member is not sent to the sign-in page while
// the database restarts, and the session works again once it is back.
func TestSessionLookupFaultIsNoSignOut(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b)
		ctx := t.Context()
		secret := f.enrol("lead@corp.example", resguardo.RoleLead)
		f.env.Clock.Advance(31 * time.Second)
		_, pending, err := f.staff.SignIn(ctx, "lead@corp.example", staffPassword)
		if err != nil {
			t.Fatal(err)
		}
		code, _ := totp.GenerateCode(secret, f.env.Clock.Now())
		token, _, err := f.staff.SecondFactor(ctx, pending, code)
		if err != nil {
			t.Fatal(err)
		}
		raw := testutil.RawDB(t, f.env.DSN, f.env.DataDir)
		if _, err := raw.ExecContext(ctx, `ALTER TABLE staff_sessions RENAME TO staff_sessions_away`); err != nil {
			t.Fatal(err)
		}
		if _, err := f.staff.Session(ctx, token); err == nil || resguardo.ErrorCode(err) == resguardo.EUnauthenticated {
			t.Errorf("session lookup with the database failing: %v, want a fault, not unauthenticated", err)
		}
		if _, err := raw.ExecContext(ctx, `ALTER TABLE staff_sessions_away RENAME TO staff_sessions`); err != nil {
			t.Fatal(err)
		}
		if p, err := f.staff.Session(ctx, token); err != nil || !p.MFADone {
			t.Errorf("session after the fault: %+v, %v", p, err)
		}
	})
}
