package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// AppAccess is what one request with a bearer token needs from the
// database: the token, its family, the customer and whether a second
// factor is on, and, when asked, the customer's phones and addresses.
type AppAccess struct {
	Token     AppTokenRow
	Family    TokenFamilyRow
	Customer  CustomerRow
	Phones    []PhoneRow
	Addresses []AddressRow
}

// appAccessHead is the token, family and customer, one row. Every branch
// of the statement has the same columns: kind, eight of token and family,
// eleven of the customer, five of a phone or an address.
const appAccessHead = `SELECT 0, t.kind, t.expires_at, t.used_at, f.id, f.customer_id, f.created_at, f.last_seen_at, f.recent_auth_at,
	c.id, c.data_key, c.email_index, c.email_sealed, c.email_verified, c.name_sealed, c.password_hash, c.created_at, c.updated_at, c.locked,
	EXISTS (SELECT 1 FROM customer_totp x WHERE x.customer_id = c.id AND x.enabled <> 0),
	NULL, NULL, NULL, NULL, NULL
	FROM app_tokens t JOIN token_families f ON f.id = t.family_id JOIN customers c ON c.id = f.customer_id
	WHERE t.token_hash = ?`

// appAccessContacts adds the phones and the addresses, each branch reached
// through the same token by primary and foreign keys: UNION ALL without
// ORDER BY, so MariaDB streams it (no temporary table, no filesort; see
// docs/performance.md) and the caller orders the few rows.
const appAccessContacts = appAccessHead + `
	UNION ALL SELECT 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	p.id, p.number_index, p.sealed, p.created_at, p.created_at
	FROM app_tokens t JOIN token_families f ON f.id = t.family_id JOIN customer_phones p ON p.customer_id = f.customer_id
	WHERE t.token_hash = ?
	UNION ALL SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	a.id, NULL, a.sealed, a.created_at, a.updated_at
	FROM app_tokens t JOIN token_families f ON f.id = t.family_id JOIN customer_addresses a ON a.customer_id = f.customer_id
	WHERE t.token_hash = ?`

// AppAccessByToken reads, in one statement, everything a bearer-token
// request needs (with contacts: the customer's phones and addresses too).
// Not found when the token does not exist.
func (c Conn) AppAccessByToken(ctx context.Context, hash []byte, contacts bool) (AppAccess, error) {
	var rows *sql.Rows
	var err error
	if contacts {
		rows, err = c.query(ctx, appAccessContacts, hash, hash, hash)
	} else {
		rows, err = c.query(ctx, appAccessHead, hash)
	}
	if err != nil {
		return AppAccess{}, fmt.Errorf("read token: %w", busy(err))
	}
	defer rows.Close()
	var out AppAccess
	head := false
	for rows.Next() {
		var (
			kind                                       int
			tKind, fID, fCustomer, cID, cPass, iID     sql.NullString
			tExp, fCreated, fSeen, fRecent, cCr, cUp   sql.NullInt64
			tUsed, iCreated, iUpdated                  sql.NullInt64
			cVerified, cLocked, cTOTP                  sql.NullInt64
			cKey, cIndex, cEmail, cName, iIndex, iSeal []byte
		)
		if err := rows.Scan(&kind, &tKind, &tExp, &tUsed, &fID, &fCustomer, &fCreated, &fSeen, &fRecent,
			&cID, &cKey, &cIndex, &cEmail, &cVerified, &cName, &cPass, &cCr, &cUp, &cLocked, &cTOTP,
			&iID, &iIndex, &iSeal, &iCreated, &iUpdated); err != nil {
			return AppAccess{}, fmt.Errorf("read token: %w", err)
		}
		switch kind {
		case 0:
			head = true
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
		return AppAccess{}, fmt.Errorf("read token: %w", busy(err))
	}
	if !head {
		return AppAccess{}, errNotFound("token")
	}
	for i := range out.Phones {
		out.Phones[i].CustomerID = out.Customer.ID
	}
	for i := range out.Addresses {
		out.Addresses[i].CustomerID = out.Customer.ID
	}
	sortContacts(out.Phones, out.Addresses)
	return out, nil
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
