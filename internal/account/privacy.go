package account

import (
	"context"
	"fmt"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// Export is everything resguardo holds about a customer, opened: what the
// customer may take away (right of access and portability).
type Export struct {
	Profile      resguardo.Customer
	PendingEmail string // a new address awaiting confirmation; "" if none
	Sessions     []SessionInfo
	Passkeys     []PasskeyInfo          // names and dates; never a credential's public key
	AccessLog    []resguardo.AuditEvent // newest first, every entry
	CreatedAt    time.Time
	ExportedAt   time.Time
}

// accessLogBatch is how many audit entries the export reads at a time.
const accessLogBatch = 100

// Export gathers the principal's own data and records that it was taken.
// The audit entry is written only once everything has been read, and the
// data is handed out only once the entry is written: no export goes
// unrecorded.
func (s *Service) Export(ctx context.Context, by resguardo.Actor, p Principal) (Export, error) {
	row, err := s.db.Conn().CustomerByID(ctx, p.CustomerID)
	if err != nil {
		return Export{}, err
	}
	out := Export{CreatedAt: time.Unix(row.CreatedAt, 0).UTC()}
	if out.Profile, err = s.Profile(ctx, p.CustomerID); err != nil {
		return Export{}, err
	}
	out.Profile.CreatedAt = out.CreatedAt
	if out.PendingEmail, err = s.pendingEmail(ctx, row); err != nil {
		return Export{}, err
	}
	if out.Sessions, err = s.Sessions(ctx, p); err != nil {
		return Export{}, err
	}
	if out.Passkeys, err = s.Passkeys(ctx, p.CustomerID); err != nil {
		return Export{}, err
	}
	if out.AccessLog, err = s.wholeAccessLog(ctx, p.CustomerID); err != nil {
		return Export{}, err
	}
	ev := by.Event(resguardo.ActDataExported, resguardo.TargetCustomer, p.CustomerID, resguardo.OutcomeSuccess, "email", "name", "phone", "address", "sessions", "passkeys", "access_log")
	if err := s.audit.Record(ctx, ev); err != nil {
		return Export{}, fmt.Errorf("record export: %w", err)
	}
	out.ExportedAt = s.now().UTC()
	return out, nil
}

// pendingEmail opens the address a customer asked to change to, if any.
func (s *Service) pendingEmail(ctx context.Context, row sqlstore.CustomerRow) (string, error) {
	_, sealed, err := s.db.Conn().PendingEmail(ctx, row.ID)
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	dk, err := s.dataKey(row)
	if err != nil {
		return "", err
	}
	return s.openString(dk, sealed, cPendingEmail.Table, cPendingEmail.Column, row.ID)
}

// wholeAccessLog reads every audit entry about the customer, newest first,
// a batch at a time through the same query as the access-log page.
func (s *Service) wholeAccessLog(ctx context.Context, customerID string) ([]resguardo.AuditEvent, error) {
	out := []resguardo.AuditEvent{}
	var before int64
	for {
		batch, err := s.AccessLog(ctx, customerID, before, accessLogBatch)
		if err != nil {
			return nil, err
		}
		out = append(out, batch...)
		if len(batch) < accessLogBatch {
			return out, nil
		}
		before = batch[len(batch)-1].ID
	}
}

// Erased is how many records of one kind an erasure deleted.
type Erased struct {
	What  string `json:"what"`
	Count int64  `json:"count"`
}

// Erasure is the answer to an erasure: what went, and what stays.
type Erasure struct {
	CustomerID string
	ErasedAt   time.Time
	Erased     []Erased
	Kept       string
}

// erasureKept is what an erasure leaves: the audit trail must stay whole to
// prove how the data was handled, and it never held personal values.
const erasureKept = "audit entries (ids only)"

// Erase deletes the principal's account (the route demands recent
// authentication). In one transaction, every row about the customer is
// deleted, the customers row last — it holds the only stored copy of the
// wrapped data key, so the key is destroyed with it and a sealed value
// that lingers (in free space, a log) can no longer be opened — and the
// erasure is audited by id. Every session and app token goes with the
// rows, so the credential that asked stops working at once. After the
// commit the unwrapped key is dropped from the vault's cache. Backups taken
// before hold the wrapped key too: they stay readable until the KEK that
// wrapped it is rotated out and retired.
func (s *Service) Erase(ctx context.Context, by resguardo.Actor, p Principal) (Erasure, error) {
	row, err := s.db.Conn().CustomerByID(ctx, p.CustomerID)
	if err != nil {
		return Erasure{}, err
	}
	names, prefixes, err := s.erasureThrottles(ctx, row)
	if err != nil {
		return Erasure{}, err
	}
	var rows []sqlstore.ErasedRows
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		var err error
		if rows, err = c.EraseCustomer(ctx, p.CustomerID, names, prefixes); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, by.Event(resguardo.ActAccountErased, resguardo.TargetCustomer, p.CustomerID, resguardo.OutcomeSuccess))
	})
	if err != nil {
		return Erasure{}, fmt.Errorf("erase customer %s: %w", p.CustomerID, err)
	}
	s.vault.Forget(p.CustomerID)
	if busy, err := s.db.Conn().FlushErased(ctx); err != nil || busy {
		// The erasure stands; the log is truncated at a later checkpoint.
		s.log.WarnContext(ctx, "write-ahead log not truncated after erasure", "busy", busy, "err", err)
	}
	s.log.InfoContext(ctx, "customer erased", "customer", p.CustomerID)
	out := Erasure{CustomerID: p.CustomerID, ErasedAt: s.now().UTC(), Kept: erasureKept}
	for _, r := range rows {
		out.Erased = append(out.Erased, Erased{What: r.What, Count: r.Count})
	}
	return out, nil
}

