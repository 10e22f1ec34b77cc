package staff

import (
	"bytes"
	"testing"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
)

// staffAudit counts the audit entries of one staff member by action and
// outcome ("action outcome").
func (f *fixture) staffAudit(staffID string) map[string]int {
	f.t.Helper()
	out := map[string]int{}
	count := func(r sqlstore.AuditRow) error {
		if r.TargetID == staffID {
			out[r.Action+" "+r.Outcome]++
		}
		return nil
	}
	if err := f.env.DB.Conn().EachAudit(f.t.Context(), 0, count); err != nil {
		f.t.Fatal(err)
	}
	if err := f.env.DB.Conn().EachPendingAudit(f.t.Context(), count); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// A staff member lists, names and removes their own passkeys behind
// step-up, every change audited; the name is sealed; the last passkey is
// never removed (the refusal audited), with its own message when the
// deployment requires passkeys for the role; a removed passkey no longer
// signs in.
func TestStaffManagesOwnPasskeys(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b)
		ctx := t.Context()
		a, _ := f.enrolPasskey("lead.keys@example.com", resguardo.RoleLead)
		_, pending, err := f.staff.SignIn(ctx, "lead.keys@example.com", staffPassword)
		if err != nil {
			t.Fatal(err)
		}
		token, p, err := f.passkeyStep(pending, a, false)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := f.staff.Passkeys(ctx, p)
		if err != nil || len(keys) != 1 || keys[0].Name != "" {
			t.Fatalf("passkeys after enrolment: %+v %v", keys, err)
		}
		first := keys[0].ID
		if err := f.staff.RemovePasskey(ctx, p, first); err != errLastPasskey {
			t.Fatalf("removing the only passkey: %v, want %v", err, errLastPasskey)
		}

		c, err := f.staff.BeginAddPasskey(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		second := testutil.NewSoftAuthenticator(t, staffOrigin, "localhost")
		if err := f.staff.FinishAddPasskey(ctx, p, c.Token, second.Create(t, c.Options)); err != nil {
			t.Fatal(err)
		}
		if err := f.staff.RenamePasskey(ctx, p, first, "YubiKey azul"); err != nil {
			t.Fatal(err)
		}
		if err := f.staff.RenamePasskey(ctx, p, first, "bad\x00name"); resguardo.ErrorCode(err) != resguardo.EInvalid {
			t.Errorf("a name with a control character: %v, want invalid", err)
		}
		if err := f.staff.RenamePasskey(ctx, p, "01NOSUCHPASSKEY00000000000", "x"); resguardo.ErrorCode(err) != resguardo.ENotFound {
			t.Errorf("renaming a passkey that is not one's own: %v, want not found", err)
		}
		rows, err := f.env.DB.Conn().StaffPasskeys(ctx, p.StaffID)
		if err != nil || len(rows) != 2 {
			t.Fatalf("stored passkeys: %d %v", len(rows), err)
		}
		for _, r := range rows {
			if (r.ID == first) != (r.NameSealed != nil) || bytes.Contains(r.NameSealed, []byte("YubiKey")) {
				t.Error("the passkey's name is not stored sealed, or not on its row")
			}
		}
		keys, err = f.staff.Passkeys(ctx, p)
		if err != nil || len(keys) != 2 {
			t.Fatalf("passkeys listed: %+v %v", keys, err)
		}
		if keys[0].ID != first {
			keys[0], keys[1] = keys[1], keys[0] // same second: listed by id
		}
		if keys[0].Name != "YubiKey azul" || keys[0].LastUsedAt.IsZero() || keys[1].Name != "" || !keys[1].LastUsedAt.IsZero() {
			t.Fatalf("passkeys listed: %+v", keys)
		}

		// Removing the first: the second still signs in, the first does not.
		if err := f.staff.RemovePasskey(ctx, p, first); err != nil {
			t.Fatal(err)
		}
		if keys, _ := f.staff.Passkeys(ctx, p); len(keys) != 1 || keys[0].ID == first {
			t.Fatalf("after removal: %+v", keys)
		}
		if err := f.staff.RemovePasskey(ctx, p, keys[1].ID); err != errLastPasskey {
			t.Fatalf("removing the last passkey: %v, want %v", err, errLastPasskey)
		}
		_, pending, err = f.staff.SignIn(ctx, "lead.keys@example.com", staffPassword)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.passkeyStep(pending, a, false); err == nil {
			t.Error("a removed passkey still signs in")
		}
		if _, _, err := f.passkeyStep(pending, second, false); err != nil {
			t.Errorf("the remaining passkey: %v", err)
		}

		// With passkeys required for the role, the refusal says so.
		o := DefaultOptions(staffOrigin)
		o.Now = f.env.Clock.Now
		o.RequirePasskeys = true
		required := New(f.env.DB, f.env.Vault, auth.NewHasher(testutil.FastParams, f.env.Vault, 4), f.env.Audit, f.env.Accounts, f.env.Log, o)
		if err := required.RemovePasskey(ctx, p, keys[1].ID); err != errLastPasskeyRequired {
			t.Fatalf("removing a lead's last passkey with passkeys required: %v, want %v", err, errLastPasskeyRequired)
		}

		// Stale: nothing is listed or changed without step-up.
		f.env.Clock.Advance(6 * time.Minute)
		if p, err = f.staff.Session(ctx, token); err != nil {
			t.Fatal(err)
		}
		if _, err := f.staff.Passkeys(ctx, p); err != errReauthNeeded {
			t.Errorf("listing without step-up: %v", err)
		}
		if err := f.staff.RenamePasskey(ctx, p, keys[1].ID, "x"); err != errReauthNeeded {
			t.Errorf("renaming without step-up: %v", err)
		}
		if err := f.staff.RemovePasskey(ctx, p, keys[1].ID); err != errReauthNeeded {
			t.Errorf("removing without step-up: %v", err)
		}

		got := f.staffAudit(p.StaffID)
		for want, n := range map[string]int{
			resguardo.ActPasskeyRenamed + " " + resguardo.OutcomeSuccess: 1,
			resguardo.ActPasskeyRemoved + " " + resguardo.OutcomeSuccess: 1,
			resguardo.ActPasskeyRemoved + " " + resguardo.OutcomeFailure: 3,
		} {
			if got[want] != n {
				t.Errorf("audit %q: %d entries, want %d (%v)", want, got[want], n, got)
			}
		}
	})
}
