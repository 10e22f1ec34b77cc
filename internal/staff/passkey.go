package staff

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/passkey"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// Staff passkeys. A staff member may enrol a passkey instead of TOTP, and
// then signs in with the password and the passkey, and steps up with
// either. The relying party is the staff console's own origin, so a
// customer passkey is refused here. With Options.RequirePasskeys, agents
// and leads (the roles that see personal data) must use a passkey: their
// TOTP codes are refused for sign-in and step-up, and their enrolment
// accepts only a passkey.

// Ceremony purposes of the staff side (the challenge table is shared with
// the customer side; purposes never overlap).
const (
	pkEnrol  = "staff-enrol"
	pkSecond = "staff-mfa"
	pkReauth = "staff-reauth"
	pkAdd    = "staff-add"
)

const tStaffPasskeys = "staff_passkeys"

var (
	errPasskeysOff    = resguardo.Errorf(resguardo.EConflict, "Passkeys are not available on this console.")
	errPasskeyRefused = resguardo.Errorf(resguardo.EUnauthenticated, "The passkey could not be verified. Try again.")
	errNoPasskey      = resguardo.Errorf(resguardo.EConflict, "This account has no passkey.")
	// errPasskeyRequired refuses TOTP to a role that must use a passkey.
	errPasskeyRequired = &resguardo.Error{Code: resguardo.EInvalid, Message: "Your account must use a passkey: codes are not accepted.",
		Fields: []resguardo.FieldProblem{{Field: "passkey_required", Detail: "codes are not accepted for this account: use a passkey"}}}
)

// Ceremony is a begun staff passkey ceremony.
type Ceremony = account.PasskeyCeremony

// passkeyRequired reports whether role must use a passkey.
func (s *Service) passkeyRequired(role resguardo.Role) bool {
	return s.o.RequirePasskeys && (role == resguardo.RoleAgent || role == resguardo.RoleLead)
}

// PasskeyRequired reports whether a staff member of role must use a
// passkey (pages show the passkey only, then).
func (s *Service) PasskeyRequired(role resguardo.Role) bool { return s.passkeyRequired(role) }

// totpAllowed reports whether a TOTP code may stand for row's second
// factor: not for a role that must use a passkey, and not for a member who
// enrolled a passkey (their TOTP secret was never confirmed).
func (s *Service) totpAllowed(ctx context.Context, row sqlstore.StaffRow) error {
	if s.passkeyRequired(resguardo.Role(row.Role)) {
		return errPasskeyRequired
	}
	keys, err := s.db.Conn().StaffPasskeys(ctx, row.ID)
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		return errPasskeyRequired
	}
	return nil
}

type staffPasskey struct {
	row  sqlstore.StaffPasskeyRow
	cred passkey.Credential
}

// passkeyUser is the staff member as the relying party sees them.
func (s *Service) passkeyUser(ctx context.Context, row sqlstore.StaffRow) (passkey.User, []staffPasskey, error) {
	rows, err := s.db.Conn().StaffPasskeys(ctx, row.ID)
	if err != nil {
		return passkey.User{}, nil, err
	}
	dk, err := s.staffKey(row)
	if err != nil {
		return passkey.User{}, nil, err
	}
	u := passkey.User{Name: row.Email}
	out := make([]staffPasskey, 0, len(rows))
	for _, r := range rows {
		b, err := dk.Open(r.RecordSealed, tStaffPasskeys, "record_sealed", r.ID)
		if err != nil {
			return passkey.User{}, nil, err
		}
		var cred passkey.Credential
		if err := json.Unmarshal(b, &cred); err != nil {
			return passkey.User{}, nil, err
		}
		cred.Authenticator.SignCount = r.SignCount
		u.Handle = r.Handle
		u.Credentials = append(u.Credentials, cred)
		out = append(out, staffPasskey{row: r, cred: cred})
	}
	if u.Handle == nil {
		u.Handle = passkey.NewHandle()
	}
	return u, out, nil
}

func (s *Service) beginCeremony(ctx context.Context, purpose, bind string, c passkey.Ceremony) (Ceremony, error) {
	token, hash := auth.NewToken()
	now := s.now()
	err := s.db.Conn().InsertPasskeyChallenge(ctx, sqlstore.PasskeyChallengeRow{TokenHash: hash, Purpose: purpose, Binding: bind,
		SessionData: c.Session, ExpiresAt: now.Add(passkey.Timeout).Unix()}, now.Unix())
	if err != nil {
		return Ceremony{}, err
	}
	return Ceremony{Token: token, Options: c.Options}, nil
}

