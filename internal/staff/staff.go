// Package staff is the back office's side: staff accounts and their
// enrolment, sign-in with a mandatory second factor, staff sessions, and the
// operations staff perform on customers, each checked against the permission
// table of the domain package (resguardo.Role.Can) here as well as by the
// route policy, and each audited.
package staff

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/passkey"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/vault"
)

// Options are the staff side's settings.
type Options struct {
	BaseURL        string        // staff console origin, for enrolment links
	Idle           time.Duration // session idle timeout (docs/contract.md §4: 15 min)
	Absolute       time.Duration // session absolute timeout (8 h)
	EnrolTTL       time.Duration // enrolment link validity (24 h)
	ApprovalTTL    time.Duration // four-eyes window (24 h)
	RevealsPerHour int           // reveals one staff member may make in an hour
	// RequirePasskeys makes agents and leads (the roles that see personal
	// data) use a passkey as their second factor: TOTP is refused for them.
	RequirePasskeys bool
	Now             func() time.Time
}

// DefaultOptions are docs/contract.md §4 and §5's defaults.
func DefaultOptions(baseURL string) Options {
	return Options{BaseURL: baseURL, Idle: 15 * time.Minute, Absolute: 8 * time.Hour, EnrolTTL: 24 * time.Hour,
		ApprovalTTL: 24 * time.Hour, RevealsPerHour: 30, Now: time.Now}
}

// recentWindow is how long a password or code check counts as recent.
const recentWindow = 5 * time.Minute

// mfaWindow is how long a signed-in password waits for its code.
const mfaWindow = 5 * time.Minute

// Service is the staff side.
type Service struct {
	db       *sqlstore.DB
	vault    *vault.Vault
	hasher   *auth.Hasher
	audit    *audit.Log
	accounts *account.Service
	log      *slog.Logger
	o        Options
	// rp is the staff console's passkey relying party, for BaseURL's
	// origin (nil when BaseURL is no origin: passkeys are then refused).
	rp *passkey.RP
}

// New returns the staff side over the customer side it acts on.
func New(db *sqlstore.DB, v *vault.Vault, h *auth.Hasher, a *audit.Log, accounts *account.Service, log *slog.Logger, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	svc := &Service{db: db, vault: v, hasher: h, audit: a, accounts: accounts, log: log, o: o}
	if rp, err := passkey.New(o.BaseURL, "resguardo staff"); err != nil {
		log.Warn("staff passkeys off: the console origin makes no relying party", "err", err)
	} else {
		svc.rp = rp
	}
	return svc
}

func (s *Service) now() time.Time { return s.o.Now() }

// Principal is a signed-in staff member.
type Principal struct {
	StaffID      string
	Email        string
	Role         resguardo.Role
	SessionID    string
	CSRFToken    string
	MFADone      bool // false while the sign-in waits for its code
	RecentAuthAt time.Time
	// Lang is the language of the request the staff member acts in (set
	// by the server from the request): the language of mail their
	// operation sends, such as an enrolment link or a customer's
	// confirmation link.
	Lang string
}

// Can asks the permission table.
func (p Principal) Can(perm resguardo.Permission) bool { return p.MFADone && p.Role.Can(perm) }

// Actor is the staff member as the actor of an audited operation, with
// their role.
func (p Principal) Actor() resguardo.Actor { return resguardo.StaffActor(p.StaffID, p.Role) }

// Recent reports whether the password or a code was checked within 5 minutes.
func (p Principal) Recent(now time.Time) bool { return now.Sub(p.RecentAuthAt) < recentWindow }

// LogValue keeps the person out of logs: a staff member logs as id and role.
func (p Principal) LogValue() slog.Value {
	return slog.StringValue("staff:" + p.StaffID + "/" + string(p.Role))
}

