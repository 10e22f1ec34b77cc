package sqlstore

import (
	"context"
	"fmt"
)

// KnownDeviceRow records that a browser (by the hash of its device
// cookie's token) completed a sign-in to a customer's account.
type KnownDeviceRow struct {
	TokenHash  []byte
	CustomerID string
	CreatedAt  int64
	LastUsedAt int64
	ExpiresAt  int64
}

// KnownDevice reports whether the device token hash is known, unexpired,
// for the customer.
func (c Conn) KnownDevice(ctx context.Context, tokenHash []byte, customerID string, now int64) (bool, error) {
	var n int
	err := c.queryRow(ctx, `SELECT COUNT(*) FROM known_devices WHERE token_hash = ? AND customer_id = ? AND expires_at > ?`,
		tokenHash, customerID, now).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read known device: %w", busy(err))
	}
	return n > 0, nil
}

// DeviceIssued reports whether any customer knows the device token hash
// (unexpired): the token was made by this deployment.
func (c Conn) DeviceIssued(ctx context.Context, tokenHash []byte, now int64) (bool, error) {
	var n int
	err := c.queryRow(ctx, `SELECT COUNT(*) FROM known_devices WHERE token_hash = ? AND expires_at > ?`, tokenHash, now).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read known device: %w", busy(err))
	}
	return n > 0, nil
}

// RememberDevice records (or renews) a device for a customer.
func (c Conn) RememberDevice(ctx context.Context, d KnownDeviceRow) error {
	res, err := c.exec(ctx, `UPDATE known_devices SET last_used_at = ?, expires_at = ? WHERE token_hash = ? AND customer_id = ?`,
		d.LastUsedAt, d.ExpiresAt, d.TokenHash, d.CustomerID)
	if err != nil {
		return fmt.Errorf("renew known device: %w", busy(err))
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	q := `INSERT INTO known_devices (token_hash, customer_id, created_at, last_used_at, expires_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (token_hash, customer_id) DO NOTHING`
	if c.dialect == MySQL {
		q = `INSERT IGNORE INTO known_devices (token_hash, customer_id, created_at, last_used_at, expires_at) VALUES (?, ?, ?, ?, ?)`
	}
	if _, err := c.exec(ctx, q, d.TokenHash, d.CustomerID, d.CreatedAt, d.LastUsedAt, d.ExpiresAt); err != nil {
		return fmt.Errorf("remember device: %w", busy(err))
	}
	return nil
}

// TrimKnownDevices keeps a customer's keep most recently used devices and
// deletes the rest, and any that expired.
func (c Conn) TrimKnownDevices(ctx context.Context, customerID string, keep int, now int64) error {
	if _, err := c.exec(ctx, `DELETE FROM known_devices WHERE customer_id = ? AND expires_at <= ?`, customerID, now); err != nil {
		return fmt.Errorf("trim known devices: %w", busy(err))
	}
	rows, err := c.query(ctx, `SELECT token_hash FROM known_devices WHERE customer_id = ? ORDER BY last_used_at DESC, token_hash`, customerID)
	if err != nil {
		return fmt.Errorf("list known devices: %w", busy(err))
	}
	var stale [][]byte
	for i := 0; rows.Next(); i++ {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			_ = rows.Close()
			return fmt.Errorf("list known devices: %w", err)
		}
		if i >= keep {
			stale = append(stale, h)
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("list known devices: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list known devices: %w", err)
	}
	for _, h := range stale {
		if _, err := c.exec(ctx, `DELETE FROM known_devices WHERE token_hash = ? AND customer_id = ?`, h, customerID); err != nil {
			return fmt.Errorf("trim known devices: %w", busy(err))
		}
	}
	return nil
}

// ForgetKnownDevices forgets every device of a customer (after a password
// reset: whoever reset the password decides which browsers are trusted).
func (c Conn) ForgetKnownDevices(ctx context.Context, customerID string) error {
	if _, err := c.exec(ctx, `DELETE FROM known_devices WHERE customer_id = ?`, customerID); err != nil {
		return fmt.Errorf("forget known devices: %w", busy(err))
	}
	return nil
}
