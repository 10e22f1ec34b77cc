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

// ThrottleRow is the attempt record of one key (an account on a network,
// a network, an address that receives mail).
type ThrottleRow struct {
	Name          string
	Failures      int
	LastFailureAt int64
	BlockedUntil  int64
}

// EnsureThrottle creates a zero record for a key if it has none. Run it
// outside the transaction that locks the key: inside, InnoDB's shared lock
// from the duplicate check would deadlock against the exclusive one.
func (c Conn) EnsureThrottle(ctx context.Context, name string) error {
	var err error
	if c.dialect == MySQL {
		_, err = c.exec(ctx, `INSERT IGNORE INTO throttles (name, failures, last_failure_at, blocked_until) VALUES (?, 0, 0, 0)`, name)
	} else {
		_, err = c.exec(ctx, `INSERT INTO throttles (name, failures, last_failure_at, blocked_until) VALUES (?, 0, 0, 0) ON CONFLICT (name) DO NOTHING`, name)
	}
	if err != nil {
		return fmt.Errorf("create throttle: %w", err)
	}
	return nil
}

// ClearThrottle forgets a key's attempts (after a success). The record is
// zeroed, not deleted: a concurrent attempt may be between creating it and
// locking it, and locking a missing row in InnoDB takes gap locks that
// deadlock against that creation. Housekeeping removes quiet records.
func (c Conn) ClearThrottle(ctx context.Context, name string) error {
	_, err := c.exec(ctx, `UPDATE throttles SET failures = 0, last_failure_at = 0, blocked_until = 0 WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("clear throttle: %w", err)
	}
	return nil
}

// ClearThrottlePrefix forgets every key that starts with prefix: all the
// per-network records of one account, after a password reset. The prefix
// is made of letters, digits and separators only, never of input.
func (c Conn) ClearThrottlePrefix(ctx context.Context, prefix string) error {
	_, err := c.exec(ctx, `DELETE FROM throttles WHERE name LIKE ?`, prefix+"%")
	if err != nil {
		return fmt.Errorf("clear throttles: %w", err)
	}
	return nil
}

// The batched forms below serve claims of up to MaxThrottleKeys keys (a
// sign-in from an unknown device counts against three) in one statement
// each, so the work around a password hash stays a few round trips. Their
// SQL is one constant text per number of keys.

// MaxThrottleKeys is the most keys one attempt may count against.
const MaxThrottleKeys = 3

var (
	ensureThrottlesMySQL = [MaxThrottleKeys + 1]string{1: `INSERT IGNORE INTO throttles (name, failures, last_failure_at, blocked_until) VALUES (?, 0, 0, 0)`,
		2: `INSERT IGNORE INTO throttles (name, failures, last_failure_at, blocked_until) VALUES (?, 0, 0, 0), (?, 0, 0, 0)`,
		3: `INSERT IGNORE INTO throttles (name, failures, last_failure_at, blocked_until) VALUES (?, 0, 0, 0), (?, 0, 0, 0), (?, 0, 0, 0)`}
	ensureThrottlesSQLite = [MaxThrottleKeys + 1]string{1: `INSERT INTO throttles (name, failures, last_failure_at, blocked_until) VALUES (?, 0, 0, 0) ON CONFLICT (name) DO NOTHING`,
		2: `INSERT INTO throttles (name, failures, last_failure_at, blocked_until) VALUES (?, 0, 0, 0), (?, 0, 0, 0) ON CONFLICT (name) DO NOTHING`,
		3: `INSERT INTO throttles (name, failures, last_failure_at, blocked_until) VALUES (?, 0, 0, 0), (?, 0, 0, 0), (?, 0, 0, 0) ON CONFLICT (name) DO NOTHING`}
	lockThrottlesMySQL = [MaxThrottleKeys + 1]string{1: `SELECT name, failures, last_failure_at, blocked_until FROM throttles WHERE name = ? FOR UPDATE`,
		2: `SELECT name, failures, last_failure_at, blocked_until FROM throttles WHERE name IN (?, ?) ORDER BY name FOR UPDATE`,
		3: `SELECT name, failures, last_failure_at, blocked_until FROM throttles WHERE name IN (?, ?, ?) ORDER BY name FOR UPDATE`}
	// SQLite: the transaction already holds the database's write lock (BEGIN IMMEDIATE).
	lockThrottlesSQLite = [MaxThrottleKeys + 1]string{1: `SELECT name, failures, last_failure_at, blocked_until FROM throttles WHERE name = ?`,
		2: `SELECT name, failures, last_failure_at, blocked_until FROM throttles WHERE name IN (?, ?) ORDER BY name`,
		3: `SELECT name, failures, last_failure_at, blocked_until FROM throttles WHERE name IN (?, ?, ?) ORDER BY name`}
	saveThrottles = [MaxThrottleKeys + 1]string{1: `UPDATE throttles SET failures = ?, last_failure_at = ?, blocked_until = ? WHERE name = ?`,
		2: `UPDATE throttles SET failures = CASE name WHEN ? THEN ? WHEN ? THEN ? END, ` +
			`last_failure_at = CASE name WHEN ? THEN ? WHEN ? THEN ? END, ` +
			`blocked_until = CASE name WHEN ? THEN ? WHEN ? THEN ? END WHERE name IN (?, ?)`,
		3: `UPDATE throttles SET failures = CASE name WHEN ? THEN ? WHEN ? THEN ? WHEN ? THEN ? END, ` +
			`last_failure_at = CASE name WHEN ? THEN ? WHEN ? THEN ? WHEN ? THEN ? END, ` +
			`blocked_until = CASE name WHEN ? THEN ? WHEN ? THEN ? WHEN ? THEN ? END WHERE name IN (?, ?, ?)`}
)

func throttleArity(n int) error {
	if n < 1 || n > MaxThrottleKeys {
		return fmt.Errorf("throttles: %d keys, want 1 to %d", n, MaxThrottleKeys)
	}
	return nil
}

func namesAsArgs(names []string) []any {
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	return args
}

// EnsureThrottles creates a zero record for each key that has none, in one
// statement; names must be sorted, so that concurrent callers meet the rows
// in one order. Run it outside the transaction that locks the keys (see
// EnsureThrottle).
func (c Conn) EnsureThrottles(ctx context.Context, names []string) error {
	if err := throttleArity(len(names)); err != nil {
		return err
	}
	q := ensureThrottlesSQLite[len(names)]
	if c.dialect == MySQL {
		q = ensureThrottlesMySQL[len(names)]
	}
	if _, err := c.exec(ctx, q, namesAsArgs(names)...); err != nil {
		return fmt.Errorf("create throttles: %w", err)
	}
	return nil
}

// LockThrottles reads the records of sorted keys inside a transaction,
// locked for update in name order (one statement), and returns those that
// exist, in name order: fewer than names when a record was removed since
// EnsureThrottles.
func (c Conn) LockThrottles(ctx context.Context, names []string) ([]ThrottleRow, error) {
	if err := throttleArity(len(names)); err != nil {
		return nil, err
	}
	q := lockThrottlesSQLite[len(names)]
	if c.dialect == MySQL {
		q = lockThrottlesMySQL[len(names)]
	}
	rows, err := c.query(ctx, q, namesAsArgs(names)...)
	if err != nil {
		return nil, fmt.Errorf("read throttles: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := make([]ThrottleRow, 0, len(names))
	for rows.Next() {
		var t ThrottleRow
		if err := rows.Scan(&t.Name, &t.Failures, &t.LastFailureAt, &t.BlockedUntil); err != nil {
			return nil, fmt.Errorf("read throttles: %w", busy(err))
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read throttles: %w", busy(err))
	}
	return out, nil
}

// SaveThrottles writes records read by LockThrottles, in one statement.
func (c Conn) SaveThrottles(ctx context.Context, ts []ThrottleRow) error {
	if err := throttleArity(len(ts)); err != nil {
		return err
	}
	n := len(ts)
	args := make([]any, 0, 7*n)
	if n == 1 {
		args = append(args, ts[0].Failures, ts[0].LastFailureAt, ts[0].BlockedUntil, ts[0].Name)
	} else {
		for _, t := range ts {
			args = append(args, t.Name, t.Failures)
		}
		for _, t := range ts {
			args = append(args, t.Name, t.LastFailureAt)
		}
		for _, t := range ts {
			args = append(args, t.Name, t.BlockedUntil)
		}
		for _, t := range ts {
			args = append(args, t.Name)
		}
	}
	if _, err := c.exec(ctx, saveThrottles[n], args...); err != nil {
		return fmt.Errorf("save throttles: %w", err)
	}
	return nil
}

// SettleSignIn forgets the attempts of up to two keys (clear; "" for none)
// and takes back one attempt of a third (uncount; "" for none), in one
// statement: what a right password does to its guessing limits. The rows
// are reached through the primary key in name order, the order the claim
// locks them in.
func (c Conn) SettleSignIn(ctx context.Context, clear [2]string, uncount string) error {
	_, err := c.exec(ctx, `UPDATE throttles SET `+
		`failures = CASE WHEN name = ? THEN failures - 1 ELSE 0 END, `+
		`last_failure_at = CASE WHEN name = ? THEN last_failure_at ELSE 0 END, `+
		`blocked_until = CASE WHEN name = ? THEN blocked_until ELSE 0 END `+
		`WHERE name IN (?, ?) OR (name = ? AND failures > 0)`,
		uncount, uncount, uncount, clear[0], clear[1], uncount)
	if err != nil {
		return fmt.Errorf("settle throttles: %w", err)
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

// EmailToken reads a live (unused, unexpired) token without consuming it.
func (c Conn) EmailToken(ctx context.Context, hash []byte, purpose string, now int64) (EmailTokenRow, error) {
	var t EmailTokenRow
	err := c.queryRow(ctx, `SELECT token_hash, customer_id, purpose, email_index, expires_at FROM email_tokens
		WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?`, hash, purpose, now).
		Scan(&t.TokenHash, &t.CustomerID, &t.Purpose, &t.EmailIndex, &t.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return t, errNotFound("link")
	}
	if err != nil {
		return t, fmt.Errorf("read e-mail token: %w", err)
	}
	return t, nil
}

// DeleteStale removes what has no use left: throttle records quiet and
// unblocked since before cutoff, expired app tokens, used or expired e-mail
// tokens, web sessions past their absolute limit and expired device records. Nothing personal is
// kept longer than it serves.
//
// Throttle records whose names start with longPrefix (a literal prefix,
// never input) are kept until longCutoff instead: counts meant to add up
// over a day.
func (c Conn) DeleteStale(ctx context.Context, now, cutoff int64, longPrefix string, longCutoff int64) error {
	for _, st := range []struct {
		q    string
		args []any
	}{
		{`DELETE FROM throttles WHERE blocked_until < ? AND last_failure_at < ? AND (name NOT LIKE ? OR last_failure_at < ?)`,
			[]any{now, cutoff, longPrefix + "%", longCutoff}},
		{`DELETE FROM app_tokens WHERE expires_at < ?`, []any{now}},
		{`DELETE FROM email_tokens WHERE used_at IS NOT NULL OR expires_at < ?`, []any{now}},
		{`DELETE FROM web_sessions WHERE expires_at < ?`, []any{now}},
		{`DELETE FROM mfa_challenges WHERE used_at IS NOT NULL OR expires_at < ?`, []any{now}},
		{`DELETE FROM known_devices WHERE expires_at < ?`, []any{now}},
	} {
		if _, err := c.exec(ctx, st.q, st.args...); err != nil {
			return fmt.Errorf("housekeeping: %w", err)
		}
	}
	return nil
}