// Member is a staff member as admins see them.
type Member struct {
	ID       string         `json:"id"`
	Email    string         `json:"email"`
	Name     string         `json:"name,omitempty"` // chosen at enrolment; set by List only
	Role     resguardo.Role `json:"role"`
	Enrolled bool           `json:"enrolled"`
	Disabled bool           `json:"disabled"`
	State    string         `json:"state"` // one of the Member* states
	Created  time.Time      `json:"created_at"`
}

// A member's state, as the team page and `staff list` say it.
const (
	MemberActive           = "active"
	MemberDisabled         = "disabled"
	MemberAwaitingApproval = "awaiting_approval" // an invitation a second administrator has not approved: no link exists
	MemberLinkMailed       = "link_mailed"       // the enrolment link went to the invitee's mailbox
	MemberLinkExpired      = "link_expired"
	MemberNotEnrolled      = "not_enrolled" // a link exists (printed by the CLI, or still in the outbox)
)

func (s *Service) member(r sqlstore.StaffRow) Member {
	state := MemberNotEnrolled
	switch {
	case r.Disabled:
		state = MemberDisabled
	case r.TOTPEnabled:
		state = MemberActive
	case r.EnrolHash == nil:
		state = MemberAwaitingApproval
	case r.EnrolExpiresAt <= s.now().Unix():
		state = MemberLinkExpired
	case r.EnrolMailedAt > 0:
		state = MemberLinkMailed
	}
	return Member{ID: r.ID, Email: r.Email, Role: resguardo.Role(r.Role), Enrolled: r.TOTPEnabled, Disabled: r.Disabled, State: state,
		Created: time.Unix(r.CreatedAt, 0).UTC()}
}

var (
	errForbidden    = resguardo.Errorf(resguardo.EForbidden, "Your role does not allow this.")
	errBadLink      = resguardo.Errorf(resguardo.EInvalid, "This enrolment link is not valid or has expired.")
	errSignIn       = resguardo.Errorf(resguardo.EUnauthenticated, "The e-mail address, password or code is not correct.")
	errCode         = &resguardo.Error{Code: resguardo.EInvalid, Message: "The code is not correct.", Fields: []resguardo.FieldProblem{{Field: "code", Detail: "is not correct"}}}
	errReauthNeeded = resguardo.Errorf(resguardo.EReauthRequired, "Confirm your password or a code to continue.")
)

// staffEvent is an audit entry by a staff member.
func staffEvent(p Principal, action, targetKind, targetID, outcome string) resguardo.AuditEvent {
	return p.Actor().Event(action, targetKind, targetID, outcome)
}

// Invitation is what Create did.
type Invitation struct {
	ID string // the new staff member
	// Link is the enrolment link, given only to the operator's CLI (by nil):
	// an invitation made in the console never returns it; it goes to the
	// invitee's mailbox only.
	Link string
	// RequestID is the request a second administrator must approve before
	// the account gets a link ("" when none is needed).
	RequestID string
}

// needsSecondAdmin reports whether a console invitation to role waits for
// a second administrator: every role but auditor, which sees no personal
// data. (Agents and leads see customers; an administrator could approve
// the next invitation.)
func needsSecondAdmin(role resguardo.Role) bool { return role != resguardo.RoleAuditor }

