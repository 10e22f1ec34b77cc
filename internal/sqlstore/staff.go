package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/resguardo/resguardo"
)

// StaffRow is a staff member as stored.
type StaffRow struct {
	ID             string
	Email          string
	Role           string
	DataKey        []byte // wraps the TOTP secret
	PasswordHash   string // "" until enrolled
	TOTPSealed     []byte // nil until enrolment's second step
	TOTPEnabled    bool
	TOTPLastStep   int64
	Disabled       bool
	EnrolHash      []byte // nil once the enrolment link is used
	EnrolExpiresAt int64
	CreatedAt      int64
	EnrolMailedAt  int64  // when the link reached the mail relay; 0 if never mailed
	NameSealed     []byte // the display name chosen at enrolment, sealed; nil if none
}

// ErrStaffTaken is returned when a staff e-mail is already used.
var ErrStaffTaken = resguardo.Errorf(resguardo.EConflict, "A staff member with this e-mail address exists.")

const staffColumns = `id, email, role, data_key, password_hash, totp_sealed, totp_enabled, totp_last_step, disabled, enrol_hash, enrol_expires_at, created_at, enrol_mailed_at, name_sealed`

func scanStaff(row interface{ Scan(...any) error }) (StaffRow, error) {
	var s StaffRow
	err := row.Scan(&s.ID, &s.Email, &s.Role, &s.DataKey, &s.PasswordHash, &s.TOTPSealed, &s.TOTPEnabled, &s.TOTPLastStep,
		&s.Disabled, &s.EnrolHash, &s.EnrolExpiresAt, &s.CreatedAt, &s.EnrolMailedAt, &s.NameSealed)
	if errors.Is(err, sql.ErrNoRows) {
		return s, errNotFound("staff member")
	}
	if err != nil {
		return s, fmt.Errorf("read staff member: %w", err)
	}
	return s, nil
}

