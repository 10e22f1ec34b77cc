package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// TOTPRow is a customer's TOTP secret (sealed) and its state.
type TOTPRow struct {
	CustomerID   string
	SecretSealed []byte
	Enabled      bool
	LastStep     int64
	CreatedAt    int64
}

// TOTP reads a customer's TOTP row; not found when there is none.
func (c Conn) TOTP(ctx context.Context, customerID string) (TOTPRow, error) {
	var t TOTPRow
	err := c.queryRow(ctx, `SELECT customer_id, secret_sealed, enabled, last_step, created_at FROM customer_totp WHERE customer_id = ?`, customerID).
		Scan(&t.CustomerID, &t.SecretSealed, &t.Enabled, &t.LastStep, &t.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return t, errNotFound("second factor")
	}
	if err != nil {
		return t, fmt.Errorf("read totp: %w", err)
	}
	return t, nil
}

// PutPendingTOTP stores a new, not yet confirmed secret, replacing any
// earlier pending one (never an enabled one).
func (c Conn) PutPendingTOTP(ctx context.Context, t TOTPRow) error {
	if _, err := c.exec(ctx, `DELETE FROM customer_totp WHERE customer_id = ? AND enabled = 0`, t.CustomerID); err != nil {
		return fmt.Errorf("replace pending totp: %w", err)
	}
	_, err := c.exec(ctx, `INSERT INTO customer_totp (customer_id, secret_sealed, enabled, last_step, created_at) VALUES (?, ?, 0, 0, ?)`,
		t.CustomerID, t.SecretSealed, t.CreatedAt)
	if isUniqueViolation(err) {
		return ErrTOTPEnabled
	}
	if err != nil {
		return fmt.Errorf("store totp: %w", err)
	}
	return nil
}

// EnableTOTP turns a pending secret on, recording the step its first code
// used.
func (c Conn) EnableTOTP(ctx context.Context, customerID string, sealed []byte, step int64) error {
	// Only the pending secret the code was checked against: a set-up
	// started meanwhile replaced it, and must be confirmed on its own.
	res, err := c.exec(ctx, `UPDATE customer_totp SET enabled = 1, last_step = ? WHERE customer_id = ? AND enabled = 0 AND secret_sealed = ?`, step, customerID, sealed)
	return affectedOne(res, err, "pending second factor")
}