// Create adds a staff member. by is nil for the operator's CLI, which gets
// the single-use enrolment link (valid Options.EnrolTTL) to print.
// Otherwise by must be an administrator with a recent password or code
// check, and nobody sees the link: an auditor's goes to their mailbox at
// once; any other role is only an invitation, with no link at all, until a
// second administrator approves it on /approvals (see Decide), and then the
// link goes to the invitee's mailbox only.
func (s *Service) Create(ctx context.Context, emailIn string, role resguardo.Role, by *Principal) (Invitation, error) {
	if !role.Valid() {
		return Invitation{}, &resguardo.Error{Code: resguardo.EInvalid, Message: "Unknown role.", Fields: []resguardo.FieldProblem{{Field: "role", Detail: "must be agent, lead, admin or auditor"}}}
	}
	if by != nil {
		if err := s.require(*by, OpTeamInvite); err != nil {
			return Invitation{}, err
		}
	}
	email, err := resguardo.ParseEmail(emailIn)
	if err != nil {
		return Invitation{}, err
	}
	id := rand.Text()
	wrapped, err := s.vault.NewDataKey("staff:" + id)
	if err != nil {
		return Invitation{}, err
	}
	now := s.now()
	row := sqlstore.StaffRow{ID: id, Email: string(email), Role: string(role), DataKey: wrapped, CreatedAt: now.Unix()}
	fields := []string{"role:" + string(role)}
	switch {
	case by == nil: // the operator's CLI: the link is printed at the console
		token, hash := auth.NewToken()
		row.EnrolHash, row.EnrolExpiresAt = hash, now.Add(s.o.EnrolTTL).Unix()
		err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
			if err := c.InsertStaff(ctx, row); err != nil {
				return err
			}
			return s.audit.Append(ctx, c, resguardo.AuditEvent{ActorKind: resguardo.ActorSystem, Action: resguardo.ActStaffCreated,
				TargetKind: resguardo.TargetStaff, TargetID: id, Outcome: resguardo.OutcomeSuccess, Fields: fields})
		})
		if err != nil {
			return Invitation{}, err
		}
		return Invitation{ID: id, Link: s.enrolLink(token)}, nil

	case needsSecondAdmin(role): // an invitation without a link, and a request
		req := sqlstore.ApprovalRow{ID: newID(), Kind: KindCreate, SubjectID: id, Detail: string(role), RequestedBy: by.StaffID,
			RequestedAt: now.Unix(), ExpiresAt: now.Add(s.o.ApprovalTTL).Unix()}
		err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
			if err := c.InsertStaff(ctx, row); err != nil {
				return err
			}
			if err := c.InsertApproval(ctx, req); err != nil {
				return err
			}
			ev := staffEvent(*by, resguardo.ActStaffInvited, resguardo.TargetStaff, id, resguardo.OutcomeSuccess)
			ev.Fields = fields
			if err := s.audit.Append(ctx, c, ev); err != nil {
				return err
			}
			ev = staffEvent(*by, resguardo.ActApprovalRequested, resguardo.TargetStaff, id, resguardo.OutcomeSuccess)
			ev.Fields = []string{KindCreate, "role:" + string(role)}
			return s.audit.Append(ctx, c, ev)
		})
		if err != nil {
			return Invitation{}, err
		}
		return Invitation{ID: id, RequestID: req.ID}, nil

	default: // an auditor: created at once, the link by mail only
		token, hash := auth.NewToken()
		row.EnrolHash, row.EnrolExpiresAt = hash, now.Add(s.o.EnrolTTL).Unix()
		err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
			if err := c.InsertStaff(ctx, row); err != nil {
				return err
			}
			if err := s.queueEnrolment(ctx, c, row, token, by.Lang); err != nil {
				return err
			}
			ev := staffEvent(*by, resguardo.ActStaffCreated, resguardo.TargetStaff, id, resguardo.OutcomeSuccess)
			ev.Fields = fields
			return s.audit.Append(ctx, c, ev)
		})
		if err != nil {
			return Invitation{}, err
		}
		return Invitation{ID: id}, nil
	}
}

func (s *Service) enrolLink(token string) string {
	return s.o.BaseURL + "/enrol?token=" + url.QueryEscape(token)
}

