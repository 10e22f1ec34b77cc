package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Key rotation reads customers in id order, a batch at a time, so that a
// rotation can stop anywhere and continue after the last id it finished.

// WrappedKey is a customer's id and wrapped data key.
type WrappedKey struct {
	CustomerID string
	DataKey    []byte
}

// DataKeysAfter returns up to limit customers' wrapped data keys with ids
// after the given one, in id order.
func (c Conn) DataKeysAfter(ctx context.Context, after string, limit int) ([]WrappedKey, error) {
	rows, err := c.query(ctx, `SELECT id, data_key FROM customers WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list data keys: %w", err)
	}
	defer rows.Close()
	var out []WrappedKey
	for rows.Next() {
		var k WrappedKey
		if err := rows.Scan(&k.CustomerID, &k.DataKey); err != nil {
			return nil, fmt.Errorf("read data key: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// ReplaceDataKey stores a re-wrapped data key, only if the stored one is
// still old: a customer erased meanwhile stays erased (false, nil).
func (c Conn) ReplaceDataKey(ctx context.Context, customerID string, old, next []byte) (bool, error) {
	res, err := c.exec(ctx, `UPDATE customers SET data_key = ? WHERE id = ? AND data_key = ?`, next, customerID, old)
	if err != nil {
		return false, fmt.Errorf("replace data key: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// PasswordHash is a customer's id and stored password hash.
type PasswordHash struct {
	CustomerID string
	Hash       string
}

// PasswordHashesAfter returns up to limit password hashes of customers with
// ids after the given one, in id order.
func (c Conn) PasswordHashesAfter(ctx context.Context, after string, limit int) ([]PasswordHash, error) {
	rows, err := c.query(ctx, `SELECT id, password_hash FROM customers WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list password hashes: %w", err)
	}
	defer rows.Close()
	var out []PasswordHash
	for rows.Next() {
		var p PasswordHash
		if err := rows.Scan(&p.CustomerID, &p.Hash); err != nil {
			return nil, fmt.Errorf("read password hash: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// CustomerIDsAfter returns up to limit customer ids after the given one.
func (c Conn) CustomerIDsAfter(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := c.query(ctx, `SELECT id FROM customers WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read customer id: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// ReplaceEmailIndex moves a customer's address, and the links sent to it,
// to a recomputed blind index.
func (c Conn) ReplaceEmailIndex(ctx context.Context, customerID string, old, next []byte) error {
	if _, err := c.exec(ctx, `UPDATE customers SET email_index = ? WHERE id = ? AND email_index = ?`, next, customerID, old); err != nil {
		return fmt.Errorf("replace e-mail index: %w", err)
	}
	return c.replaceLinkIndex(ctx, customerID, old, next)
}

// ReplacePendingEmailIndex moves a pending address, and its confirmation
// link, to a recomputed blind index.
func (c Conn) ReplacePendingEmailIndex(ctx context.Context, customerID string, old, next []byte) error {
	if _, err := c.exec(ctx, `UPDATE pending_emails SET email_index = ? WHERE customer_id = ? AND email_index = ?`, next, customerID, old); err != nil {
		return fmt.Errorf("replace pending e-mail index: %w", err)
	}
	return c.replaceLinkIndex(ctx, customerID, old, next)
}

func (c Conn) replaceLinkIndex(ctx context.Context, customerID string, old, next []byte) error {
	if _, err := c.exec(ctx, `UPDATE email_tokens SET email_index = ? WHERE customer_id = ? AND email_index = ?`, next, customerID, old); err != nil {
		return fmt.Errorf("replace link index: %w", err)
	}
	return nil
}

// ReplacePhoneIndex stores a phone number's recomputed blind index.
func (c Conn) ReplacePhoneIndex(ctx context.Context, customerID, phoneID string, next []byte) error {
	res, err := c.exec(ctx, `UPDATE customer_phones SET number_index = ? WHERE id = ? AND customer_id = ?`, next, phoneID, customerID)
	if err := affectedOne(res, err, "phone"); err != nil {
		return err
	}
	return c.bumpContacts(ctx, customerID)
}

// PendingEmail returns a customer's address awaiting confirmation, if any.
func (c Conn) PendingEmail(ctx context.Context, customerID string) (index, sealed []byte, err error) {
	err = c.queryRow(ctx, `SELECT email_index, email_sealed FROM pending_emails WHERE customer_id = ?`, customerID).Scan(&index, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, errNotFound("pending e-mail")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read pending e-mail: %w", err)
	}
	return index, sealed, nil
}

// PutSetting stores a setting, replacing any earlier value.
func (c Conn) PutSetting(ctx context.Context, name, value string, now int64) error {
	if err := c.DeleteSetting(ctx, name); err != nil {
		return err
	}
	return c.SetSetting(ctx, name, value, now)
}

// DeleteSetting removes a setting (none is fine).
func (c Conn) DeleteSetting(ctx context.Context, name string) error {
	if _, err := c.exec(ctx, `DELETE FROM settings WHERE name = ?`, name); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}
