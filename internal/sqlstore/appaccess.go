package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// AppAccess is what one request with a bearer token needs from the
// database: the token and its family, and, when asked, the customer's
// profile (CustomerRow's ID, DataKey, EmailSealed, EmailVerified,
// NameSealed, CreatedAt, Locked and TOTPEnabled; its other fields may be
// empty) with the phones and addresses.
type AppAccess struct {
	Token     AppTokenRow
	Family    TokenFamilyRow
	Customer  CustomerRow
	Phones    []PhoneRow
	Addresses []AddressRow
}

// appAccessPrincipal is what any bearer-token request needs: the token and
// its family, one row reached by primary keys from the token hash. Only
// the columns read are selected: SQLite's driver reads every column's name
// on every query, and MariaDB sends each one.
const appAccessPrincipal = `SELECT t.kind, t.expires_at, f.id, f.customer_id, f.created_at, f.last_seen_at, f.recent_auth_at
	FROM app_tokens t JOIN token_families f ON f.id = t.family_id
	WHERE t.token_hash = ?`

// appAccessProfile adds what a profile needs of the customer, its
// second-factor flag and its contacts version.
const appAccessProfile = `SELECT t.kind, t.expires_at, f.id, f.customer_id, f.created_at, f.last_seen_at, f.recent_auth_at,
	c.data_key, c.email_sealed, c.email_verified, c.name_sealed, c.created_at, c.locked,
	EXISTS (SELECT 1 FROM customer_totp x WHERE x.customer_id = c.id AND x.enabled <> 0), c.contacts_version
	FROM app_tokens t JOIN token_families f ON f.id = t.family_id JOIN customers c ON c.id = f.customer_id
	WHERE t.token_hash = ?`

// appAccessHead is the token, its family and the whole customer row with
// its second-factor flag: the head of appAccessContacts.
const appAccessHead = `SELECT t.kind, t.expires_at, t.used_at, f.id, f.customer_id, f.created_at, f.last_seen_at, f.recent_auth_at,
	c.id, c.data_key, c.email_index, c.email_sealed, c.email_verified, c.name_sealed, c.password_hash, c.created_at, c.updated_at, c.locked,
	EXISTS (SELECT 1 FROM customer_totp x WHERE x.customer_id = c.id AND x.enabled <> 0)`

const appAccessFrom = `
	FROM app_tokens t JOIN token_families f ON f.id = t.family_id JOIN customers c ON c.id = f.customer_id
	WHERE t.token_hash = ?`

// appAccessContacts is SQLite's statement for a token with contacts: the
// head row with two more columns, the customer's phones and addresses each
// folded into one string by a subquery on the customer's index (records
// separated by '|', fields by ' ', blobs in hex; read by parseContacts).
// The token is resolved once and one row crosses the driver, a fifth less
// CPU per /me than the three-branch union (docs/performance.md). The folded
// strings are small (at most MaxPhones and MaxAddresses records); a
// malformed one fails the request, and a cut blob could not open.
const appAccessContacts = appAccessHead + `, c.contacts_version,
	(SELECT group_concat(p.id || ' ' || p.created_at || ' ' || hex(p.number_index) || ' ' || hex(p.sealed), '|')
		FROM customer_phones p WHERE p.customer_id = c.id),
	(SELECT group_concat(a.id || ' ' || a.created_at || ' ' || a.updated_at || ' ' || hex(a.sealed), '|')
		FROM customer_addresses a WHERE a.customer_id = c.id)` + appAccessFrom