// List returns every staff member (administrators only; nil by is the CLI).
func (s *Service) List(ctx context.Context, by *Principal) ([]Member, error) {
	if by != nil {
		if err := s.require(*by, OpTeamList); err != nil {
			return nil, err
		}
	}
	rows, err := s.db.Conn().ListStaff(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(rows))
	for _, r := range rows {
		m := s.member(r)
		if m.Name, err = s.openName(r); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// errSecondAdmin refuses to disable an administrator alone.
var errSecondAdmin = resguardo.Errorf(resguardo.EForbidden, "Disabling an administrator needs a second administrator's approval.")

// Disable stops a staff member at once: their sessions end, any mail
// waiting for them is dropped, and they can no longer sign in or enrol.
// by is nil for the operator's CLI; otherwise it must be an administrator
// with a recent password or code check, and an administrator is disabled
// only through a second administrator's approval (DisableOrRequest asks for
// it). Nobody disables themselves (an administrator could otherwise lock
// the console out by mistake).
func (s *Service) Disable(ctx context.Context, idOrEmail string, by *Principal) (Member, error) {
	if by != nil {
		if err := s.require(*by, OpTeamDisable); err != nil {
			return Member{}, err
		}
	}
	row, err := s.staffByIDOrEmail(ctx, idOrEmail)
	if err != nil {
		return Member{}, err
	}
	if by != nil && row.ID == by.StaffID {
		return Member{}, errDisableSelf
	}
	if by != nil && resguardo.Role(row.Role) == resguardo.RoleAdmin {
		return Member{}, errSecondAdmin
	}
	ev := resguardo.AuditEvent{ActorKind: resguardo.ActorSystem, Action: resguardo.ActStaffDisabled, TargetKind: resguardo.TargetStaff,
		TargetID: row.ID, Outcome: resguardo.OutcomeSuccess}
	if by != nil {
		ev.ActorKind, ev.ActorID, ev.ActorRole = resguardo.ActorStaff, by.StaffID, string(by.Role)
	}
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := disableIn(ctx, c, row.ID); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, ev)
	})
	row.Disabled = true
	return s.member(row), err
}

var errDisableSelf = resguardo.Errorf(resguardo.EConflict, "You cannot disable yourself.")

// disableIn disables a staff member inside a transaction: the flag, their
// sessions, and mail still waiting for them (an enrolment link).
func disableIn(ctx context.Context, c sqlstore.Conn, id string) error {
	if err := c.SetStaffDisabled(ctx, id, true); err != nil {
		return err
	}
	if err := c.DeleteStaffSessions(ctx, id); err != nil {
		return err
	}
	return c.DeleteStaffOutboxOf(ctx, id)
}

func (s *Service) staffByIDOrEmail(ctx context.Context, idOrEmail string) (sqlstore.StaffRow, error) {
	row, err := s.db.Conn().StaffByID(ctx, idOrEmail)
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		row, err = s.db.Conn().StaffByEmail(ctx, idOrEmail)
	}
	return row, err
}

// Enrolment is the TOTP secret shown during enrolment.
type Enrolment = auth.TOTPEnrolment

// EnrolInfo returns whom a live enrolment link is for.
func (s *Service) EnrolInfo(ctx context.Context, token string) (Member, error) {
	row, err := s.db.Conn().StaffByEnrolLink(ctx, auth.TokenHash(token), s.now().Unix())
	if err != nil {
		return Member{}, errBadLink
	}
	return s.member(row), nil
}

// MaxNameLen is the longest display name a staff member may choose, in
// characters.
const MaxNameLen = 80

// CleanName checks a display name chosen at enrolment: 1 to MaxNameLen
// characters once trimmed, no control or invisible formatting characters
// (a name that displays as another would mislead an approver).
func CleanName(name string) (string, error) {
	return resguardo.CleanText("name", name, 1, MaxNameLen)
}