// UseTOTPStep records an accepted step, only if it is later than the last
// one: false means the code was already used (a replay, or a race).
func (c Conn) UseTOTPStep(ctx context.Context, customerID string, step int64) (bool, error) {
	res, err := c.exec(ctx, `UPDATE customer_totp SET last_step = ? WHERE customer_id = ? AND enabled = 1 AND last_step < ?`, step, customerID, step)
	if err != nil {
		return false, fmt.Errorf("use totp step: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// DeleteTOTP removes the second factor and its recovery codes.
func (c Conn) DeleteTOTP(ctx context.Context, customerID string) error {
	if _, err := c.exec(ctx, `DELETE FROM recovery_codes WHERE customer_id = ?`, customerID); err != nil {
		return fmt.Errorf("delete recovery codes: %w", err)
	}
	res, err := c.exec(ctx, `DELETE FROM customer_totp WHERE customer_id = ?`, customerID)
	return affectedOne(res, err, "second factor")
}

// ReplaceRecoveryCodes stores a fresh set of codes, each as a MAC under the
// pepper key keyID, voiding the old.
func (c Conn) ReplaceRecoveryCodes(ctx context.Context, customerID string, keyID uint32, macs [][]byte) error {
	if _, err := c.exec(ctx, `DELETE FROM recovery_codes WHERE customer_id = ?`, customerID); err != nil {
		return fmt.Errorf("delete recovery codes: %w", err)
	}
	for _, h := range macs {
		if _, err := c.exec(ctx, `INSERT INTO recovery_codes (code_hash, customer_id, pepper_key_id) VALUES (?, ?, ?)`, h, customerID, int64(keyID)); err != nil {
			return fmt.Errorf("store recovery code: %w", err)
		}
	}
	return nil
}

// UseRecoveryCode consumes one unused code of the customer stored as mac
// under pepper key keyID; false if there is none. One conditional UPDATE,
// so two concurrent uses of a code cannot both succeed.
func (c Conn) UseRecoveryCode(ctx context.Context, customerID string, keyID uint32, mac []byte, now int64) (bool, error) {
	res, err := c.exec(ctx, `UPDATE recovery_codes SET used_at = ? WHERE code_hash = ? AND customer_id = ? AND pepper_key_id = ? AND used_at IS NULL`,
		now, mac, customerID, int64(keyID))
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// UseLegacyRecoveryCode is UseRecoveryCode for a code still stored in the
// old unkeyed form (its bare digest), not yet converted.
func (c Conn) UseLegacyRecoveryCode(ctx context.Context, customerID string, digest []byte, now int64) (bool, error) {
	res, err := c.exec(ctx, `UPDATE recovery_codes SET used_at = ? WHERE code_hash = ? AND customer_id = ? AND pepper_key_id IS NULL AND used_at IS NULL`,
		now, digest, customerID)
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// LegacyRecoveryCode is a code stored in the old unkeyed form.
type LegacyRecoveryCode struct {
	CustomerID string
	Digest     []byte
}

// LegacyRecoveryCodes returns up to limit codes still in the old unkeyed
// form, used or not.
func (c Conn) LegacyRecoveryCodes(ctx context.Context, limit int) ([]LegacyRecoveryCode, error) {
	rows, err := c.query(ctx, `SELECT customer_id, code_hash FROM recovery_codes WHERE pepper_key_id IS NULL ORDER BY code_hash LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read recovery codes: %w", err)
	}
	defer rows.Close()
	var out []LegacyRecoveryCode
	for rows.Next() {
		var r LegacyRecoveryCode
		if err := rows.Scan(&r.CustomerID, &r.Digest); err != nil {
			return nil, fmt.Errorf("read recovery code: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// KeyRecoveryCode replaces a code's old unkeyed digest by its MAC under
// pepper key keyID, only if it is still in the old form (another server may
// have converted it meanwhile).
func (c Conn) KeyRecoveryCode(ctx context.Context, customerID string, digest []byte, keyID uint32, mac []byte) error {
	_, err := c.exec(ctx, `UPDATE recovery_codes SET code_hash = ?, pepper_key_id = ? WHERE code_hash = ? AND customer_id = ? AND pepper_key_id IS NULL`,
		mac, int64(keyID), digest, customerID)
	if err != nil {
		return fmt.Errorf("key recovery code: %w", err)
	}
	return nil
}

// RecoveryCodeKeyUses counts the unused recovery codes stored under each
// pepper key: a key they use cannot be retired.
func (c Conn) RecoveryCodeKeyUses(ctx context.Context) (map[uint32]int, error) {
	rows, err := c.query(ctx, `SELECT pepper_key_id, COUNT(*) FROM recovery_codes WHERE used_at IS NULL AND pepper_key_id IS NOT NULL GROUP BY pepper_key_id`)
	if err != nil {
		return nil, fmt.Errorf("count recovery codes: %w", err)
	}
	defer rows.Close()
	out := map[uint32]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count recovery codes: %w", err)
		}
		out[uint32(id)] += n // #nosec G115 -- written from a uint32
	}
	return out, rows.Err()
}

// InsertMFAChallenge stores a sign-in challenge's hash.
func (c Conn) InsertMFAChallenge(ctx context.Context, hash []byte, customerID string, expiresAt int64) error {
	_, err := c.exec(ctx, `INSERT INTO mfa_challenges (token_hash, customer_id, expires_at) VALUES (?, ?, ?)`, hash, customerID, expiresAt)
	if err != nil {
		return fmt.Errorf("store mfa challenge: %w", err)
	}
	return nil
}

// MFAChallenge returns the customer of a live (unused, unexpired) challenge.
func (c Conn) MFAChallenge(ctx context.Context, hash []byte, now int64) (string, error) {
	var id string
	err := c.queryRow(ctx, `SELECT customer_id FROM mfa_challenges WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`, hash, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNotFound("sign-in challenge")
	}
	if err != nil {
		return "", fmt.Errorf("read mfa challenge: %w", err)
	}
	return id, nil
}

// UseMFAChallenge consumes a challenge, once.
func (c Conn) UseMFAChallenge(ctx context.Context, hash []byte, now int64) error {
	res, err := c.exec(ctx, `UPDATE mfa_challenges SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`, now, hash, now)
	return affectedOne(res, err, "sign-in challenge")
}
