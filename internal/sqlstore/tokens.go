package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// EmailTokenRow is a single-use token sent by e-mail.
type EmailTokenRow struct {
	TokenHash  []byte
	CustomerID string
	Purpose    string // "verify_email" or "password_reset"
	EmailIndex []byte // the address it was sent to
	ExpiresAt  int64
}

// InsertEmailToken stores a token's hash.
func (c Conn) InsertEmailToken(ctx context.Context, t EmailTokenRow) error {
	_, err := c.exec(ctx, `INSERT INTO email_tokens (token_hash, customer_id, purpose, email_index, expires_at) VALUES (?, ?, ?, ?, ?)`,
		t.TokenHash, t.CustomerID, t.Purpose, t.EmailIndex, t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("insert e-mail token: %w", err)
	}
	return nil
}

// UseEmailToken consumes an unexpired, unused token of the given purpose and
// returns it. Consuming is one conditional UPDATE, so two concurrent uses
// cannot both succeed.
func (c Conn) UseEmailToken(ctx context.Context, hash []byte, purpose string, now int64) (EmailTokenRow, error) {
	res, err := c.exec(ctx, `UPDATE email_tokens SET used_at = ? WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?`,
		now, hash, purpose, now)
	if err := affectedOne(res, err, "link"); err != nil {
		return EmailTokenRow{}, err
	}
	var t EmailTokenRow
	err = c.queryRow(ctx, `SELECT token_hash, customer_id, purpose, email_index, expires_at FROM email_tokens WHERE token_hash = ?`, hash).
		Scan(&t.TokenHash, &t.CustomerID, &t.Purpose, &t.EmailIndex, &t.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return t, errNotFound("link")
	}
	if err != nil {
		return t, fmt.Errorf("read e-mail token: %w", err)
	}
	return t, nil
}

// DeleteEmailTokens removes a customer's outstanding tokens of a purpose, so
// that a used reset link also voids the others.
func (c Conn) DeleteEmailTokens(ctx context.Context, customerID, purpose string) error {
	_, err := c.exec(ctx, `DELETE FROM email_tokens WHERE customer_id = ? AND purpose = ?`, customerID, purpose)
	if err != nil {
		return fmt.Errorf("delete e-mail tokens: %w", err)
	}
	return nil
}

// ThrottleRow is the failure record of one key (an account, a network).
type ThrottleRow struct {
	Name          string
	Failures      int
	LastFailureAt int64
	BlockedUntil  int64
}

// Throttle reads a key's record; a key never seen has a zero record.
func (c Conn) Throttle(ctx context.Context, name string) (ThrottleRow, error) {
	t := ThrottleRow{Name: name}
	err := c.queryRow(ctx, `SELECT failures, last_failure_at, blocked_until FROM throttles WHERE name = ?`, name).
		Scan(&t.Failures, &t.LastFailureAt, &t.BlockedUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return t, nil
	}
	if err != nil {
		return t, fmt.Errorf("read throttle: %w", err)
	}
	return t, nil
}

// SaveThrottle writes a key's record.
func (c Conn) SaveThrottle(ctx context.Context, t ThrottleRow) error {
	var err error
	if c.dialect == MySQL {
		_, err = c.exec(ctx, `INSERT INTO throttles (name, failures, last_failure_at, blocked_until) VALUES (?, ?, ?, ?)
			ON DUPLICATE KEY UPDATE failures = VALUES(failures), last_failure_at = VALUES(last_failure_at), blocked_until = VALUES(blocked_until)`,
			t.Name, t.Failures, t.LastFailureAt, t.BlockedUntil)
	} else {
		_, err = c.exec(ctx, `INSERT INTO throttles (name, failures, last_failure_at, blocked_until) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET failures = excluded.failures, last_failure_at = excluded.last_failure_at, blocked_until = excluded.blocked_until`,
			t.Name, t.Failures, t.LastFailureAt, t.BlockedUntil)
	}
	if err != nil {
		return fmt.Errorf("save throttle: %w", err)
	}
	return nil
}

// ClearThrottle forgets a key's failures (after a success).
func (c Conn) ClearThrottle(ctx context.Context, name string) error {
	_, err := c.exec(ctx, `DELETE FROM throttles WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("clear throttle: %w", err)
	}
	return nil
}

// OutboxRow is one message waiting to be sent, sealed.
type OutboxRow struct {
	ID            string
	CustomerID    string
	Sealed        []byte
	CreatedAt     int64
	Attempts      int
	NextAttemptAt int64
}

// InsertOutbox queues a message.
func (c Conn) InsertOutbox(ctx context.Context, m OutboxRow) error {
	_, err := c.exec(ctx, `INSERT INTO outbox (id, customer_id, sealed, created_at, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)`,
		m.ID, m.CustomerID, m.Sealed, m.CreatedAt, m.Attempts, m.NextAttemptAt)
	if err != nil {
		return fmt.Errorf("queue mail: %w", err)
	}
	return nil
}

// DueOutbox returns up to limit messages due for sending.
func (c Conn) DueOutbox(ctx context.Context, now int64, limit int) ([]OutboxRow, error) {
	rows, err := c.query(ctx, `SELECT id, customer_id, sealed, created_at, attempts, next_attempt_at FROM outbox WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxRow
	for rows.Next() {
		var m OutboxRow
		if err := rows.Scan(&m.ID, &m.CustomerID, &m.Sealed, &m.CreatedAt, &m.Attempts, &m.NextAttemptAt); err != nil {
			return nil, fmt.Errorf("read outbox row: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// DeleteOutbox removes a sent message.
func (c Conn) DeleteOutbox(ctx context.Context, id string) error {
	_, err := c.exec(ctx, `DELETE FROM outbox WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete outbox row: %w", err)
	}
	return nil
}

// RetryOutbox records a failed attempt and when to try again.
func (c Conn) RetryOutbox(ctx context.Context, id string, next int64) error {
	_, err := c.exec(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?`, next, id)
	if err != nil {
		return fmt.Errorf("retry outbox row: %w", err)
	}
	return nil
}
