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
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, "instance_id").Scan(&id)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		id = rand.Text()
		_, err = tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)`,
			"instance_id", id, time.Now().Unix())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	return id, nil
}