func (s *Service) takeCeremony(ctx context.Context, token, purpose, bind string) ([]byte, error) {
	if token == "" {
		return nil, errPasskeyRefused
	}
	ch, err := s.db.Conn().TakePasskeyChallenge(ctx, auth.TokenHash(token), purpose, bind, s.now().Unix())
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		return nil, errPasskeyRefused
	}
	return ch.SessionData, err
}

func enrolBinding(token string) string { return "enrol:" + hex.EncodeToString(auth.TokenHash(token)) }

// BeginEnrolPasskey starts enrolling a passkey through a live enrolment
// link whose password is set (EnrolPassword ran).
func (s *Service) BeginEnrolPasskey(ctx context.Context, token string) (Ceremony, error) {
	if s.rp == nil {
		return Ceremony{}, errPasskeysOff
	}
	row, err := s.db.Conn().StaffByEnrolLink(ctx, auth.TokenHash(token), s.now().Unix())
	if err != nil || row.PasswordHash == "" {
		return Ceremony{}, errBadLink
	}
	u, _, err := s.passkeyUser(ctx, row)
	if err != nil {
		return Ceremony{}, err
	}
	c, err := s.rp.BeginRegistration(u)
	if err != nil {
		return Ceremony{}, err
	}
	// The handle travels in the session data: the finish reads it back.
	return s.beginCeremony(ctx, pkEnrol, enrolBinding(token), c)
}

// FinishEnrolPasskey verifies the passkey, stores it sealed, and completes
// the enrolment (the link is consumed).
func (s *Service) FinishEnrolPasskey(ctx context.Context, token, ceremony string, response []byte) error {
	if s.rp == nil {
		return errPasskeysOff
	}
	session, err := s.takeCeremony(ctx, ceremony, pkEnrol, enrolBinding(token))
	if err != nil {
		return err
	}
	row, err := s.db.Conn().StaffByEnrolLink(ctx, auth.TokenHash(token), s.now().Unix())
	if err != nil || row.PasswordHash == "" {
		return errBadLink
	}
	pk, err := s.verifiedPasskey(ctx, row, session, response)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.InsertStaffPasskey(ctx, pk); err != nil {
			return err
		}
		if err := c.FinishStaffPasskeyEnrolment(ctx, row.ID, row.EnrolHash); err != nil {
			return errBadLink
		}
		ev := resguardo.AuditEvent{ActorKind: resguardo.ActorStaff, ActorID: row.ID, ActorRole: row.Role,
			Action: resguardo.ActStaffEnrolled, TargetKind: resguardo.TargetStaff, TargetID: row.ID, Outcome: resguardo.OutcomeSuccess, Fields: []string{"passkey"}}
		return s.audit.Append(ctx, c, ev)
	})
}

// verifiedPasskey verifies a registration answer for row against the
// ceremony's session data and returns the passkey row to store, sealed
// under the staff member's data key.
func (s *Service) verifiedPasskey(ctx context.Context, row sqlstore.StaffRow, session, response []byte) (sqlstore.StaffPasskeyRow, error) {
	u, _, err := s.passkeyUser(ctx, row)
	if err != nil {
		return sqlstore.StaffPasskeyRow{}, err
	}
	// The handle the ceremony was begun with travels in its session data.
	var sd struct {
		UserID []byte `json:"user_id"`
	}
	if err := json.Unmarshal(session, &sd); err != nil || len(sd.UserID) == 0 {
		return sqlstore.StaffPasskeyRow{}, errPasskeyRefused
	}
	u.Handle = sd.UserID
	cred, err := s.rp.FinishRegistration(u, session, response)
	if err != nil {
		s.log.InfoContext(ctx, "staff passkey registration refused", "staff", row.ID, "err", err)
		return sqlstore.StaffPasskeyRow{}, errPasskeyRefused
	}
	dk, err := s.staffKey(row)
	if err != nil {
		return sqlstore.StaffPasskeyRow{}, err
	}
	id := newID()
	b, err := json.Marshal(cred)
	if err != nil {
		return sqlstore.StaffPasskeyRow{}, err
	}
	sealed, err := dk.Seal(b, tStaffPasskeys, "record_sealed", id)
	if err != nil {
		return sqlstore.StaffPasskeyRow{}, err
	}
	return sqlstore.StaffPasskeyRow{ID: id, StaffID: row.ID, Handle: u.Handle, CredentialID: cred.ID,
		RecordSealed: sealed, SignCount: cred.Authenticator.SignCount, CreatedAt: s.now().Unix()}, nil
}

