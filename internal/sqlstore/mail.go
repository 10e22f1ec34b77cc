package sqlstore

import (
	"context"
	"fmt"
)

// The global mail budget and the claiming of outbox messages. Every server
// of a deployment sends from the same outbox; the budget row is locked
// while a sender takes its batch, so the budget is one for all of them and
// two senders never take the same message.

// LockMailBudget reads the budget's current minute and what was taken in
// it, and holds the row until the transaction ends.
func (c Conn) LockMailBudget(ctx context.Context) (windowStart int64, sent int, err error) {
	q := `SELECT window_start, sent FROM mail_budget WHERE id = 1`
	if c.dialect == MySQL {
		q = `SELECT window_start, sent FROM mail_budget WHERE id = 1 FOR UPDATE`
	} // SQLite: the transaction already holds the database's write lock (BEGIN IMMEDIATE).
	if err := c.queryRow(ctx, q).Scan(&windowStart, &sent); err != nil {
		return 0, 0, fmt.Errorf("lock mail budget: %w", busy(err))
	}
	return windowStart, sent, nil
}

// SaveMailBudget writes the budget (after LockMailBudget).
func (c Conn) SaveMailBudget(ctx context.Context, windowStart int64, sent int) error {
	if _, err := c.exec(ctx, `UPDATE mail_budget SET window_start = ?, sent = ? WHERE id = 1`, windowStart, sent); err != nil {
		return fmt.Errorf("save mail budget: %w", err)
	}
	return nil
}

// ClaimableOutbox returns up to limit messages due at now, oldest due
// first. On MySQL it is a locking read, so that after LockMailBudget it
// sees the leases other senders committed whatever the snapshot.
func (c Conn) ClaimableOutbox(ctx context.Context, now int64, limit int) ([]OutboxRow, error) {
	q := `SELECT id, customer_id, sealed, created_at, attempts, next_attempt_at FROM outbox WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`
	if c.dialect == MySQL {
		q = `SELECT id, customer_id, sealed, created_at, attempts, next_attempt_at FROM outbox WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE`
	}
	rows, err := c.query(ctx, q, now, limit)
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

// LeaseOutbox hides a claimed message from other senders until until: if
// its sender dies before it is sent (and deleted) or rescheduled, the
// message comes due again then.
func (c Conn) LeaseOutbox(ctx context.Context, id string, until int64) error {
	if _, err := c.exec(ctx, `UPDATE outbox SET next_attempt_at = ? WHERE id = ?`, until, id); err != nil {
		return fmt.Errorf("lease outbox row: %w", err)
	}
	return nil
}

// CountOutbox counts the messages waiting in the outbox, up to upTo: the
// caller only needs to know whether a ceiling is reached, and counting
// stops there.
func (c Conn) CountOutbox(ctx context.Context, upTo int) (int, error) {
	var n int
	if err := c.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM outbox LIMIT ?) AS waiting`, upTo).Scan(&n); err != nil {
		return 0, fmt.Errorf("count outbox: %w", err)
	}
	return n, nil
}
