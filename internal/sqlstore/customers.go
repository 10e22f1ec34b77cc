package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/resguardo/resguardo"
)

// CustomerRow is a customers row as stored: sealed bytes and indexes, never
// clear personal data.
type CustomerRow struct {
	ID            string
	DataKey       []byte // wrapped by the key-encryption key
	EmailIndex    []byte
	EmailSealed   []byte
	EmailVerified bool
	NameSealed    []byte
	PasswordHash  string
	CreatedAt     int64
	UpdatedAt     int64
	// Locked is set by staff: a locked customer cannot sign in.
	Locked bool
	// TOTPEnabled is read with the row (not stored in it): sign-in and the
	// profile need it with the row, and one query is one round trip.
	TOTPEnabled bool
}

// ErrEmailTaken is returned by InsertCustomer when the e-mail's blind index
// is already registered.
var ErrEmailTaken = resguardo.Errorf(resguardo.EConflict, "This e-mail address is already registered.")

const customerColumns = `id, data_key, email_index, email_sealed, email_verified, name_sealed, password_hash, created_at, updated_at, locked`

// customerSelect is what every read of a customer selects: the stored
// columns and whether a confirmed second factor exists.
const customerSelect = customerColumns + `,
	EXISTS (SELECT 1 FROM customer_totp t WHERE t.customer_id = customers.id AND t.enabled <> 0)`

func scanCustomer(row interface{ Scan(...any) error }) (CustomerRow, error) {
	var c CustomerRow
	err := row.Scan(&c.ID, &c.DataKey, &c.EmailIndex, &c.EmailSealed, &c.EmailVerified, &c.NameSealed, &c.PasswordHash, &c.CreatedAt, &c.UpdatedAt, &c.Locked, &c.TOTPEnabled)
	if errors.Is(err, sql.ErrNoRows) {
		return c, errNotFound("customer")
	}
	if err != nil {
		return c, fmt.Errorf("read customer: %w", err)
	}
	return c, nil
}

// InsertCustomer adds a customer; ErrEmailTaken if the address is taken.
func (c Conn) InsertCustomer(ctx context.Context, r CustomerRow) error {
	_, err := c.exec(ctx, `INSERT INTO customers (`+customerColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.DataKey, r.EmailIndex, r.EmailSealed, r.EmailVerified, r.NameSealed, r.PasswordHash, r.CreatedAt, r.UpdatedAt, r.Locked)
	if isUniqueViolation(err) {
		return ErrEmailTaken
	}
	if err != nil {
		return fmt.Errorf("insert customer: %w", err)
	}
	return nil
}

// CustomerByID reads one customer.
func (c Conn) CustomerByID(ctx context.Context, id string) (CustomerRow, error) {
	return scanCustomer(c.queryRow(ctx, `SELECT `+customerSelect+` FROM customers WHERE id = ?`, id))
}

// CustomerByEmailIndex finds a customer by the blind index of the address.
// During a blind-index rotation pass the index under every key: a row is
// found whether or not it has been re-indexed yet.
func (c Conn) CustomerByEmailIndex(ctx context.Context, indexes ...[]byte) (CustomerRow, error) {
	if len(indexes) == 0 {
		return CustomerRow{}, errNotFound("customer")
	}
	args := make([]any, len(indexes))
	for i, x := range indexes {
		args[i] = x
	}
	// Only placeholders are added to the text: one per key version.
	return scanCustomer(c.queryRow(ctx, `SELECT `+customerSelect+` FROM customers WHERE email_index IN (?`+strings.Repeat(", ?", len(indexes)-1)+`)`, args...))
}