// maxStaffPasskeys bounds a staff member's passkeys.
const maxStaffPasskeys = 10

// BeginAddPasskey starts adding a passkey for a signed-in staff member
// with a recent password, code or passkey check (so that a TOTP member can
// move to a passkey before --staff-passkeys-required is turned on).
func (s *Service) BeginAddPasskey(ctx context.Context, p Principal) (Ceremony, error) {
	if s.rp == nil {
		return Ceremony{}, errPasskeysOff
	}
	if !p.MFADone {
		return Ceremony{}, errSignIn
	}
	if !p.Recent(s.now()) {
		return Ceremony{}, errReauthNeeded
	}
	row, err := s.db.Conn().StaffByID(ctx, p.StaffID)
	if err != nil {
		return Ceremony{}, err
	}
	u, _, err := s.passkeyUser(ctx, row)
	if err != nil {
		return Ceremony{}, err
	}
	if len(u.Credentials) >= maxStaffPasskeys {
		return Ceremony{}, resguardo.Errorf(resguardo.EConflict, "You have the most passkeys an account can have.")
	}
	c, err := s.rp.BeginRegistration(u)
	if err != nil {
		return Ceremony{}, err
	}
	return s.beginCeremony(ctx, pkAdd, "staff:"+p.SessionID, c)
}

// FinishAddPasskey verifies and stores the passkey; from then on the
// member's TOTP codes are no longer accepted (the passkey is the stronger
// factor, and a member who has one is never asked for a code).
func (s *Service) FinishAddPasskey(ctx context.Context, p Principal, ceremony string, response []byte) error {
	if s.rp == nil {
		return errPasskeysOff
	}
	if !p.MFADone {
		return errSignIn
	}
	if !p.Recent(s.now()) {
		return errReauthNeeded
	}
	session, err := s.takeCeremony(ctx, ceremony, pkAdd, "staff:"+p.SessionID)
	if err != nil {
		return err
	}
	row, err := s.db.Conn().StaffByID(ctx, p.StaffID)
	if err != nil {
		return err
	}
	pk, err := s.verifiedPasskey(ctx, row, session, response)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.InsertStaffPasskey(ctx, pk); err != nil {
			return err
		}
		ev := staffEvent(p, resguardo.ActPasskeyAdded, resguardo.TargetStaff, p.StaffID, resguardo.OutcomeSuccess)
		ev.Fields = []string{"passkey"}
		return s.audit.Append(ctx, c, ev)
	})
}

// BeginPasskey starts a passkey ceremony for a signed-in (or half
// signed-in) staff member: the second step of sign-in (step false) or
// step-up (true). It is bound to the session.
func (s *Service) BeginPasskey(ctx context.Context, p Principal, stepUp bool) (Ceremony, error) {
	if s.rp == nil {
		return Ceremony{}, errPasskeysOff
	}
	purpose := pkSecond
	if stepUp {
		purpose = pkReauth
	}
	if stepUp != p.MFADone {
		return Ceremony{}, resguardo.Errorf(resguardo.EConflict, "Not at this step of signing in.")
	}
	row, err := s.db.Conn().StaffByID(ctx, p.StaffID)
	if err != nil {
		return Ceremony{}, err
	}
	u, _, err := s.passkeyUser(ctx, row)
	if err != nil {
		return Ceremony{}, err
	}
	if len(u.Credentials) == 0 {
		return Ceremony{}, errNoPasskey
	}
	c, err := s.rp.BeginLogin(&u)
	if err != nil {
		return Ceremony{}, err
	}
	return s.beginCeremony(ctx, purpose, "staff:"+p.SessionID, c)
}