// appAccessUnionHead is the head branch of appAccessUnion. Every branch of
// that statement has the same columns: kind, eight of token and family,
// twelve of the customer, five of a phone or an address.
const appAccessUnionHead = `SELECT 0, t.kind, t.expires_at, t.used_at, f.id, f.customer_id, f.created_at, f.last_seen_at, f.recent_auth_at,
	c.id, c.data_key, c.email_index, c.email_sealed, c.email_verified, c.name_sealed, c.password_hash, c.created_at, c.updated_at, c.locked,
	EXISTS (SELECT 1 FROM customer_totp x WHERE x.customer_id = c.id AND x.enabled <> 0), c.contacts_version,
	NULL, NULL, NULL, NULL, NULL
	FROM app_tokens t JOIN token_families f ON f.id = t.family_id JOIN customers c ON c.id = f.customer_id
	WHERE t.token_hash = ?`

// appAccessUnion is MySQL's statement for a token with contacts: the head
// and then the phones and the addresses, each branch reached through the
// same token by primary and foreign keys. UNION ALL without ORDER BY, so
// MariaDB streams it (no temporary table, no filesort; see
// docs/performance.md) and the caller orders the few rows. MariaDB
// re-plans a prepared statement on every execution and builds a temporary
// table for each GROUP_CONCAT, so the folded form SQLite uses costs it
// twice as much (measured in docs/performance.md); resolving the token
// again in each branch is the cheaper price.
const appAccessUnion = appAccessUnionHead + `
	UNION ALL SELECT 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	p.id, p.number_index, p.sealed, p.created_at, p.created_at
	FROM app_tokens t JOIN token_families f ON f.id = t.family_id JOIN customer_phones p ON p.customer_id = f.customer_id
	WHERE t.token_hash = ?
	UNION ALL SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	a.id, NULL, a.sealed, a.created_at, a.updated_at
	FROM app_tokens t JOIN token_families f ON f.id = t.family_id JOIN customer_addresses a ON a.customer_id = f.customer_id
	WHERE t.token_hash = ?`

// AppAccessByToken reads everything a bearer-token request needs: the
// token, its family, the customer and its second-factor flag in one
// statement, and with contacts the customer's phones and addresses too.
// Those come from the contacts cache when it holds the version the same
// statement read (contacts.go), so a /me is one statement; otherwise from
// one statement that reads everything again and refills the cache. Not
// found when the token does not exist.
func (c Conn) AppAccessByToken(ctx context.Context, hash []byte, contacts bool) (AppAccess, error) {
	out, version, err := c.appAccessHead(ctx, hash, contacts)
	if err != nil || !contacts {
		return out, err
	}
	var ok bool
	if out.Phones, out.Addresses, ok = c.contacts.lookup(out.Customer.ID, version); ok {
		return out, nil
	}
	if out, version, err = c.appAccessFull(ctx, hash); err != nil {
		return AppAccess{}, err
	}
	if c.tx == nil {
		// Outside a transaction the statement saw committed rows only.
		c.contacts.keep(out.Customer.ID, version, out.Phones, out.Addresses)
	}
	return out, nil
}

// appAccessHead reads the token and family (with profile: the customer's
// profile columns and contacts version) in one row.
func (c Conn) appAccessHead(ctx context.Context, hash []byte, profile bool) (AppAccess, int64, error) {
	var (
		out          AppAccess
		verified     bool
		locked, totp bool
		version      int64
	)
	dest := []any{&out.Token.Kind, &out.Token.ExpiresAt,
		&out.Family.ID, &out.Family.CustomerID, &out.Family.CreatedAt, &out.Family.LastSeenAt, &out.Family.RecentAuthAt}
	query := appAccessPrincipal
	if profile {
		query = appAccessProfile
		dest = append(dest, &out.Customer.DataKey, &out.Customer.EmailSealed, &verified, &out.Customer.NameSealed,
			&out.Customer.CreatedAt, &locked, &totp, &version)
	}
	if err := c.queryRow(ctx, query, hash).Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return AppAccess{}, 0, errNotFound("token")
		}
		return AppAccess{}, 0, fmt.Errorf("read token: %w", busy(err))
	}
	out.Token.TokenHash, out.Token.FamilyID = hash, out.Family.ID
	if profile {
		out.Customer.ID = out.Family.CustomerID
		out.Customer.EmailVerified, out.Customer.Locked, out.Customer.TOTPEnabled = verified, locked, totp
	}
	return out, version, nil
}

