package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// InstanceID returns the deployment's random identifier, creating it on first
// use. It names this deployment in logs and, later, in audit checkpoints.
func (db *DB) InstanceID(ctx context.Context) (string, error) {
	var id string
	err := db.Tx(ctx, func(c Conn) error {
		err := c.queryRow(ctx, `SELECT value FROM settings WHERE name = ?`, "instance_id").Scan(&id)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		id = rand.Text()
		_, err = c.exec(ctx, `INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)`,
			"instance_id", id, time.Now().Unix())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	return id, nil
}

// SetSetting stores a deployment-wide setting.
func (c Conn) SetSetting(ctx context.Context, name, value string, now int64) error {
	_, err := c.exec(ctx, `INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)`, name, value, now)
	if err != nil {
		return fmt.Errorf("set %s: %w", name, err)
	}
	return nil
}

// Setting reads a setting.
func (c Conn) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := c.queryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNotFound("setting")
	}
	return v, err
}

// countQueries holds one constant statement per table that may be counted:
// a table name cannot be a placeholder, and no SQL is ever built from input.
var countQueries = map[string]string{ // #nosec G101 -- table names and SQL, not credentials
	"customers":    `SELECT COUNT(*) FROM customers`,
	"staff":        `SELECT COUNT(*) FROM staff`,
	"throttles":    `SELECT COUNT(*) FROM throttles`,
	"web_sessions": `SELECT COUNT(*) FROM web_sessions`,
	"app_tokens":   `SELECT COUNT(*) FROM app_tokens`,
	"email_tokens": `SELECT COUNT(*) FROM email_tokens`,
	"outbox":       `SELECT COUNT(*) FROM outbox`,
}

// CountRows counts the rows of one of the tables above.
func (c Conn) CountRows(ctx context.Context, table string) (int, error) {
	q, ok := countQueries[table]
	if !ok {
		return 0, fmt.Errorf("count rows: table %q is not countable", table)
	}
	var n int
	if err := c.queryRow(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}