// SecondFactorPasskey completes a sign-in with a passkey: like
// SecondFactor, a new session replaces the half one.
func (s *Service) SecondFactorPasskey(ctx context.Context, p Principal, ceremony string, response []byte) (string, Principal, error) {
	if p.MFADone {
		return "", Principal{}, resguardo.Errorf(resguardo.EConflict, "Already signed in.")
	}
	row, used, err := s.checkPasskey(ctx, p, pkSecond, ceremony, response)
	if err != nil {
		return "", Principal{}, err
	}
	var token string
	var np Principal
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := used(c); err != nil {
			return err
		}
		if err := c.DeleteStaffSession(ctx, p.SessionID); err != nil {
			return err
		}
		if token, np, err = s.startSessionIn(ctx, c, row, true); err != nil {
			return err
		}
		ev := staffEvent(np, resguardo.ActStaffSignIn, resguardo.TargetStaff, row.ID, resguardo.OutcomeSuccess)
		ev.Fields = []string{"passkey"}
		return s.audit.Append(ctx, c, ev)
	})
	if errors.Is(err, errCounterMoved) {
		return "", Principal{}, s.passkeyRefusal(ctx, p, resguardo.ActPasskeyCloneSuspected)
	}
	return token, np, err
}

// ReauthenticatePasskey is step-up with a passkey; it returns the
// session's new cookie token.
func (s *Service) ReauthenticatePasskey(ctx context.Context, p Principal, ceremony string, response []byte) (string, error) {
	_, used, err := s.checkPasskey(ctx, p, pkReauth, ceremony, response)
	if err != nil {
		return "", err
	}
	token, hash := auth.NewToken()
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := used(c); err != nil {
			return err
		}
		if err := c.MarkStaffRecentAuth(ctx, p.SessionID, hash, s.now().Unix()); err != nil {
			return err
		}
		ev := staffEvent(p, resguardo.ActReauth, resguardo.TargetStaff, p.StaffID, resguardo.OutcomeSuccess)
		ev.Fields = []string{"passkey"}
		return s.audit.Append(ctx, c, ev)
	})
	if errors.Is(err, errCounterMoved) {
		return "", s.passkeyRefusal(ctx, p, resguardo.ActPasskeyCloneSuspected)
	}
	return token, err
}

var errCounterMoved = errors.New("staff passkey counter moved meanwhile")

// checkPasskey takes the ceremony's challenge and verifies the answer
// against the staff member's passkeys. It returns the member and the step
// that records the use (the counter's compare-and-set), to run in the
// caller's transaction.
func (s *Service) checkPasskey(ctx context.Context, p Principal, purpose, ceremony string, response []byte) (sqlstore.StaffRow, func(sqlstore.Conn) error, error) {
	if s.rp == nil {
		return sqlstore.StaffRow{}, nil, errPasskeysOff
	}
	session, err := s.takeCeremony(ctx, ceremony, purpose, "staff:"+p.SessionID)
	if err != nil {
		return sqlstore.StaffRow{}, nil, err
	}
	row, err := s.db.Conn().StaffByID(ctx, p.StaffID)
	if err != nil {
		return row, nil, err
	}
	if row.Disabled {
		return row, nil, errSignIn
	}
	u, stored, err := s.passkeyUser(ctx, row)
	if err != nil {
		return row, nil, err
	}
	_, cred, err := s.rp.FinishLogin(&u, nil, session, response)
	switch {
	case errors.Is(err, passkey.ErrCloneSuspected):
		return row, nil, s.passkeyRefusal(ctx, p, resguardo.ActPasskeyCloneSuspected)
	case errors.Is(err, passkey.ErrRefused):
		s.log.InfoContext(ctx, "staff passkey refused", "staff", p.StaffID, "err", err)
		return row, nil, s.passkeyRefusal(ctx, p, resguardo.ActPasskeyFailed)
	case err != nil:
		return row, nil, err
	}
	i := slices.IndexFunc(stored, func(st staffPasskey) bool { return string(st.cred.ID) == string(cred.ID) })
	if i < 0 {
		return row, nil, errPasskeyRefused
	}
	st := stored[i]
	return row, func(c sqlstore.Conn) error {
		ok, err := c.UseStaffPasskey(ctx, row.ID, st.row.ID, st.row.SignCount, cred.Authenticator.SignCount, s.now().Unix())
		if err != nil {
			return err
		}
		if !ok {
			return errCounterMoved
		}
		return nil
	}, nil
}

// passkeyRefusal audits a refused staff passkey and returns the refusal.
func (s *Service) passkeyRefusal(ctx context.Context, p Principal, action string) error {
	if err := s.record(ctx, staffEvent(p, action, resguardo.TargetStaff, p.StaffID, resguardo.OutcomeFailure)); err != nil {
		return err
	}
	return errPasskeyRefused
}
