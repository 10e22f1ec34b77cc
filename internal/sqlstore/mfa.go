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

// ReplaceRecoveryCodes stores a fresh set of code hashes, voiding the old.
func (c Conn) ReplaceRecoveryCodes(ctx context.Context, customerID string, hashes [][]byte) error {
	if _, err := c.exec(ctx, `DELETE FROM recovery_codes WHERE customer_id = ?`, customerID); err != nil {
		return fmt.Errorf("delete recovery codes: %w", err)
	}
	for _, h := range hashes {
		if _, err := c.exec(ctx, `INSERT INTO recovery_codes (code_hash, customer_id) VALUES (?, ?)`, h, customerID); err != nil {
			return fmt.Errorf("store recovery code: %w", err)
		}
	}
	return nil
}

// UseRecoveryCode consumes one unused code of the customer; false if there
// is none with that hash.
func (c Conn) UseRecoveryCode(ctx context.Context, customerID string, hash []byte, now int64) (bool, error) {
	res, err := c.exec(ctx, `UPDATE recovery_codes SET used_at = ? WHERE code_hash = ? AND customer_id = ? AND used_at IS NULL`, now, hash, customerID)
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
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
