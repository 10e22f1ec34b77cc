package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Erasure deletes every row that belongs to a customer, in one transaction
// of the caller's, and says what it deleted. The customers row goes last:
// it holds the wrapped data key, so deleting it destroys the key and with it
// every sealed value that might survive elsewhere (crypto-shredding).

// ErasedRows is how many rows of one kind an erasure deleted.
type ErasedRows struct {
	What  string
	Count int64
}

// eraseSteps deletes a customer's rows table by table, children first. Most
// tables would also go by ON DELETE CASCADE from customers; deleting them
// explicitly counts them for the report and does not depend on the cascade
// being declared (and enforced) alike in both dialects. app_tokens has no
// customer_id: it is reached through its token family.
var eraseSteps = []struct{ what, query string }{
	{"app_tokens", `DELETE FROM app_tokens WHERE family_id IN (SELECT id FROM token_families WHERE customer_id = ?)`},
	{"app_sign_ins", `DELETE FROM token_families WHERE customer_id = ?`},
	{"web_sessions", `DELETE FROM web_sessions WHERE customer_id = ?`},
	{"known_devices", `DELETE FROM known_devices WHERE customer_id = ?`},
	{"sign_in_challenges", `DELETE FROM mfa_challenges WHERE customer_id = ?`},
	{"recovery_codes", `DELETE FROM recovery_codes WHERE customer_id = ?`},
	{"second_factor", `DELETE FROM customer_totp WHERE customer_id = ?`},
	{"passkey_challenges", `DELETE FROM passkey_challenges WHERE customer_id = ?`},
	{"passkeys", `DELETE FROM customer_passkeys WHERE customer_id = ?`},
	{"passkey_handle", `DELETE FROM passkey_handles WHERE customer_id = ?`},
	{"phones", `DELETE FROM customer_phones WHERE customer_id = ?`},
	{"addresses", `DELETE FROM customer_addresses WHERE customer_id = ?`},
	{"email_links", `DELETE FROM email_tokens WHERE customer_id = ?`},
	{"pending_email_change", `DELETE FROM pending_emails WHERE customer_id = ?`},
	{"pending_mail", `DELETE FROM outbox WHERE customer_id = ?`},
}

// EraseCustomer deletes the customer and everything that refers to it:
// the rows of eraseSteps, the throttle records named exactly by
// throttleNames or starting with one of throttlePrefixes (they carry the
// customer id or the address's blind index in their name), and the
// customers row with its wrapped data key. Run it inside Tx; not found if
// the customer is already gone.
func (c Conn) EraseCustomer(ctx context.Context, customerID string, throttleNames, throttlePrefixes []string) ([]ErasedRows, error) {
	for _, p := range throttlePrefixes {
		// A prefix is matched with LIKE: it must not hold LIKE's own
		// wildcards, or it could reach other keys.
		if p == "" || strings.ContainsAny(p, `%_\`) {
			return nil, fmt.Errorf("erase: throttle prefix %q is not literal", p)
		}
	}
	if err := c.lockCustomer(ctx, customerID); err != nil {
		return nil, err
	}
	restore, err := c.zeroDeleted(ctx)
	if err != nil {
		return nil, err
	}
	defer restore()
	out := make([]ErasedRows, 0, len(eraseSteps)+2)
	for _, st := range eraseSteps {
		n, err := c.deleted(ctx, st.query, customerID)
		if err != nil {
			return nil, fmt.Errorf("erase %s: %w", st.what, err)
		}
		out = append(out, ErasedRows{st.what, n})
	}
	throttled, err := c.eraseThrottles(ctx, throttleNames, throttlePrefixes)
	if err != nil {
		return nil, err
	}
	out = append(out, ErasedRows{"throttle_records", throttled})
	n, err := c.deleted(ctx, `DELETE FROM customers WHERE id = ?`, customerID)
	if err != nil {
		return nil, fmt.Errorf("erase customer: %w", err)
	}
	if n != 1 {
		return nil, errNotFound("customer") // deleted meanwhile
	}
	// This server's cached sealed contacts go too; they could no longer be
	// opened once the data key is gone, and the customer is no longer
	// there to ask for them.
	c.contacts.forget(customerID)
	return append(out, ErasedRows{"account_and_data_key", n}), nil
}

// lockCustomer takes the customer's row first, as the other changes of a
// customer do, so an erasure queues behind them (and they behind it)
// instead of deadlocking on the child rows.
func (c Conn) lockCustomer(ctx context.Context, customerID string) error {
	q := `SELECT id FROM customers WHERE id = ?`
	if c.dialect == MySQL {
		q = `SELECT id FROM customers WHERE id = ? FOR UPDATE`
	} // SQLite: the transaction already holds the database's write lock (BEGIN IMMEDIATE).
	var id string
	err := c.queryRow(ctx, q, customerID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound("customer")
	}
	if err != nil {
		return fmt.Errorf("lock customer: %w", busy(err))
	}
	return nil
}

// zeroDeleted makes SQLite overwrite what this transaction deletes with
// zeros (secure_delete), so the wrapped data key and the sealed values do
// not linger in the file's free space, and returns what puts the
// connection's setting back. It is a no-op on MySQL, where InnoDB purges
// deleted records in its own time.
func (c Conn) zeroDeleted(ctx context.Context) (func(), error) {
	if c.dialect != SQLite {
		return func() {}, nil
	}
	var was int
	if err := c.queryRow(ctx, `PRAGMA secure_delete`).Scan(&was); err != nil {
		return nil, fmt.Errorf("read secure_delete: %w", err)
	}
	if was == 1 {
		return func() {}, nil
	}
	if _, err := c.exec(ctx, `PRAGMA secure_delete = 1`); err != nil {
		return nil, fmt.Errorf("set secure_delete: %w", err)
	}
	return func() {
		// The setting belongs to the pooled connection, not to the
		// transaction: left on, it would only cost later deletes a little.
		_, _ = c.exec(context.WithoutCancel(ctx), `PRAGMA secure_delete = 0`)
	}, nil
}

func (c Conn) eraseThrottles(ctx context.Context, names, prefixes []string) (int64, error) {
	var total int64
	for _, name := range names {
		n, err := c.deleted(ctx, `DELETE FROM throttles WHERE name = ?`, name)
		if err != nil {
			return 0, fmt.Errorf("erase throttle records: %w", err)
		}
		total += n
	}
	for _, p := range prefixes {
		n, err := c.deleted(ctx, `DELETE FROM throttles WHERE name LIKE ?`, p+"%")
		if err != nil {
			return 0, fmt.Errorf("erase throttle records: %w", err)
		}
		total += n
	}
	return total, nil
}

// deleted runs a DELETE and returns how many rows it removed.
func (c Conn) deleted(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// FlushErased runs after an erasure has committed. On SQLite it moves the
// write-ahead log into the database file and truncates it, so that the
// log no longer holds earlier versions of the erased pages (with the
// wrapped data key) in clear. It reports busy when readers kept the log
// from being truncated; SQLite then reuses it in its own time. On MySQL it
// does nothing.
func (c Conn) FlushErased(ctx context.Context) (busy bool, err error) {
	if c.dialect != SQLite {
		return false, nil
	}
	var b, logFrames, checkpointed int
	if err := c.queryRow(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&b, &logFrames, &checkpointed); err != nil {
		return false, fmt.Errorf("checkpoint after erasure: %w", err)
	}
	return b != 0, nil
}