// EnrolPassword sets the display name and the password through a live link
// and makes the TOTP secret to confirm next. Running it again (a reload)
// replaces all three.
func (s *Service) EnrolPassword(ctx context.Context, token, name, password string) (Enrolment, error) {
	name, nameErr := CleanName(name)
	pwErr := auth.CheckPassword(password)
	if err := joinFieldErrors(nameErr, pwErr); err != nil {
		return Enrolment{}, err
	}
	row, err := s.db.Conn().StaffByEnrolLink(ctx, auth.TokenHash(token), s.now().Unix())
	if err != nil {
		return Enrolment{}, errBadLink
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return Enrolment{}, err
	}
	en, err := auth.NewTOTP("resguardo staff", row.Email)
	if err != nil {
		return Enrolment{}, err
	}
	sealed, err := s.sealTOTP(row, en.Secret)
	if err != nil {
		return Enrolment{}, err
	}
	nameSealed, err := s.sealName(row, name)
	if err != nil {
		return Enrolment{}, err
	}
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.SetStaffEnrolment(ctx, row.ID, row.EnrolHash, nameSealed, hash, sealed); err != nil {
			return errBadLink
		}
		// Whoever holds the link can (re)set the password before the code is
		// confirmed: each time leaves a trace.
		return s.audit.Append(ctx, c, resguardo.AuditEvent{ActorKind: resguardo.ActorAnonymous, Action: resguardo.ActStaffEnrolPassword,
			TargetKind: resguardo.TargetStaff, TargetID: row.ID, Outcome: resguardo.OutcomeSuccess})
	})
	if err != nil {
		return Enrolment{}, err
	}
	return en, nil
}

// EnrolConfirm turns TOTP on with a first code and consumes the link.
func (s *Service) EnrolConfirm(ctx context.Context, token, code string) error {
	row, err := s.db.Conn().StaffByEnrolLink(ctx, auth.TokenHash(token), s.now().Unix())
	if err != nil || row.TOTPSealed == nil {
		return errBadLink
	}
	if s.passkeyRequired(resguardo.Role(row.Role)) {
		return errPasskeyRequired
	}
	secret, err := s.openTOTP(row)
	if err != nil {
		return err
	}
	step, ok := auth.TOTPStep(secret, code, s.now(), 0)
	if !ok {
		return errCode
	}
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.FinishStaffEnrolment(ctx, row.ID, row.EnrolHash, step); err != nil {
			return errBadLink
		}
		return s.audit.Append(ctx, c, resguardo.AuditEvent{ActorKind: resguardo.ActorStaff, ActorID: row.ID, ActorRole: row.Role,
			Action: resguardo.ActStaffEnrolled, TargetKind: resguardo.TargetStaff, TargetID: row.ID, Outcome: resguardo.OutcomeSuccess})
	})
}

func (s *Service) staffKey(row sqlstore.StaffRow) (*vault.DataKey, error) {
	return s.vault.DataKey("staff:"+row.ID, row.DataKey)
}

func (s *Service) sealTOTP(row sqlstore.StaffRow, secret string) ([]byte, error) {
	dk, err := s.staffKey(row)
	if err != nil {
		return nil, err
	}
	return dk.Seal([]byte(secret), "staff", "totp_sealed", row.ID)
}

func (s *Service) sealName(row sqlstore.StaffRow, name string) ([]byte, error) {
	dk, err := s.staffKey(row)
	if err != nil {
		return nil, err
	}
	return dk.Seal([]byte(name), "staff", "name_sealed", row.ID)
}

// openName returns the display name, "" for staff enrolled before names
// existed (or not enrolled yet).
func (s *Service) openName(row sqlstore.StaffRow) (string, error) {
	if row.NameSealed == nil {
		return "", nil
	}
	dk, err := s.staffKey(row)
	if err != nil {
		return "", err
	}
	b, err := dk.Open(row.NameSealed, "staff", "name_sealed", row.ID)
	if err != nil {
		return "", fmt.Errorf("open staff display name: %w", err)
	}
	return string(b), nil
}

// joinFieldErrors reports the problems of several fields of one form at
// once, so that a person fixes them in one go; nil if there are none.
func joinFieldErrors(errs ...error) error {
	var fields []resguardo.FieldProblem
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if first == nil {
			first = err
		}
		fs := resguardo.ErrorFields(err)
		if len(fs) == 0 {
			return err // not a field problem: report it as it is
		}
		fields = append(fields, fs...)
	}
	if first == nil {
		return nil
	}
	return &resguardo.Error{Code: resguardo.EInvalid, Message: "Some fields are not valid.", Fields: fields}
}