// appAccessFull reads the token, family, customer, contacts version and
// contacts in one statement: the folded row on SQLite, the union on MySQL.
func (c Conn) appAccessFull(ctx context.Context, hash []byte) (AppAccess, int64, error) {
	if c.dialect == MySQL {
		rows, err := c.query(ctx, appAccessUnion, hash, hash, hash)
		if err != nil {
			return AppAccess{}, 0, fmt.Errorf("read token: %w", busy(err))
		}
		return appAccessRows(rows, hash)
	}
	var (
		out           AppAccess
		used          sql.NullInt64
		verified      bool
		locked, totp  bool
		version       int64
		phones, addrs sql.NullString
	)
	if err := c.queryRow(ctx, appAccessContacts, hash).Scan(&out.Token.Kind, &out.Token.ExpiresAt, &used,
		&out.Family.ID, &out.Family.CustomerID, &out.Family.CreatedAt, &out.Family.LastSeenAt, &out.Family.RecentAuthAt,
		&out.Customer.ID, &out.Customer.DataKey, &out.Customer.EmailIndex, &out.Customer.EmailSealed, &verified,
		&out.Customer.NameSealed, &out.Customer.PasswordHash, &out.Customer.CreatedAt, &out.Customer.UpdatedAt, &locked, &totp,
		&version, &phones, &addrs); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return AppAccess{}, 0, errNotFound("token")
		}
		return AppAccess{}, 0, fmt.Errorf("read token: %w", busy(err))
	}
	out.Token.TokenHash, out.Token.FamilyID, out.Token.UsedAt = hash, out.Family.ID, used
	out.Customer.EmailVerified, out.Customer.Locked, out.Customer.TOTPEnabled = verified, locked, totp
	var err error
	if out.Phones, out.Addresses, err = parseContacts(out.Customer.ID, phones.String, addrs.String); err != nil {
		return AppAccess{}, 0, fmt.Errorf("read contacts of a token's customer: %w", err)
	}
	return out, version, nil
}

// appAccessRows reads appAccessUnion's rows.
func appAccessRows(rows *sql.Rows, hash []byte) (AppAccess, int64, error) {
	defer rows.Close()
	var (
		out     AppAccess
		version int64
	)
	head := false
	for rows.Next() {
		var (
			kind                                       int
			tKind, fID, fCustomer, cID, cPass, iID     sql.NullString
			tExp, fCreated, fSeen, fRecent, cCr, cUp   sql.NullInt64
			tUsed, iCreated, iUpdated                  sql.NullInt64
			cVerified, cLocked, cTOTP, cVersion        sql.NullInt64
			cKey, cIndex, cEmail, cName, iIndex, iSeal []byte
		)
		if err := rows.Scan(&kind, &tKind, &tExp, &tUsed, &fID, &fCustomer, &fCreated, &fSeen, &fRecent,
			&cID, &cKey, &cIndex, &cEmail, &cVerified, &cName, &cPass, &cCr, &cUp, &cLocked, &cTOTP, &cVersion,
			&iID, &iIndex, &iSeal, &iCreated, &iUpdated); err != nil {
			return AppAccess{}, 0, fmt.Errorf("read token: %w", err)
		}
		switch kind {
		case 0:
			head, version = true, cVersion.Int64
			out.Token = AppTokenRow{TokenHash: hash, FamilyID: fID.String, Kind: tKind.String, ExpiresAt: tExp.Int64, UsedAt: tUsed}
			out.Family = TokenFamilyRow{ID: fID.String, CustomerID: fCustomer.String, CreatedAt: fCreated.Int64, LastSeenAt: fSeen.Int64, RecentAuthAt: fRecent.Int64}
			out.Customer = CustomerRow{ID: cID.String, DataKey: cKey, EmailIndex: cIndex, EmailSealed: cEmail, EmailVerified: cVerified.Int64 != 0,
				NameSealed: cName, PasswordHash: cPass.String, CreatedAt: cCr.Int64, UpdatedAt: cUp.Int64, Locked: cLocked.Int64 != 0, TOTPEnabled: cTOTP.Int64 != 0}
		case 1:
			out.Phones = append(out.Phones, PhoneRow{ID: iID.String, NumberIndex: iIndex, Sealed: iSeal, CreatedAt: iCreated.Int64})
		case 2:
			out.Addresses = append(out.Addresses, AddressRow{ID: iID.String, Sealed: iSeal, CreatedAt: iCreated.Int64, UpdatedAt: iUpdated.Int64})
		}
	}
	if err := rows.Err(); err != nil {
		return AppAccess{}, 0, fmt.Errorf("read token: %w", busy(err))
	}
	if !head {
		return AppAccess{}, 0, errNotFound("token")
	}
	for i := range out.Phones {
		out.Phones[i].CustomerID = out.Customer.ID
	}
	for i := range out.Addresses {
		out.Addresses[i].CustomerID = out.Customer.ID
	}
	sortContacts(out.Phones, out.Addresses)
	return out, version, nil
}