// erasureThrottles names the throttle records that hold the customer's id
// or their address's blind index in their name (see codeThrottleKeys,
// checkCurrentPassword, throttleKeys and mayMail): the ones keyed by id
// exactly or by prefix, and, for the current and any pending address under
// every blind-index key version, the sign-in ("an:") and mail ("ml:")
// records. Those stand for the address, so they go with it.
func (s *Service) erasureThrottles(ctx context.Context, row sqlstore.CustomerRow) (names, prefixes []string, err error) {
	names = []string{"pw:" + row.ID, "mc:" + row.ID}
	prefixes = []string{"mf:" + row.ID + "/"}
	indexes, err := s.addressIndexes(ctx, row)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, idx := range indexes {
		if len(idx) < 16 {
			continue // not an index we made; accountKey would panic
		}
		k := accountKey(idx)
		if seen[k] {
			continue
		}
		seen[k] = true
		names = append(names, "ml:"+k, "ac:"+k)
		prefixes = append(prefixes, "an:"+k+"/", "kd:"+k+"/")
	}
	return names, prefixes, nil
}

// addressIndexes returns the blind indexes, under every key version, of the
// customer's address and of a pending new address, plus the ones stored.
func (s *Service) addressIndexes(ctx context.Context, row sqlstore.CustomerRow) ([][]byte, error) {
	dk, err := s.dataKey(row)
	if err != nil {
		return nil, err
	}
	out := [][]byte{row.EmailIndex}
	add := func(sealed []byte, col sqlstore.SealedColumn) error {
		email, err := s.openString(dk, sealed, col.Table, col.Column, row.ID)
		if err != nil {
			return err
		}
		idx, err := s.vault.BlindIndexes(indexEmail, email)
		if err != nil {
			return err
		}
		out = append(out, idx...)
		return nil
	}
	if err := add(row.EmailSealed, cEmail); err != nil {
		return nil, err
	}
	pendingIndex, sealed, err := s.db.Conn().PendingEmail(ctx, row.ID)
	switch {
	case resguardo.ErrorCode(err) == resguardo.ENotFound:
		return out, nil
	case err != nil:
		return nil, err
	}
	out = append(out, pendingIndex)
	return out, add(sealed, cPendingEmail)
}