func (s *Service) openTOTP(row sqlstore.StaffRow) (string, error) {
	dk, err := s.staffKey(row)
	if err != nil {
		return "", err
	}
	b, err := dk.Open(row.TOTPSealed, "staff", "totp_sealed", row.ID)
	return string(b), err
}

// SignIn checks a staff password. Success gives only a session waiting for
// its code (MFADone false), under a token of its own; every failure is the
// same error after the same work, and attempts are throttled per address
// and network, and per network.
func (s *Service) SignIn(ctx context.Context, emailIn, password string) (string, Principal, error) {
	email, _ := resguardo.ParseEmail(emailIn)
	network := audit.MetaFrom(ctx).Network
	key := "sa:" + string(email) + "/" + network
	// Also the network's own count, so one client cannot spray passwords
	// over every staff address. It is not shared with customer sign-ins:
	// a flood of customer guesses from an office must not shut its staff out.
	keys := []string{key, "sn:" + network}
	if err := s.accounts.ClaimAttempt(ctx, keys...); err != nil {
		return "", Principal{}, err
	}
	// Until the password is found wrong, a fault (the database, a busy
	// hasher) takes the attempt back: it was no guess.
	row, err := s.db.Conn().StaffByEmail(ctx, string(email))
	if err != nil && resguardo.ErrorCode(err) != resguardo.ENotFound {
		return "", Principal{}, s.accounts.UnclaimOnFault(ctx, err, keys...)
	}
	failed := resguardo.AuditEvent{ActorKind: resguardo.ActorAnonymous, Action: resguardo.ActStaffSignInFailed,
		TargetKind: resguardo.TargetStaff, TargetID: row.ID, Outcome: resguardo.OutcomeFailure}
	if err != nil || row.Disabled || !row.TOTPEnabled {
		if err := s.hasher.DummyVerify(ctx, password); err != nil {
			return "", Principal{}, s.accounts.UnclaimOnFault(ctx, err, keys...)
		}
		if err := s.record(ctx, failed); err != nil {
			return "", Principal{}, err
		}
		return "", Principal{}, errSignIn
	}
	ok, _, err := s.hasher.Verify(ctx, password, row.PasswordHash)
	if err != nil {
		return "", Principal{}, s.accounts.UnclaimOnFault(ctx, err, keys...)
	}
	if !ok {
		if err := s.record(ctx, failed); err != nil {
			return "", Principal{}, err
		}
		return "", Principal{}, errSignIn
	}
	// The password was right: forget this address's attempts from this
	// network, as the customer sign-in does, so that signing in several
	// times a day never runs into the throttle.
	if err := s.accounts.ClearAttempts(ctx, key); err != nil {
		return "", Principal{}, s.accounts.UnclaimOnFault(ctx, err, keys...)
	}
	return s.startSession(ctx, row, false)
}

// record appends an event that changes nothing else. Its error is the
// caller's to return: an event that cannot be recorded fails its request.
func (s *Service) record(ctx context.Context, ev resguardo.AuditEvent) error {
	if err := s.audit.Record(ctx, ev); err != nil {
		return fmt.Errorf("audit %s: %w", ev.Action, err)
	}
	return nil
}

// startSession stores a new session under a fresh token.
func (s *Service) startSession(ctx context.Context, row sqlstore.StaffRow, mfaDone bool) (string, Principal, error) {
	return s.startSessionIn(ctx, s.db.Conn(), row, mfaDone)
}