// SetPasswordHash replaces a customer's password hash.
func (c Conn) SetPasswordHash(ctx context.Context, id, hash string, now int64) error {
	res, err := c.exec(ctx, `UPDATE customers SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, now, id)
	return affectedOne(res, err, "customer")
}

// SetName replaces a customer's sealed name.
func (c Conn) SetName(ctx context.Context, id string, sealed []byte, now int64) error {
	res, err := c.exec(ctx, `UPDATE customers SET name_sealed = ?, updated_at = ? WHERE id = ?`, sealed, now, id)
	return affectedOne(res, err, "customer")
}

// MarkEmailVerified marks the address verified, only if it is still the one
// whose index the verification token was bound to.
func (c Conn) MarkEmailVerified(ctx context.Context, id string, emailIndex []byte, now int64) error {
	res, err := c.exec(ctx, `UPDATE customers SET email_verified = 1, updated_at = ? WHERE id = ? AND email_index = ?`, now, id, emailIndex)
	return affectedOne(res, err, "customer")
}

// PhoneRow is a stored phone number: its blind index and the sealed
// {label, number}.
type PhoneRow struct {
	ID          string
	CustomerID  string
	NumberIndex []byte
	Sealed      []byte
	CreatedAt   int64
}

// ErrPhoneTaken is returned when the customer already has the number.
var ErrPhoneTaken = resguardo.Errorf(resguardo.EConflict, "This phone number is already on your account.")

// InsertPhone adds a phone number.
func (c Conn) InsertPhone(ctx context.Context, p PhoneRow) error {
	_, err := c.exec(ctx, `INSERT INTO customer_phones (id, customer_id, number_index, sealed, created_at) VALUES (?, ?, ?, ?, ?)`,
		p.ID, p.CustomerID, p.NumberIndex, p.Sealed, p.CreatedAt)
	if isUniqueViolation(err) {
		return ErrPhoneTaken
	}
	if err != nil {
		return fmt.Errorf("insert phone: %w", err)
	}
	return c.bumpContacts(ctx, p.CustomerID)
}

// DeletePhone removes one of the customer's numbers; another customer's id
// is simply not found.
func (c Conn) DeletePhone(ctx context.Context, customerID, id string) error {
	res, err := c.exec(ctx, `DELETE FROM customer_phones WHERE id = ? AND customer_id = ?`, id, customerID)
	if err := affectedOne(res, err, "phone"); err != nil {
		return err
	}
	return c.bumpContacts(ctx, customerID)
}

// AddressRow is a stored postal address, sealed as one value.
type AddressRow struct {
	ID         string
	CustomerID string
	Sealed     []byte
	CreatedAt  int64
	UpdatedAt  int64
}

// InsertAddress adds an address.
func (c Conn) InsertAddress(ctx context.Context, a AddressRow) error {
	_, err := c.exec(ctx, `INSERT INTO customer_addresses (id, customer_id, sealed, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		a.ID, a.CustomerID, a.Sealed, a.CreatedAt, a.UpdatedAt)
	if err != nil {
		return fmt.Errorf("insert address: %w", err)
	}
	return c.bumpContacts(ctx, a.CustomerID)
}

// UpdateAddress replaces one of the customer's addresses.
func (c Conn) UpdateAddress(ctx context.Context, customerID, id string, sealed []byte, now int64) error {
	res, err := c.exec(ctx, `UPDATE customer_addresses SET sealed = ?, updated_at = ? WHERE id = ? AND customer_id = ?`, sealed, now, id, customerID)
	if err := affectedOne(res, err, "address"); err != nil {
		return err
	}
	return c.bumpContacts(ctx, customerID)
}

// DeleteAddress removes one of the customer's addresses.
func (c Conn) DeleteAddress(ctx context.Context, customerID, id string) error {
	res, err := c.exec(ctx, `DELETE FROM customer_addresses WHERE id = ? AND customer_id = ?`, id, customerID)
	if err := affectedOne(res, err, "address"); err != nil {
		return err
	}
	return c.bumpContacts(ctx, customerID)
}

// Contacts reads a customer's phones and addresses in one statement: the
// profile is the hottest read, and each statement costs a round trip.
func (c Conn) Contacts(ctx context.Context, customerID string) ([]PhoneRow, []AddressRow, error) {
	rows, err := c.query(ctx, `SELECT 'p', id, number_index, sealed, created_at, created_at FROM customer_phones WHERE customer_id = ?
		UNION ALL SELECT 'a', id, NULL, sealed, created_at, updated_at FROM customer_addresses WHERE customer_id = ?`, customerID, customerID)
	if err != nil {
		return nil, nil, fmt.Errorf("list contacts: %w", err)
	}
	defer rows.Close()
	var phones []PhoneRow
	var addrs []AddressRow
	for rows.Next() {
		var kind, id string
		var index, sealed []byte
		var created, updated int64
		if err := rows.Scan(&kind, &id, &index, &sealed, &created, &updated); err != nil {
			return nil, nil, fmt.Errorf("read contact: %w", err)
		}
		if kind == "p" {
			phones = append(phones, PhoneRow{ID: id, CustomerID: customerID, NumberIndex: index, Sealed: sealed, CreatedAt: created})
		} else {
			addrs = append(addrs, AddressRow{ID: id, CustomerID: customerID, Sealed: sealed, CreatedAt: created, UpdatedAt: updated})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list contacts: %w", err)
	}
	sortContacts(phones, addrs) // in Go: ORDER BY would sort the union in a temporary table
	return phones, addrs, nil
}

// LockCustomer holds the customer's row until the transaction ends, so
// that changes bounded by a count of the customer's rows (phones,
// addresses, sessions) are made one after another: two concurrent adds can
// never both see room for one. SQLite: the transaction already holds the
// database's write lock (BEGIN IMMEDIATE).
func (c Conn) LockCustomer(ctx context.Context, customerID string) error {
	return c.lockCustomer(ctx, customerID)
}

// CountPhones counts a customer's phone numbers. On MySQL it is a locking
// read, so inside a transaction it sees every committed row whatever the
// transaction's snapshot.
func (c Conn) CountPhones(ctx context.Context, customerID string) (int, error) {
	q := `SELECT COUNT(*) FROM customer_phones WHERE customer_id = ?`
	if c.dialect == MySQL {
		q = `SELECT COUNT(*) FROM customer_phones WHERE customer_id = ? FOR UPDATE`
	}
	var n int
	if err := c.queryRow(ctx, q, customerID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count phones: %w", busy(err))
	}
	return n, nil
}

// CountAddresses counts a customer's postal addresses, as CountPhones.
func (c Conn) CountAddresses(ctx context.Context, customerID string) (int, error) {
	q := `SELECT COUNT(*) FROM customer_addresses WHERE customer_id = ?`
	if c.dialect == MySQL {
		q = `SELECT COUNT(*) FROM customer_addresses WHERE customer_id = ? FOR UPDATE`
	}
	var n int
	if err := c.queryRow(ctx, q, customerID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count addresses: %w", busy(err))
	}
	return n, nil
}

// ErrTOTPEnabled is returned when enrolling while a second factor is on.
var ErrTOTPEnabled = resguardo.Errorf(resguardo.EConflict, "Two-step verification is already on. Remove it first to set it up again.")

// PutPendingEmail stores a new address awaiting confirmation (one per
// customer: a newer request replaces it).
func (c Conn) PutPendingEmail(ctx context.Context, customerID string, index, sealed []byte, now int64) error {
	if _, err := c.exec(ctx, `DELETE FROM pending_emails WHERE customer_id = ?`, customerID); err != nil {
		return fmt.Errorf("replace pending e-mail: %w", err)
	}
	_, err := c.exec(ctx, `INSERT INTO pending_emails (customer_id, email_index, email_sealed, created_at) VALUES (?, ?, ?, ?)`, customerID, index, sealed, now)
	if err != nil {
		return fmt.Errorf("store pending e-mail: %w", err)
	}
	return nil
}

// TakePendingEmail reads and removes the pending address with that index.
func (c Conn) TakePendingEmail(ctx context.Context, customerID string, index []byte) ([]byte, error) {
	var sealed []byte
	err := c.queryRow(ctx, `SELECT email_sealed FROM pending_emails WHERE customer_id = ? AND email_index = ?`, customerID, index).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound("pending e-mail")
	}
	if err != nil {
		return nil, fmt.Errorf("read pending e-mail: %w", err)
	}
	if _, err := c.exec(ctx, `DELETE FROM pending_emails WHERE customer_id = ?`, customerID); err != nil {
		return nil, fmt.Errorf("delete pending e-mail: %w", err)
	}
	return sealed, nil
}

// SetEmail replaces a customer's address (verified); ErrEmailTaken if
// another account has it.
func (c Conn) SetEmail(ctx context.Context, id string, index, sealed []byte, now int64) error {
	res, err := c.exec(ctx, `UPDATE customers SET email_index = ?, email_sealed = ?, email_verified = 1, updated_at = ? WHERE id = ?`, index, sealed, now, id)
	if isUniqueViolation(err) {
		return ErrEmailTaken
	}
	return affectedOne(res, err, "customer")
}

// DeleteOutstanding voids what a customer has in flight besides sessions:
// e-mail change links and the pending address, and sign-in challenges
// waiting for a second factor. Run when credentials change or sessions are
// revoked, so nothing started before the change can finish after it.
func (c Conn) DeleteOutstanding(ctx context.Context, customerID string) error {
	for _, q := range []string{
		`DELETE FROM email_tokens WHERE customer_id = ? AND purpose = 'change_email'`,
		`DELETE FROM pending_emails WHERE customer_id = ?`,
		`DELETE FROM mfa_challenges WHERE customer_id = ?`,
	} {
		if _, err := c.exec(ctx, q, customerID); err != nil {
			return fmt.Errorf("delete outstanding links and challenges: %w", err)
		}
	}
	return nil
}
