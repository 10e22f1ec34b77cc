package staff

import (
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/testutil"
)

// staffOrigin is the console's origin in these tests; its relying party id
// is localhost, like the customer site's (testutil.SiteOrigin), on another
// port: another origin.
const staffOrigin = "http://localhost:8081"

// enrolPasskey creates a staff member from the CLI and enrols a passkey
// instead of TOTP; it returns the authenticator and the TOTP secret that
// was offered and never confirmed.
func (f *fixture) enrolPasskey(email string, role resguardo.Role) (*testutil.SoftAuthenticator, string) {
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
	c, err := f.staff.BeginEnrolPasskey(ctx, token)
	if err != nil {
		f.t.Fatal(err)
	}
	a := testutil.NewSoftAuthenticator(f.t, staffOrigin, "localhost")
	if err := f.staff.FinishEnrolPasskey(ctx, token, c.Token, a.Create(f.t, c.Options)); err != nil {
		f.t.Fatal(err)
	}
	return a, en.Secret
}

// passkeyStep runs the second step of sign-in (or step-up) with a.
func (f *fixture) passkeyStep(p Principal, a *testutil.SoftAuthenticator, stepUp bool) (string, Principal, error) {
	f.t.Helper()
	ctx := f.t.Context()
	c, err := f.staff.BeginPasskey(ctx, p, stepUp)
	if err != nil {
		f.t.Fatal(err)
	}
	if stepUp {
		token, err := f.staff.ReauthenticatePasskey(ctx, p, c.Token, a.Get(f.t, c.Options))
		return token, p, err
	}
	return f.staff.SecondFactorPasskey(ctx, p, c.Token, a.Get(f.t, c.Options))
}

// A lead enrols a passkey instead of TOTP, signs in with password and
// passkey, and steps up with the passkey. The TOTP secret offered at
// enrolment and never confirmed is refused; so is the passkey answering
// from the customer site's origin.
func TestStaffPasskeyEnrolSignInAndStepUp(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b)
		ctx := t.Context()
		a, secret := f.enrolPasskey("lead.pk@example.com", resguardo.RoleLead)
		_, pending, err := f.staff.SignIn(ctx, "lead.pk@example.com", staffPassword)
		if err != nil {
			t.Fatal(err)
		}
		code, _ := totp.GenerateCode(secret, f.env.Clock.Now())
		if _, _, err := f.staff.SecondFactor(ctx, pending, code); err == nil {
			t.Fatal("the unconfirmed TOTP secret signed a passkey member in")
		}
		a.Origin = testutil.SiteOrigin
		if _, _, err := f.passkeyStep(pending, a, false); resguardo.ErrorCode(err) != resguardo.EUnauthenticated {
			t.Fatalf("passkey from the customer site's origin: %v, want unauthenticated", err)
		}
		a.Origin = staffOrigin
		token, p, err := f.passkeyStep(pending, a, false)
		if err != nil || token == "" || !p.Can(resguardo.PermCustomerSearch) {
			t.Fatalf("passkey second step: %v %+v", err, p)
		}
		f.env.Clock.Advance(6 * time.Minute)
		p, err = f.staff.Session(ctx, token)
		if err != nil || p.Recent(f.env.Clock.Now()) {
			t.Fatalf("session after 6 minutes: %v recent=%v", err, p.Recent(f.env.Clock.Now()))
		}
		// Step-up with the passkey; the session's token is replaced.
		newToken, _, err := f.passkeyStep(p, a, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.staff.Session(ctx, token); err == nil {
			t.Error("the token from before step-up still works")
		}
		p, err = f.staff.Session(ctx, newToken)
		if err != nil || !p.Recent(f.env.Clock.Now()) {
			t.Fatalf("after passkey step-up: %v recent=%v", err, p.Recent(f.env.Clock.Now()))
		}
		// A code is no step-up for this member either.
		if _, err := f.staff.Reauthenticate(ctx, p, "", code); err == nil {
			t.Error("TOTP step-up accepted for a passkey member")
		}
	})
}