// parseContacts reads the folded phone and address columns of
// appAccessContacts and orders each list as it was added.
func parseContacts(customerID, phones, addrs string) ([]PhoneRow, []AddressRow, error) {
	var (
		ps []PhoneRow
		as []AddressRow
	)
	for rec := range fields(phones, '|') {
		var f [4]string
		if !split4(rec, &f) {
			return nil, nil, errors.New("malformed phone record")
		}
		created, err1 := strconv.ParseInt(f[1], 10, 64)
		index, err2 := hex.DecodeString(f[2])
		sealed, err3 := hex.DecodeString(f[3])
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, nil, fmt.Errorf("malformed phone record: %w", err)
		}
		ps = append(ps, PhoneRow{ID: f[0], CustomerID: customerID, NumberIndex: index, Sealed: sealed, CreatedAt: created})
	}
	for rec := range fields(addrs, '|') {
		var f [4]string
		if !split4(rec, &f) {
			return nil, nil, errors.New("malformed address record")
		}
		created, err1 := strconv.ParseInt(f[1], 10, 64)
		updated, err2 := strconv.ParseInt(f[2], 10, 64)
		sealed, err3 := hex.DecodeString(f[3])
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, nil, fmt.Errorf("malformed address record: %w", err)
		}
		as = append(as, AddressRow{ID: f[0], CustomerID: customerID, Sealed: sealed, CreatedAt: created, UpdatedAt: updated})
	}
	sortContacts(ps, as)
	return ps, as, nil
}

// fields yields the non-empty parts of s between separators.
func fields(s string, sep byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for s != "" {
			part, rest, _ := strings.Cut(s, string(sep))
			if part != "" && !yield(part) {
				return
			}
			s = rest
		}
	}
}

// split4 splits a record into exactly four space-separated fields.
func split4(rec string, f *[4]string) bool {
	for i := range 3 {
		var ok bool
		if f[i], rec, ok = strings.Cut(rec, " "); !ok || f[i] == "" {
			return false
		}
	}
	f[3] = rec
	return rec != "" && !strings.Contains(rec, " ")
}

// sortContacts orders phones and addresses as they were added (then by
// id), in Go rather than with ORDER BY, which would make MariaDB sort the
// union in a temporary table.
func sortContacts(phones []PhoneRow, addrs []AddressRow) {
	slices.SortFunc(phones, func(a, b PhoneRow) int {
		return cmp.Or(cmp.Compare(a.CreatedAt, b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	slices.SortFunc(addrs, func(a, b AddressRow) int {
		return cmp.Or(cmp.Compare(a.CreatedAt, b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
}