// startSessionIn is startSession on c (in the caller's transaction).
func (s *Service) startSessionIn(ctx context.Context, c sqlstore.Conn, row sqlstore.StaffRow, mfaDone bool) (string, Principal, error) {
	token, hash := auth.NewToken()
	now := s.now()
	expires := now.Add(mfaWindow)
	if mfaDone {
		expires = now.Add(s.o.Absolute)
	}
	sess := sqlstore.StaffSessionRow{ID: rand.Text(), TokenHash: hash, StaffID: row.ID, CSRFToken: rand.Text(), MFADone: mfaDone,
		CreatedAt: now.Unix(), LastSeenAt: now.Unix(), ExpiresAt: expires.Unix(), RecentAuthAt: now.Unix()}
	if err := c.InsertStaffSession(ctx, sess); err != nil {
		return "", Principal{}, err
	}
	return token, principalOf(row, sess), nil
}

func principalOf(row sqlstore.StaffRow, sess sqlstore.StaffSessionRow) Principal {
	return Principal{StaffID: row.ID, Email: row.Email, Role: resguardo.Role(row.Role), SessionID: sess.ID, CSRFToken: sess.CSRFToken,
		MFADone: sess.MFADone, RecentAuthAt: time.Unix(sess.RecentAuthAt, 0)}
}

// SecondFactor completes a sign-in with a TOTP code: the waiting session is
// replaced by a new one under a new token (no fixation).
func (s *Service) SecondFactor(ctx context.Context, p Principal, code string) (string, Principal, error) {
	if p.MFADone {
		return "", Principal{}, resguardo.Errorf(resguardo.EConflict, "Already signed in.")
	}
	row, err := s.checkCode(ctx, p, code)
	if err != nil {
		return "", Principal{}, err
	}
	// The waiting session, the new one and the entry commit together:
	// a sign-in that cannot be recorded does not happen.
	var token string
	var np Principal
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.DeleteStaffSession(ctx, p.SessionID); err != nil {
			return err
		}
		if token, np, err = s.startSessionIn(ctx, c, row, true); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, staffEvent(np, resguardo.ActStaffSignIn, resguardo.TargetStaff, row.ID, resguardo.OutcomeSuccess))
	})
	if err != nil {
		return "", Principal{}, err
	}
	return token, np, nil
}

// checkCode accepts a TOTP code not used before, throttled per staff member.
func (s *Service) checkCode(ctx context.Context, p Principal, code string) (sqlstore.StaffRow, error) {
	key := "sm:" + p.StaffID
	if err := s.accounts.ClaimAttempt(ctx, key); err != nil {
		return sqlstore.StaffRow{}, err
	}
	row, err := s.db.Conn().StaffByID(ctx, p.StaffID)
	if err != nil && resguardo.ErrorCode(err) != resguardo.ENotFound {
		return sqlstore.StaffRow{}, s.accounts.UnclaimOnFault(ctx, err, key)
	}
	if err != nil || row.Disabled || !row.TOTPEnabled {
		return sqlstore.StaffRow{}, errSignIn
	}
	if err := s.totpAllowed(ctx, row); err != nil {
		if err != errPasskeyRequired {
			return sqlstore.StaffRow{}, s.accounts.UnclaimOnFault(ctx, err, key)
		}
		if aerr := s.record(ctx, staffEvent(p, resguardo.ActStaffCodeFailed, resguardo.TargetStaff, row.ID, resguardo.OutcomeDenied)); aerr != nil {
			return sqlstore.StaffRow{}, aerr
		}
		return sqlstore.StaffRow{}, err
	}
	secret, err := s.openTOTP(row)
	if err != nil {
		return sqlstore.StaffRow{}, s.accounts.UnclaimOnFault(ctx, err, key)
	}
	step, ok := auth.TOTPStep(secret, code, s.now(), row.TOTPLastStep)
	if ok {
		ok, err = s.db.Conn().UseStaffTOTPStep(ctx, row.ID, step)
		if err != nil {
			return sqlstore.StaffRow{}, s.accounts.UnclaimOnFault(ctx, err, key)
		}
	}
	if !ok {
		if err := s.record(ctx, staffEvent(p, resguardo.ActStaffCodeFailed, resguardo.TargetStaff, row.ID, resguardo.OutcomeFailure)); err != nil {
			return sqlstore.StaffRow{}, err
		}
		return sqlstore.StaffRow{}, errCode
	}
	return row, s.accounts.UnclaimOnFault(ctx, s.accounts.ClearAttempts(ctx, key), key)
}

