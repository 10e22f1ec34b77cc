package staff

import (
	"context"
	"fmt"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// A staff member's own passkeys on the console: listed, named and removed,
// each change behind step-up and audited. The last passkey is never
// removed: it is the member's second step (a member who has a passkey is
// not accepted with a TOTP code), and with RequirePasskeys an agent or
// lead must keep one.

// PasskeyInfo is one of a staff member's passkeys as the console lists it.
type PasskeyInfo struct {
	ID         string
	Name       string // "" when not named
	CreatedAt  time.Time
	LastUsedAt time.Time // zero when never used
}

var (
	errLastPasskeyRequired = &resguardo.Error{Code: resguardo.EConflict,
		Message: "Your role must sign in with a passkey: add another passkey before removing this one.",
		Fields:  []resguardo.FieldProblem{{Field: "passkey_last_required", Detail: "the last passkey of a role that must use one cannot be removed"}}}
	errLastPasskey = &resguardo.Error{Code: resguardo.EConflict,
		Message: "This is your only passkey and your second step: add another passkey before removing this one.",
		Fields:  []resguardo.FieldProblem{{Field: "passkey_last", Detail: "the last passkey cannot be removed"}}}
	errNoSuchPasskey = resguardo.Errorf(resguardo.ENotFound, "No such passkey.")
)

// ownPasskeyAllowed checks a signed-in member with a recent check.
func (s *Service) ownPasskeyAllowed(p Principal) error {
	if !p.MFADone {
		return errSignIn
	}
	if !p.Recent(s.now()) {
		return errReauthNeeded
	}
	return nil
}

// Passkeys lists the member's own passkeys, names opened.
func (s *Service) Passkeys(ctx context.Context, p Principal) ([]PasskeyInfo, error) {
	if err := s.ownPasskeyAllowed(p); err != nil {
		return nil, err
	}
	row, err := s.db.Conn().StaffByID(ctx, p.StaffID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Conn().StaffPasskeys(ctx, p.StaffID)
	if err != nil {
		return nil, err
	}
	dk, err := s.staffKey(row)
	if err != nil {
		return nil, err
	}
	out := make([]PasskeyInfo, 0, len(rows))
	for _, r := range rows {
		info := PasskeyInfo{ID: r.ID, CreatedAt: time.Unix(r.CreatedAt, 0).UTC()}
		if r.LastUsedAt > 0 {
			info.LastUsedAt = time.Unix(r.LastUsedAt, 0).UTC()
		}
		if r.NameSealed != nil {
			b, err := dk.Open(r.NameSealed, tStaffPasskeys, "name_sealed", r.ID)
			if err != nil {
				return nil, fmt.Errorf("open staff passkey name: %w", err)
			}
			info.Name = string(b)
		}
		out = append(out, info)
	}
	return out, nil
}

// RenamePasskey names one of the member's own passkeys.
func (s *Service) RenamePasskey(ctx context.Context, p Principal, id, nameIn string) error {
	if err := s.ownPasskeyAllowed(p); err != nil {
		return err
	}
	name, err := resguardo.ParseDeviceName(nameIn)
	if err != nil || name == "" {
		return &resguardo.Error{Code: resguardo.EInvalid, Message: "The name is not valid.",
			Fields: []resguardo.FieldProblem{{Field: "name", Detail: fmt.Sprintf("must be plain text of 1 to %d characters", resguardo.MaxDeviceName)}}}
	}
	row, err := s.db.Conn().StaffByID(ctx, p.StaffID)
	if err != nil {
		return err
	}
	dk, err := s.staffKey(row)
	if err != nil {
		return err
	}
	sealed, err := dk.Seal([]byte(name), tStaffPasskeys, "name_sealed", id)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.RenameStaffPasskey(ctx, p.StaffID, id, sealed); err != nil {
			if resguardo.ErrorCode(err) == resguardo.ENotFound {
				return errNoSuchPasskey
			}
			return err
		}
		ev := staffEvent(p, resguardo.ActPasskeyRenamed, resguardo.TargetStaff, p.StaffID, resguardo.OutcomeSuccess)
		ev.Fields = []string{"passkey"}
		return s.audit.Append(ctx, c, ev)
	})
}

// RemovePasskey removes one of the member's own passkeys, never the last
// (a refused attempt is audited as a failure).
func (s *Service) RemovePasskey(ctx context.Context, p Principal, id string) error {
	if err := s.ownPasskeyAllowed(p); err != nil {
		return err
	}
	var last bool
	err := s.db.Tx(ctx, func(c sqlstore.Conn) error {
		rows, err := c.StaffPasskeys(ctx, p.StaffID)
		if err != nil {
			return err
		}
		found := false
		for _, r := range rows {
			found = found || r.ID == id
		}
		if !found {
			return errNoSuchPasskey
		}
		removed, err := c.DeleteStaffPasskey(ctx, p.StaffID, id)
		if err != nil {
			return err
		}
		if !removed {
			last = true
			return nil
		}
		ev := staffEvent(p, resguardo.ActPasskeyRemoved, resguardo.TargetStaff, p.StaffID, resguardo.OutcomeSuccess)
		ev.Fields = []string{"passkey"}
		return s.audit.Append(ctx, c, ev)
	})
	if err != nil || !last {
		return err
	}
	ev := staffEvent(p, resguardo.ActPasskeyRemoved, resguardo.TargetStaff, p.StaffID, resguardo.OutcomeFailure)
	ev.Fields = []string{"passkey"}
	if err := s.record(ctx, ev); err != nil {
		return err
	}
	if s.passkeyRequired(p.Role) {
		return errLastPasskeyRequired
	}
	return errLastPasskey
}
