package sqlstore

import (
	"context"
	"fmt"
)

// StaffOutboxRow is a message to a staff member waiting to be sent, sealed
// under that staff member's data key (it holds their enrolment link).
type StaffOutboxRow struct {
	ID            string
	StaffID       string
	Sealed        []byte
	CreatedAt     int64
	Attempts      int
	NextAttemptAt int64
}

// InsertStaffOutbox queues a message to a staff member.
func (c Conn) InsertStaffOutbox(ctx context.Context, m StaffOutboxRow) error {
	_, err := c.exec(ctx, `INSERT INTO staff_outbox (id, staff_id, sealed, created_at, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)`,
		m.ID, m.StaffID, m.Sealed, m.CreatedAt, m.Attempts, m.NextAttemptAt)
	if err != nil {
		return fmt.Errorf("queue staff mail: %w", err)
	}
	return nil
}

// DueStaffOutbox returns up to limit staff messages due for sending.
func (c Conn) DueStaffOutbox(ctx context.Context, now int64, limit int) ([]StaffOutboxRow, error) {
	rows, err := c.query(ctx, `SELECT id, staff_id, sealed, created_at, attempts, next_attempt_at FROM staff_outbox
		WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("read staff outbox: %w", err)
	}
	defer rows.Close()
	var out []StaffOutboxRow
	for rows.Next() {
		var m StaffOutboxRow
		if err := rows.Scan(&m.ID, &m.StaffID, &m.Sealed, &m.CreatedAt, &m.Attempts, &m.NextAttemptAt); err != nil {
			return nil, fmt.Errorf("read staff outbox row: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// DeleteStaffOutbox removes a sent (or no longer wanted) staff message.
func (c Conn) DeleteStaffOutbox(ctx context.Context, id string) error {
	if _, err := c.exec(ctx, `DELETE FROM staff_outbox WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete staff outbox row: %w", err)
	}
	return nil
}

// DeleteStaffOutboxOf removes every message waiting for a staff member
// (when they are disabled, their link must not go out any more).
func (c Conn) DeleteStaffOutboxOf(ctx context.Context, staffID string) error {
	if _, err := c.exec(ctx, `DELETE FROM staff_outbox WHERE staff_id = ?`, staffID); err != nil {
		return fmt.Errorf("delete staff outbox rows: %w", err)
	}
	return nil
}

// RetryStaffOutbox records a failed attempt and when to try again.
func (c Conn) RetryStaffOutbox(ctx context.Context, id string, next int64) error {
	if _, err := c.exec(ctx, `UPDATE staff_outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?`, next, id); err != nil {
		return fmt.Errorf("retry staff outbox row: %w", err)
	}
	return nil
}

// CountStaffOutbox counts the messages waiting for one staff member.
func (c Conn) CountStaffOutbox(ctx context.Context, staffID string) (int, error) {
	var n int
	if err := c.queryRow(ctx, `SELECT COUNT(*) FROM staff_outbox WHERE staff_id = ?`, staffID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count staff outbox: %w", err)
	}
	return n, nil
}