// InsertStaff adds a staff member (not yet enrolled). A nil EnrolHash is an
// invitation waiting for a second administrator: no link exists yet.
func (c Conn) InsertStaff(ctx context.Context, r StaffRow) error {
	_, err := c.exec(ctx, `INSERT INTO staff (id, email, role, data_key, enrol_hash, enrol_expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Email, r.Role, r.DataKey, nullBytes(r.EnrolHash), r.EnrolExpiresAt, r.CreatedAt)
	if isUniqueViolation(err) {
		return ErrStaffTaken
	}
	if err != nil {
		return fmt.Errorf("insert staff member: %w", err)
	}
	return nil
}

// SetStaffEnrolLink gives an invitation that waited for a second
// administrator its enrolment link: only a member never given a link, not
// enrolled and not disabled.
func (c Conn) SetStaffEnrolLink(ctx context.Context, id string, enrolHash []byte, expiresAt int64) error {
	res, err := c.exec(ctx, `UPDATE staff SET enrol_hash = ?, enrol_expires_at = ?
		WHERE id = ? AND enrol_hash IS NULL AND totp_enabled = 0 AND password_hash = '' AND disabled = 0`, enrolHash, expiresAt, id)
	return affectedOne(res, err, "invitation awaiting approval")
}

// MarkStaffEnrolMailed records that the enrolment link went to the relay.
func (c Conn) MarkStaffEnrolMailed(ctx context.Context, id string, at int64) error {
	if _, err := c.exec(ctx, `UPDATE staff SET enrol_mailed_at = ? WHERE id = ?`, at, id); err != nil {
		return fmt.Errorf("mark staff enrolment mailed: %w", err)
	}
	return nil
}

// StaffByID reads one staff member.
func (c Conn) StaffByID(ctx context.Context, id string) (StaffRow, error) {
	return scanStaff(c.queryRow(ctx, `SELECT `+staffColumns+` FROM staff WHERE id = ?`, id))
}

// StaffByEmail reads the staff member with that (lower-case) address.
func (c Conn) StaffByEmail(ctx context.Context, email string) (StaffRow, error) {
	return scanStaff(c.queryRow(ctx, `SELECT `+staffColumns+` FROM staff WHERE email = ?`, email))
}

// StaffByEnrolLink reads the staff member of a live enrolment link.
func (c Conn) StaffByEnrolLink(ctx context.Context, hash []byte, now int64) (StaffRow, error) {
	return scanStaff(c.queryRow(ctx, `SELECT `+staffColumns+` FROM staff WHERE enrol_hash = ? AND enrol_expires_at > ? AND disabled = 0`, hash, now))
}

// ListStaff returns every staff member, by e-mail.
func (c Conn) ListStaff(ctx context.Context) ([]StaffRow, error) {
	rows, err := c.query(ctx, `SELECT `+staffColumns+` FROM staff ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	defer rows.Close()
	var out []StaffRow
	for rows.Next() {
		s, err := scanStaff(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SetStaffEnrolment stores the display name, the password and the pending
// TOTP secret chosen through a live enrolment link.
func (c Conn) SetStaffEnrolment(ctx context.Context, id string, enrolHash []byte, nameSealed []byte, passwordHash string, totpSealed []byte) error {
	res, err := c.exec(ctx, `UPDATE staff SET name_sealed = ?, password_hash = ?, totp_sealed = ?, totp_enabled = 0 WHERE id = ? AND enrol_hash = ?`,
		nameSealed, passwordHash, totpSealed, id, enrolHash)
	return affectedOne(res, err, "enrolment")
}

// FinishStaffEnrolment turns TOTP on and consumes the enrolment link.
func (c Conn) FinishStaffEnrolment(ctx context.Context, id string, enrolHash []byte, step int64) error {
	res, err := c.exec(ctx, `UPDATE staff SET totp_enabled = 1, totp_last_step = ?, enrol_hash = NULL, enrol_expires_at = 0
		WHERE id = ? AND enrol_hash = ? AND totp_sealed IS NOT NULL AND password_hash <> ''`, step, id, enrolHash)
	return affectedOne(res, err, "enrolment")
}

// UseStaffTOTPStep records an accepted step only if later than the last.
func (c Conn) UseStaffTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	res, err := c.exec(ctx, `UPDATE staff SET totp_last_step = ? WHERE id = ? AND totp_enabled = 1 AND totp_last_step < ?`, step, id, step)
	if err != nil {
		return false, fmt.Errorf("use staff totp step: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SetStaffDisabled disables or re-enables a staff member.
func (c Conn) SetStaffDisabled(ctx context.Context, id string, disabled bool) error {
	res, err := c.exec(ctx, `UPDATE staff SET disabled = ? WHERE id = ?`, disabled, id)
	return affectedOne(res, err, "staff member")
}

// SetStaffRole changes a staff member's role.
func (c Conn) SetStaffRole(ctx context.Context, id, role string) error {
	res, err := c.exec(ctx, `UPDATE staff SET role = ? WHERE id = ?`, role, id)
	return affectedOne(res, err, "staff member")
}

// StaffSessionRow is a staff session as stored.
type StaffSessionRow struct {
	ID           string
	TokenHash    []byte
	StaffID      string
	CSRFToken    string
	MFADone      bool
	CreatedAt    int64
	LastSeenAt   int64
	ExpiresAt    int64
	RecentAuthAt int64
}

// InsertStaffSession stores a new staff session.
func (c Conn) InsertStaffSession(ctx context.Context, s StaffSessionRow) error {
	_, err := c.exec(ctx, `INSERT INTO staff_sessions (id, token_hash, staff_id, csrf_token, mfa_done, created_at, last_seen_at, expires_at, recent_auth_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, s.TokenHash, s.StaffID, s.CSRFToken, s.MFADone, s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.RecentAuthAt)
	if err != nil {
		return fmt.Errorf("insert staff session: %w", err)
	}
	return nil
}

// StaffSession reads the session of a token hash.
func (c Conn) StaffSession(ctx context.Context, hash []byte) (StaffSessionRow, error) {
	var s StaffSessionRow
	err := c.queryRow(ctx, `SELECT id, token_hash, staff_id, csrf_token, mfa_done, created_at, last_seen_at, expires_at, recent_auth_at
		FROM staff_sessions WHERE token_hash = ?`, hash).
		Scan(&s.ID, &s.TokenHash, &s.StaffID, &s.CSRFToken, &s.MFADone, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &s.RecentAuthAt)
	if errors.Is(err, sql.ErrNoRows) {
		return s, errNotFound("staff session")
	}
	if err != nil {
		return s, fmt.Errorf("read staff session: %w", err)
	}
	return s, nil
}

// TouchStaffSession records activity.
func (c Conn) TouchStaffSession(ctx context.Context, id string, now int64) error {
	_, err := c.exec(ctx, `UPDATE staff_sessions SET last_seen_at = ? WHERE id = ?`, now, id)
	if err != nil {
		return fmt.Errorf("touch staff session: %w", err)
	}
	return nil
}

// MarkStaffRecentAuth records a password or code check (step-up).
// The session gets a new token (its hash); it keeps its id, creation and
// expiry, and the token from before stops working.
func (c Conn) MarkStaffRecentAuth(ctx context.Context, id string, tokenHash []byte, now int64) error {
	res, err := c.exec(ctx, `UPDATE staff_sessions SET token_hash = ?, recent_auth_at = ? WHERE id = ?`, tokenHash, now, id)
	return affectedOne(res, err, "staff session")
}

// DeleteStaffSession ends one session.
func (c Conn) DeleteStaffSession(ctx context.Context, id string) error {
	if _, err := c.exec(ctx, `DELETE FROM staff_sessions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete staff session: %w", err)
	}
	return nil
}

// DeleteStaffSessions ends every session of a staff member.
func (c Conn) DeleteStaffSessions(ctx context.Context, staffID string) error {
	if _, err := c.exec(ctx, `DELETE FROM staff_sessions WHERE staff_id = ?`, staffID); err != nil {
		return fmt.Errorf("delete staff sessions: %w", err)
	}
	return nil
}

// ApprovalRow is a four-eyes request.
type ApprovalRow struct {
	ID          string
	Kind        string
	SubjectID   string
	Detail      string
	RequestedBy string
	RequestedAt int64
	ExpiresAt   int64
	DecidedBy   sql.NullString
	DecidedAt   sql.NullInt64
	Status      string
}

// Approval statuses.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalDone     = "done"
	ApprovalRefused  = "refused"
)

const approvalColumns = `id, kind, subject_id, detail, requested_by, requested_at, expires_at, decided_by, decided_at, status`

func scanApproval(row interface{ Scan(...any) error }) (ApprovalRow, error) {
	var a ApprovalRow
	err := row.Scan(&a.ID, &a.Kind, &a.SubjectID, &a.Detail, &a.RequestedBy, &a.RequestedAt, &a.ExpiresAt, &a.DecidedBy, &a.DecidedAt, &a.Status)
	if errors.Is(err, sql.ErrNoRows) {
		return a, errNotFound("request")
	}
	if err != nil {
		return a, fmt.Errorf("read request: %w", err)
	}
	return a, nil
}

// InsertApproval stores a new pending request.
func (c Conn) InsertApproval(ctx context.Context, a ApprovalRow) error {
	_, err := c.exec(ctx, `INSERT INTO approvals (id, kind, subject_id, detail, requested_by, requested_at, expires_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Kind, a.SubjectID, a.Detail, a.RequestedBy, a.RequestedAt, a.ExpiresAt, ApprovalPending)
	if err != nil {
		return fmt.Errorf("insert request: %w", err)
	}
	return nil
}

// Approval reads one request.
func (c Conn) Approval(ctx context.Context, id string) (ApprovalRow, error) {
	return scanApproval(c.queryRow(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = ?`, id))
}

// ListApprovals returns the requests of the given kinds, newest first, at
// most limit.
func (c Conn) ListApprovals(ctx context.Context, kinds []string, limit int) ([]ApprovalRow, error) {
	if len(kinds) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(kinds)+1)
	for _, k := range kinds {
		args = append(args, k)
	}
	args = append(args, limit)
	// Only placeholders are added to the text, one per kind.
	rows, err := c.query(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE kind IN (?`+strings.Repeat(", ?", len(kinds)-1)+`)
		ORDER BY requested_at DESC, id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	defer rows.Close()
	var out []ApprovalRow
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DecideApproval approves or refuses a pending, unexpired request, never by
// the person who asked (checked here too, whatever the caller did).
func (c Conn) DecideApproval(ctx context.Context, id, by, status string, now int64) error {
	res, err := c.exec(ctx, `UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?
		WHERE id = ? AND status = 'pending' AND requested_by <> ? AND expires_at > ?`, status, by, now, id, by, now)
	return affectedOne(res, err, "pending request")
}

// CompleteApproval marks an approved request as carried out, once, by the
// person who asked, before it expires.
func (c Conn) CompleteApproval(ctx context.Context, id, by string, now int64) error {
	res, err := c.exec(ctx, `UPDATE approvals SET status = 'done' WHERE id = ? AND status = 'approved' AND requested_by = ? AND expires_at > ?`, id, by, now)
	return affectedOne(res, err, "approved request")
}

// CountReveals counts a staff member's reveals since a time, holding the
// staff member's row locked until the transaction ends, so concurrent
// reveals by one person are counted one after another (a plain count would
// let a burst all see the same number).
func (c Conn) CountReveals(ctx context.Context, staffID string, since int64) (int, error) {
	if c.dialect == MySQL { // SQLite: the transaction already holds the write lock (BEGIN IMMEDIATE)
		var id string
		if err := c.queryRow(ctx, `SELECT id FROM staff WHERE id = ? FOR UPDATE`, staffID).Scan(&id); err != nil {
			return 0, fmt.Errorf("lock staff member: %w", busy(err))
		}
	}
	var n int
	if err := c.queryRow(ctx, `SELECT COUNT(*) FROM staff_reveals WHERE staff_id = ? AND at > ?`, staffID, since).Scan(&n); err != nil {
		return 0, fmt.Errorf("count reveals: %w", err)
	}
	return n, nil
}

// InsertReveal records one reveal.
func (c Conn) InsertReveal(ctx context.Context, staffID string, at int64) error {
	if _, err := c.exec(ctx, `INSERT INTO staff_reveals (staff_id, at) VALUES (?, ?)`, staffID, at); err != nil {
		return fmt.Errorf("record reveal: %w", err)
	}
	return nil
}

// SetCustomerLocked locks or unlocks a customer's sign-in.
func (c Conn) SetCustomerLocked(ctx context.Context, id string, locked bool) error {
	res, err := c.exec(ctx, `UPDATE customers SET locked = ? WHERE id = ?`, locked, id)
	return affectedOne(res, err, "customer")
}

// CustomerIDsByPhoneIndex returns the customers having a phone number with
// any of the blind indexes (one per index key version), at most limit.
func (c Conn) CustomerIDsByPhoneIndex(ctx context.Context, limit int, indexes ...[]byte) ([]string, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(indexes)+1)
	for _, x := range indexes {
		args = append(args, x)
	}
	args = append(args, limit*len(indexes)) // a customer has a row per key version mid-rotation
	// Only placeholders are added to the text, one per key version. Not
	// DISTINCT: MariaDB would build a temporary table for it; a customer
	// appears twice only mid-rotation, with the number under two keys.
	rows, err := c.query(ctx, `SELECT customer_id FROM customer_phones WHERE number_index IN (?`+strings.Repeat(", ?", len(indexes)-1)+`) LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("search phones: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read phone owner: %w", err)
		}
		if !slices.Contains(out, id) && len(out) < limit {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// nullBytes is NULL for a nil slice: the SQLite driver would store an empty
// blob instead, which is not NULL (and is unique only once).
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