// With passkeys required, agents and leads cannot use TOTP: a lead who
// enrolled TOTP before the setting was turned on can no longer sign in or
// step up with a code, and a new lead cannot confirm TOTP at enrolment
// (only a passkey). An administrator still uses TOTP.
func TestStaffPasskeysRequiredRefuseTOTPForAgentsAndLeads(t *testing.T) {
	f := newFixture(t, testutil.Backends()[0])
	ctx := t.Context()
	leadSecret := f.enrol("lead.totp@example.com", resguardo.RoleLead)
	adminSecret := f.enrol("admin.totp@example.com", resguardo.RoleAdmin)

	o := DefaultOptions(staffOrigin)
	o.Now = f.env.Clock.Now
	o.RequirePasskeys = true
	f.staff = New(f.env.DB, f.env.Vault, auth.NewHasher(testutil.FastParams, f.env.Vault, 4), f.env.Audit, f.env.Accounts, f.env.Log, o)

	f.env.Clock.Advance(31 * time.Second)
	_, pending, err := f.staff.SignIn(ctx, "lead.totp@example.com", staffPassword)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(leadSecret, f.env.Clock.Now())
	if _, _, err := f.staff.SecondFactor(ctx, pending, code); err != errPasskeyRequired {
		t.Errorf("lead's TOTP with passkeys required: %v, want %v", err, errPasskeyRequired)
	}
	admin := f.signIn("admin.totp@example.com", adminSecret)
	if !admin.Can(resguardo.PermStaffManage) {
		t.Error("administrator's TOTP sign-in refused")
	}

	inv, err := f.staff.Create(ctx, "agent.new@example.com", resguardo.RoleAgent, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(inv.Link)
	token := u.Query().Get("token")
	en, err := f.staff.EnrolPassword(ctx, token, "Test Staff", staffPassword)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := totp.GenerateCode(en.Secret, f.env.Clock.Now())
	if err := f.staff.EnrolConfirm(ctx, token, first); err != errPasskeyRequired {
		t.Errorf("agent confirming TOTP with passkeys required: %v, want %v", err, errPasskeyRequired)
	}
	a, _ := f.enrolPasskey("agent.pk@example.com", resguardo.RoleAgent)
	_, pending, err = f.staff.SignIn(ctx, "agent.pk@example.com", staffPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, p, err := f.passkeyStep(pending, a, false); err != nil || !p.Can(resguardo.PermCustomerSearch) {
		t.Errorf("agent with a passkey: %v", err)
	}
}

// A staff member who enrolled TOTP adds a passkey while signed in (after
// step-up); from then on their codes are refused and the passkey signs
// them in, so agents and leads can move to passkeys before the setting
// requires them.
func TestStaffAddsPasskeyAfterTOTPEnrolment(t *testing.T) {
	f := newFixture(t, testutil.Backends()[0])
	ctx := t.Context()
	secret := f.enrol("lead.move@example.com", resguardo.RoleLead)
	p := f.signIn("lead.move@example.com", secret)
	f.env.Clock.Advance(6 * time.Minute)
	p = f.refresh(p)
	if _, err := f.staff.BeginAddPasskey(ctx, p); err != errReauthNeeded {
		t.Fatalf("add without step-up: %v, want %v", err, errReauthNeeded)
	}
	f.env.Clock.Advance(31 * time.Second)
	code, _ := totp.GenerateCode(secret, f.env.Clock.Now())
	token, err := f.staff.Reauthenticate(ctx, p, "", code)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = f.staff.Session(ctx, token); err != nil {
		t.Fatal(err)
	}
	c, err := f.staff.BeginAddPasskey(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	a := testutil.NewSoftAuthenticator(t, staffOrigin, "localhost")
	if err := f.staff.FinishAddPasskey(ctx, p, c.Token, a.Create(t, c.Options)); err != nil {
		t.Fatal(err)
	}
	f.env.Clock.Advance(31 * time.Second)
	_, pending, err := f.staff.SignIn(ctx, "lead.move@example.com", staffPassword)
	if err != nil {
		t.Fatal(err)
	}
	code, _ = totp.GenerateCode(secret, f.env.Clock.Now())
	if _, _, err := f.staff.SecondFactor(ctx, pending, code); err != errPasskeyRequired {
		t.Errorf("TOTP after adding a passkey: %v, want %v", err, errPasskeyRequired)
	}
	if _, np, err := f.passkeyStep(pending, a, false); err != nil || !np.Can(resguardo.PermCustomerSearch) {
		t.Errorf("passkey sign-in: %v", err)
	}
}
