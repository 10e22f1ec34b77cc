package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/resguardo/resguardo"
)

// PasskeyRow is one registered passkey of a customer. RecordSealed and
// NameSealed are sealed under the customer's data key (public key and
// credential record; the name the customer gave it).
type PasskeyRow struct {
	ID           string
	CustomerID   string
	CredentialID []byte
	RecordSealed []byte
	NameSealed   []byte
	SignCount    uint32
	CreatedAt    int64
	LastUsedAt   int64
}

// PasskeyHandle reads the customer's WebAuthn user handle; not found when
// the customer has none yet.
func (c Conn) PasskeyHandle(ctx context.Context, customerID string) ([]byte, error) {
	var h []byte
	err := c.queryRow(ctx, `SELECT handle FROM passkey_handles WHERE customer_id = ?`, customerID).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound("passkey user handle")
	}
	if err != nil {
		return nil, fmt.Errorf("read passkey handle: %w", err)
	}
	return h, nil
}

// PutPasskeyHandle stores the customer's user handle, unless one exists
// already (then nothing changes: the caller reads it back).
func (c Conn) PutPasskeyHandle(ctx context.Context, customerID string, handle []byte) error {
	q := `INSERT INTO passkey_handles (handle, customer_id) VALUES (?, ?) ON CONFLICT (customer_id) DO NOTHING`
	if c.dialect == MySQL {
		q = `INSERT IGNORE INTO passkey_handles (handle, customer_id) VALUES (?, ?)`
	}
	if _, err := c.exec(ctx, q, handle, customerID); err != nil {
		return fmt.Errorf("store passkey handle: %w", err)
	}
	return nil
}

// CustomerByPasskeyHandle finds whose user handle it is; not found for a
// handle nobody has.
func (c Conn) CustomerByPasskeyHandle(ctx context.Context, handle []byte) (string, error) {
	var id string
	err := c.queryRow(ctx, `SELECT customer_id FROM passkey_handles WHERE handle = ?`, handle).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNotFound("passkey")
	}
	if err != nil {
		return "", fmt.Errorf("read passkey handle: %w", err)
	}
	return id, nil
}

