package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// WebSessionRow is a server-side web session. The cookie holds the token;
// only its hash is here.
type WebSessionRow struct {
	ID           string
	TokenHash    []byte
	CustomerID   string
	CSRFToken    string
	DeviceSealed []byte
	CreatedAt    int64
	LastSeenAt   int64
	ExpiresAt    int64 // absolute limit
	RecentAuthAt int64
	Client       string // coarse: network prefix and browser family
}

const webSessionColumns = `id, token_hash, customer_id, csrf_token, device_sealed, created_at, last_seen_at, expires_at, recent_auth_at, client`

func scanWebSession(row interface{ Scan(...any) error }) (WebSessionRow, error) {
	var s WebSessionRow
	err := row.Scan(&s.ID, &s.TokenHash, &s.CustomerID, &s.CSRFToken, &s.DeviceSealed, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &s.RecentAuthAt, &s.Client)
	if errors.Is(err, sql.ErrNoRows) {
		return s, errNotFound("session")
	}
	if err != nil {
		return s, fmt.Errorf("read session: %w", err)
	}
	return s, nil
}

// InsertWebSession stores a new session.
func (c Conn) InsertWebSession(ctx context.Context, s WebSessionRow) error {
	_, err := c.exec(ctx, `INSERT INTO web_sessions (`+webSessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.TokenHash, s.CustomerID, s.CSRFToken, s.DeviceSealed, s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.RecentAuthAt, s.Client)
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

// WebSessionByTokenHash finds a session by its token's hash.
func (c Conn) WebSessionByTokenHash(ctx context.Context, hash []byte) (WebSessionRow, error) {
	return scanWebSession(c.queryRow(ctx, `SELECT `+webSessionColumns+` FROM web_sessions WHERE token_hash = ?`, hash))
}

// WebSessions lists a customer's sessions.
func (c Conn) WebSessions(ctx context.Context, customerID string) ([]WebSessionRow, error) {
	rows, err := c.query(ctx, `SELECT `+webSessionColumns+` FROM web_sessions WHERE customer_id = ? ORDER BY created_at, id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []WebSessionRow
	for rows.Next() {
		s, err := scanWebSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// TouchWebSession records activity; it never moves last-seen back (two
// servers may flush out of order).
func (c Conn) TouchWebSession(ctx context.Context, id string, now int64) error {
	_, err := c.exec(ctx, `UPDATE web_sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`, now, id, now)
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteWebSession ends one session of a customer.
func (c Conn) DeleteWebSession(ctx context.Context, customerID, id string) error {
	res, err := c.exec(ctx, `DELETE FROM web_sessions WHERE id = ? AND customer_id = ?`, id, customerID)
	return affectedOne(res, err, "session")
}

// DeleteWebSessionsExcept ends every session of a customer but keepID ("" for
// all of them).
func (c Conn) DeleteWebSessionsExcept(ctx context.Context, customerID, keepID string) error {
	_, err := c.exec(ctx, `DELETE FROM web_sessions WHERE customer_id = ? AND id <> ?`, customerID, keepID)
	if err != nil {
		return fmt.Errorf("delete sessions: %w", err)
	}
	return nil
}

// TokenFamilyRow is one app sign-in (one device): its tokens rotate, the
// family stays.
type TokenFamilyRow struct {
	ID           string
	CustomerID   string
	DeviceSealed []byte
	CreatedAt    int64
	LastSeenAt   int64
	RecentAuthAt int64
	Client       string
}

// AppTokenRow is one access or refresh token, by hash.
type AppTokenRow struct {
	TokenHash []byte
	FamilyID  string
	Kind      string // "access" or "refresh"
	ExpiresAt int64
	UsedAt    sql.NullInt64
}

// InsertTokenFamily starts a family.
func (c Conn) InsertTokenFamily(ctx context.Context, f TokenFamilyRow) error {
	_, err := c.exec(ctx, `INSERT INTO token_families (id, customer_id, device_sealed, created_at, last_seen_at, recent_auth_at, client) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.CustomerID, f.DeviceSealed, f.CreatedAt, f.LastSeenAt, f.RecentAuthAt, f.Client)
	if err != nil {
		return fmt.Errorf("insert token family: %w", err)
	}
	return nil
}

// InsertAppToken stores a token's hash.
func (c Conn) InsertAppToken(ctx context.Context, t AppTokenRow) error {
	_, err := c.exec(ctx, `INSERT INTO app_tokens (token_hash, family_id, kind, expires_at, used_at) VALUES (?, ?, ?, ?, ?)`,
		t.TokenHash, t.FamilyID, t.Kind, t.ExpiresAt, t.UsedAt)
	if err != nil {
		return fmt.Errorf("insert token: %w", err)
	}
	return nil
}

// AppTokenByHash finds a token and its family in one query: the hot path of
// every API request.
func (c Conn) AppTokenByHash(ctx context.Context, hash []byte) (AppTokenRow, TokenFamilyRow, error) {
	var t AppTokenRow
	var f TokenFamilyRow
	err := c.queryRow(ctx, `SELECT t.token_hash, t.family_id, t.kind, t.expires_at, t.used_at,
		f.id, f.customer_id, f.device_sealed, f.created_at, f.last_seen_at, f.recent_auth_at
		FROM app_tokens t JOIN token_families f ON f.id = t.family_id WHERE t.token_hash = ?`, hash).
		Scan(&t.TokenHash, &t.FamilyID, &t.Kind, &t.ExpiresAt, &t.UsedAt,
			&f.ID, &f.CustomerID, &f.DeviceSealed, &f.CreatedAt, &f.LastSeenAt, &f.RecentAuthAt)
	if errors.Is(err, sql.ErrNoRows) {
		return t, f, errNotFound("token")
	}
	if err != nil {
		return t, f, fmt.Errorf("read token: %w", err)
	}
	return t, f, nil
}

// MarkRefreshUsed marks a refresh token used, only if it was not already:
// false means someone used it before (a replay).
func (c Conn) MarkRefreshUsed(ctx context.Context, hash []byte, now int64) (bool, error) {
	res, err := c.exec(ctx, `UPDATE app_tokens SET used_at = ? WHERE token_hash = ? AND kind = 'refresh' AND used_at IS NULL`, now, hash)
	if err != nil {
		return false, fmt.Errorf("use refresh token: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RetireAccessTokens deletes a family's access tokens, at a refresh, so
// that the access token issued with the previous refresh token stops
// working. It reads the hashes and deletes each by primary key: InnoDB then
// locks those rows only, not the gap of the family index that a DELETE by
// family would lock and that other families' sign-ins insert into.
func (c Conn) RetireAccessTokens(ctx context.Context, familyID string) error {
	rows, err := c.query(ctx, `SELECT token_hash FROM app_tokens WHERE family_id = ? AND kind = 'access'`, familyID)
	if err != nil {
		return fmt.Errorf("read access tokens: %w", err)
	}
	var hashes [][]byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			_ = rows.Close()
			return fmt.Errorf("read access token: %w", err)
		}
		hashes = append(hashes, h)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("read access tokens: %w", err)
	}
	for _, h := range hashes {
		if _, err := c.exec(ctx, `DELETE FROM app_tokens WHERE token_hash = ? AND kind = 'access'`, h); err != nil {
			return fmt.Errorf("retire access token: %w", err)
		}
	}
	return nil
}

// TouchTokenFamily records activity; it never moves last-seen back.
func (c Conn) TouchTokenFamily(ctx context.Context, id string, now int64) error {
	_, err := c.exec(ctx, `UPDATE token_families SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`, now, id, now)
	if err != nil {
		return fmt.Errorf("touch token family: %w", err)
	}
	return nil
}

// TokenFamilies lists a customer's app sign-ins.
func (c Conn) TokenFamilies(ctx context.Context, customerID string) ([]TokenFamilyRow, error) {
	rows, err := c.query(ctx, `SELECT id, customer_id, device_sealed, created_at, last_seen_at, recent_auth_at, client FROM token_families WHERE customer_id = ? ORDER BY created_at, id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("list token families: %w", err)
	}
	defer rows.Close()
	var out []TokenFamilyRow
	for rows.Next() {
		var f TokenFamilyRow
		if err := rows.Scan(&f.ID, &f.CustomerID, &f.DeviceSealed, &f.CreatedAt, &f.LastSeenAt, &f.RecentAuthAt, &f.Client); err != nil {
			return nil, fmt.Errorf("read token family: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// DeleteTokenFamily revokes a family and, by cascade, all of its tokens.
func (c Conn) DeleteTokenFamily(ctx context.Context, customerID, id string) error {
	res, err := c.exec(ctx, `DELETE FROM token_families WHERE id = ? AND customer_id = ?`, id, customerID)
	return affectedOne(res, err, "device")
}

// DeleteTokenFamiliesExcept revokes every family of a customer but keepID.
func (c Conn) DeleteTokenFamiliesExcept(ctx context.Context, customerID, keepID string) error {
	_, err := c.exec(ctx, `DELETE FROM token_families WHERE customer_id = ? AND id <> ?`, customerID, keepID)
	if err != nil {
		return fmt.Errorf("delete token families: %w", err)
	}
	return nil
}

// MarkRecentAuth records a fresh password or second-factor check on an app
// token family.
func (c Conn) MarkRecentAuth(ctx context.Context, customerID, familyID string, now int64) error {
	res, err := c.exec(ctx, `UPDATE token_families SET recent_auth_at = ? WHERE id = ? AND customer_id = ?`, now, familyID, customerID)
	return affectedOne(res, err, "session")
}

// ReissueWebSession records a fresh password or second-factor check on a
// web session and gives it a new token (its hash): the session keeps its
// id, creation and expiry; the token from before stops working.
func (c Conn) ReissueWebSession(ctx context.Context, customerID, id string, tokenHash []byte, now int64) error {
	res, err := c.exec(ctx, `UPDATE web_sessions SET token_hash = ?, recent_auth_at = ? WHERE id = ? AND customer_id = ?`, tokenHash, now, id, customerID)
	return affectedOne(res, err, "session")
}

// WebSessionIDsByUse lists a customer's web session ids, the most recently
// used first. To trim them to a bound, call it first in the transaction,
// after LockCustomer: on MySQL the transaction's snapshot is then taken
// once every earlier sign-in of the customer has committed. (A locking read
// here would hold every session row, and a concurrent refresh or sign-out
// appending to the audit trail could deadlock against it.)
func (c Conn) WebSessionIDsByUse(ctx context.Context, customerID string) ([]string, error) {
	return c.listIDs(ctx, `SELECT id FROM web_sessions WHERE customer_id = ? ORDER BY last_seen_at DESC, created_at DESC, id DESC`, customerID)
}

// TokenFamilyIDsByUse lists a customer's app sign-ins as
// WebSessionIDsByUse does web sessions.
func (c Conn) TokenFamilyIDsByUse(ctx context.Context, customerID string) ([]string, error) {
	return c.listIDs(ctx, `SELECT id FROM token_families WHERE customer_id = ? ORDER BY last_seen_at DESC, created_at DESC, id DESC`, customerID)
}

// listIDs runs a query that selects one text column.
func (c Conn) listIDs(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := c.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list ids: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read id: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