// Session returns the staff member of a session token, enforcing the idle
// and absolute timeouts; a disabled member's sessions fail.
func (s *Service) Session(ctx context.Context, token string) (Principal, error) {
	sess, err := s.db.Conn().StaffSession(ctx, auth.TokenHash(token))
	if err != nil {
		if resguardo.ErrorCode(err) == resguardo.ENotFound {
			return Principal{}, errSignIn
		}
		// The database failing is no verdict on the session: a 503, not a
		// trip to the sign-in page.
		return Principal{}, err
	}
	now := s.now()
	if now.Unix() >= sess.ExpiresAt || (sess.MFADone && now.Sub(time.Unix(sess.LastSeenAt, 0)) >= s.o.Idle) {
		_ = s.db.Conn().DeleteStaffSession(ctx, sess.ID)
		return Principal{}, errSignIn
	}
	row, err := s.db.Conn().StaffByID(ctx, sess.StaffID)
	if err != nil && resguardo.ErrorCode(err) != resguardo.ENotFound {
		return Principal{}, err
	}
	if err != nil || row.Disabled {
		return Principal{}, errSignIn
	}
	if sess.MFADone && now.Unix()-sess.LastSeenAt >= 30 {
		if err := s.db.Conn().TouchStaffSession(ctx, sess.ID, now.Unix()); err != nil {
			return Principal{}, err
		}
	}
	return principalOf(row, sess), nil
}

// Reauthenticate is staff step-up: the password or a current code. The
// session gets a new token, returned to be set as its cookie: like a
// sign-in, a re-authentication never keeps the token from before it.
func (s *Service) Reauthenticate(ctx context.Context, p Principal, password, code string) (string, error) {
	if code != "" {
		if _, err := s.checkCode(ctx, p, code); err != nil {
			return "", err
		}
	} else {
		key := "sp:" + p.StaffID
		if err := s.accounts.ClaimAttempt(ctx, key); err != nil {
			return "", err
		}
		row, err := s.db.Conn().StaffByID(ctx, p.StaffID)
		if err != nil {
			return "", s.accounts.UnclaimOnFault(ctx, err, key)
		}
		ok, _, err := s.hasher.Verify(ctx, password, row.PasswordHash)
		if err != nil {
			return "", s.accounts.UnclaimOnFault(ctx, err, key)
		}
		if !ok {
			if err := s.record(ctx, staffEvent(p, resguardo.ActReauthFailed, resguardo.TargetStaff, p.StaffID, resguardo.OutcomeFailure)); err != nil {
				return "", err
			}
			return "", &resguardo.Error{Code: resguardo.EInvalid, Message: "The password is not correct.", Fields: []resguardo.FieldProblem{{Field: "password", Detail: "is not correct"}}}
		}
		if err := s.accounts.ClearAttempts(ctx, key); err != nil {
			return "", s.accounts.UnclaimOnFault(ctx, err, key)
		}
	}
	token, hash := auth.NewToken()
	return token, s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.MarkStaffRecentAuth(ctx, p.SessionID, hash, s.now().Unix()); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, staffEvent(p, resguardo.ActReauth, resguardo.TargetStaff, p.StaffID, resguardo.OutcomeSuccess))
	})
}

// SignOut ends the session.
func (s *Service) SignOut(ctx context.Context, p Principal) error {
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.DeleteStaffSession(ctx, p.SessionID); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, staffEvent(p, resguardo.ActSignOut, resguardo.TargetStaff, p.StaffID, resguardo.OutcomeSuccess))
	})
}