// Passkeys lists a customer's passkeys, oldest first.
func (c Conn) Passkeys(ctx context.Context, customerID string) ([]PasskeyRow, error) {
	rows, err := c.query(ctx, `SELECT id, customer_id, credential_id, record_sealed, name_sealed, sign_count, created_at, last_used_at
		FROM customer_passkeys WHERE customer_id = ? ORDER BY created_at, id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	defer rows.Close()
	var out []PasskeyRow
	for rows.Next() {
		var p PasskeyRow
		var count int64
		if err := rows.Scan(&p.ID, &p.CustomerID, &p.CredentialID, &p.RecordSealed, &p.NameSealed, &count, &p.CreatedAt, &p.LastUsedAt); err != nil {
			return nil, fmt.Errorf("list passkeys: %w", err)
		}
		p.SignCount = uint32(count) // #nosec G115 -- stored from a uint32
		out = append(out, p)
	}
	return out, rows.Err()
}

// CountPasskeys says how many passkeys the customer has.
func (c Conn) CountPasskeys(ctx context.Context, customerID string) (int, error) {
	var n int
	if err := c.queryRow(ctx, `SELECT COUNT(*) FROM customer_passkeys WHERE customer_id = ?`, customerID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count passkeys: %w", err)
	}
	return n, nil
}

// InsertPasskey stores a new passkey; conflict if its credential id is
// registered already (to anyone).
func (c Conn) InsertPasskey(ctx context.Context, p PasskeyRow) error {
	_, err := c.exec(ctx, `INSERT INTO customer_passkeys (id, customer_id, credential_id, record_sealed, name_sealed, sign_count, created_at, last_used_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0)`, p.ID, p.CustomerID, p.CredentialID, p.RecordSealed, p.NameSealed, int64(p.SignCount), p.CreatedAt)
	if isUniqueViolation(err) {
		return ErrPasskeyExists
	}
	if err != nil {
		return fmt.Errorf("store passkey: %w", err)
	}
	return nil
}

// ErrPasskeyExists is returned when a credential is registered twice.
var ErrPasskeyExists = resguardo.Errorf(resguardo.EConflict, "This passkey is registered already.")

// RenamePasskey replaces the sealed name of one of the customer's passkeys.
func (c Conn) RenamePasskey(ctx context.Context, customerID, id string, nameSealed []byte) error {
	res, err := c.exec(ctx, `UPDATE customer_passkeys SET name_sealed = ? WHERE id = ? AND customer_id = ?`, nameSealed, id, customerID)
	return affectedOne(res, err, "passkey")
}

// DeletePasskey removes one of the customer's passkeys.
func (c Conn) DeletePasskey(ctx context.Context, customerID, id string) error {
	res, err := c.exec(ctx, `DELETE FROM customer_passkeys WHERE id = ? AND customer_id = ?`, id, customerID)
	return affectedOne(res, err, "passkey")
}

// UsePasskey records a verified use: the signature counter moves from
// the value the check was made against (from) to its new value (to), once.
// False means another use got there first (the same assertion, or a
// clone, raced this one).
func (c Conn) UsePasskey(ctx context.Context, customerID, id string, from, to uint32, now int64) (bool, error) {
	res, err := c.exec(ctx, `UPDATE customer_passkeys SET sign_count = ?, last_used_at = ? WHERE id = ? AND customer_id = ? AND sign_count = ?`,
		int64(to), now, id, customerID, int64(from))
	if err != nil {
		return false, fmt.Errorf("use passkey: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// PasskeyChallengeRow is a ceremony in progress.
type PasskeyChallengeRow struct {
	TokenHash   []byte
	Purpose     string
	Binding     string
	CustomerID  string // "" when not known yet (a sign-in with a passkey alone)
	SessionData []byte
	ExpiresAt   int64
}

// InsertPasskeyChallenge stores a ceremony's challenge, dropping expired
// ones on the way so the table does not grow.
func (c Conn) InsertPasskeyChallenge(ctx context.Context, ch PasskeyChallengeRow, now int64) error {
	if _, err := c.exec(ctx, `DELETE FROM passkey_challenges WHERE expires_at <= ?`, now); err != nil {
		return fmt.Errorf("drop expired passkey challenges: %w", err)
	}
	var customer any
	if ch.CustomerID != "" {
		customer = ch.CustomerID
	}
	_, err := c.exec(ctx, `INSERT INTO passkey_challenges (token_hash, purpose, binding, customer_id, session_data, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		ch.TokenHash, ch.Purpose, ch.Binding, customer, ch.SessionData, ch.ExpiresAt)
	if err != nil {
		return fmt.Errorf("store passkey challenge: %w", err)
	}
	return nil
}

// TakePasskeyChallenge consumes a ceremony's challenge: it must exist for
// purpose and binding, be unexpired and unused, and is marked used by the
// same call, so a second take of it fails (single use) even when two run
// at once. Not found otherwise.
func (c Conn) TakePasskeyChallenge(ctx context.Context, tokenHash []byte, purpose, binding string, now int64) (PasskeyChallengeRow, error) {
	res, err := c.exec(ctx, `UPDATE passkey_challenges SET used_at = ? WHERE token_hash = ? AND purpose = ? AND binding = ? AND used_at IS NULL AND expires_at > ?`,
		now, tokenHash, purpose, binding, now)
	if err := affectedOne(res, err, "passkey challenge"); err != nil {
		return PasskeyChallengeRow{}, err
	}
	var ch PasskeyChallengeRow
	var customer sql.NullString
	err = c.queryRow(ctx, `SELECT token_hash, purpose, binding, customer_id, session_data, expires_at FROM passkey_challenges WHERE token_hash = ?`, tokenHash).
		Scan(&ch.TokenHash, &ch.Purpose, &ch.Binding, &customer, &ch.SessionData, &ch.ExpiresAt)
	if err != nil {
		return ch, fmt.Errorf("read passkey challenge: %w", err)
	}
	ch.CustomerID = customer.String
	return ch, nil
}

// StaffPasskeyRow is one passkey of a staff member; RecordSealed is sealed
// under the staff member's data key.
type StaffPasskeyRow struct {
	ID           string
	StaffID      string
	Handle       []byte
	CredentialID []byte
	RecordSealed []byte
	NameSealed   []byte // nil: not named
	SignCount    uint32
	CreatedAt    int64
	LastUsedAt   int64
}

// StaffPasskeys lists a staff member's passkeys, oldest first.
func (c Conn) StaffPasskeys(ctx context.Context, staffID string) ([]StaffPasskeyRow, error) {
	rows, err := c.query(ctx, `SELECT id, staff_id, handle, credential_id, record_sealed, name_sealed, sign_count, created_at, last_used_at
		FROM staff_passkeys WHERE staff_id = ? ORDER BY created_at, id`, staffID)
	if err != nil {
		return nil, fmt.Errorf("list staff passkeys: %w", err)
	}
	defer rows.Close()
	var out []StaffPasskeyRow
	for rows.Next() {
		var p StaffPasskeyRow
		var count int64
		if err := rows.Scan(&p.ID, &p.StaffID, &p.Handle, &p.CredentialID, &p.RecordSealed, &p.NameSealed, &count, &p.CreatedAt, &p.LastUsedAt); err != nil {
			return nil, fmt.Errorf("list staff passkeys: %w", err)
		}
		p.SignCount = uint32(count) // #nosec G115 -- stored from a uint32
		out = append(out, p)
	}
	return out, rows.Err()
}

// InsertStaffPasskey stores a staff member's new passkey.
func (c Conn) InsertStaffPasskey(ctx context.Context, p StaffPasskeyRow) error {
	_, err := c.exec(ctx, `INSERT INTO staff_passkeys (id, staff_id, handle, credential_id, record_sealed, sign_count, created_at, last_used_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0)`, p.ID, p.StaffID, p.Handle, p.CredentialID, p.RecordSealed, int64(p.SignCount), p.CreatedAt)
	if isUniqueViolation(err) {
		return ErrPasskeyExists
	}
	if err != nil {
		return fmt.Errorf("store staff passkey: %w", err)
	}
	return nil
}

// UseStaffPasskey is UsePasskey for a staff member's passkey.
func (c Conn) UseStaffPasskey(ctx context.Context, staffID, id string, from, to uint32, now int64) (bool, error) {
	res, err := c.exec(ctx, `UPDATE staff_passkeys SET sign_count = ?, last_used_at = ? WHERE id = ? AND staff_id = ? AND sign_count = ?`,
		int64(to), now, id, staffID, int64(from))
	if err != nil {
		return false, fmt.Errorf("use staff passkey: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RenameStaffPasskey stores a new sealed name for one of a staff member's
// passkeys; ENotFound when the member has no such passkey.
func (c Conn) RenameStaffPasskey(ctx context.Context, staffID, id string, nameSealed []byte) error {
	res, err := c.exec(ctx, `UPDATE staff_passkeys SET name_sealed = ? WHERE id = ? AND staff_id = ?`, nameSealed, id, staffID)
	return affectedOne(res, err, "passkey")
}

// DeleteStaffPasskey removes one of a staff member's passkeys, only while
// the member keeps another (the check and the removal are one statement,
// so two removals at once cannot leave none); false when it was the last.
func (c Conn) DeleteStaffPasskey(ctx context.Context, staffID, id string) (bool, error) {
	res, err := c.exec(ctx, `DELETE FROM staff_passkeys WHERE id = ? AND staff_id = ?
		AND EXISTS (SELECT 1 FROM (SELECT id FROM staff_passkeys WHERE staff_id = ? AND id <> ?) AS others)`, id, staffID, staffID, id)
	if err != nil {
		return false, fmt.Errorf("delete staff passkey: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// FinishStaffPasskeyEnrolment consumes the enrolment link of a staff
// member who chose a passkey: the account is enrolled (totp_enabled is the
// "enrolled" mark the rest of the staff code reads; the TOTP secret made
// with the password stays unconfirmed, and a member with a passkey is
// never asked for, nor accepted with, a TOTP code).
func (c Conn) FinishStaffPasskeyEnrolment(ctx context.Context, id string, enrolHash []byte) error {
	res, err := c.exec(ctx, `UPDATE staff SET totp_enabled = 1, enrol_hash = NULL, enrol_expires_at = 0
		WHERE id = ? AND enrol_hash = ? AND password_hash <> ''`, id, enrolHash)
	return affectedOne(res, err, "enrolment")
}

// DeleteCustomerPasskeys removes every passkey of a customer (a second
// factor reset) and says how many there were.
func (c Conn) DeleteCustomerPasskeys(ctx context.Context, customerID string) (int64, error) {
	res, err := c.exec(ctx, `DELETE FROM customer_passkeys WHERE customer_id = ?`, customerID)
	if err != nil {
		return 0, fmt.Errorf("delete passkeys: %w", err)
	}
	return res.RowsAffected()
}
