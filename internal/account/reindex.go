package account

import (
	"bytes"
	"context"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// Reindex recomputes every blind index of one customer under the primary
// blind-index key — the address, each phone number, a pending address, and
// the links bound to those addresses — inside the caller's transaction. It
// reports how many indexes changed; zero means the customer was already
// current, so running it again is harmless (a rotation can resume anywhere).
// A customer erased meanwhile is skipped.
func (s *Service) Reindex(ctx context.Context, c sqlstore.Conn, customerID string) (int, error) {
	row, err := c.CustomerByID(ctx, customerID)
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	dk, err := s.dataKey(row)
	if err != nil {
		return 0, err
	}
	changed := 0
	email, err := s.openString(dk, row.EmailSealed, cEmail.Table, cEmail.Column, row.ID)
	if err != nil {
		return 0, err
	}
	if next, err := s.vault.BlindIndex(indexEmail, email); err != nil {
		return 0, err
	} else if !bytes.Equal(next, row.EmailIndex) {
		if err := c.ReplaceEmailIndex(ctx, row.ID, row.EmailIndex, next); err != nil {
			return 0, err
		}
		changed++
	}
	phones, _, err := c.Contacts(ctx, row.ID)
	if err != nil {
		return 0, err
	}
	for _, p := range phones {
		var ph resguardo.Phone
		if err := openJSON(dk, p.Sealed, &ph, cPhone.Table, cPhone.Column, p.ID); err != nil {
			return 0, err
		}
		next, err := s.vault.BlindIndex(indexPhone, ph.Number)
		if err != nil {
			return 0, err
		}
		if !bytes.Equal(next, p.NumberIndex) {
			if err := c.ReplacePhoneIndex(ctx, row.ID, p.ID, next); err != nil {
				return 0, err
			}
			changed++
		}
	}
	index, sealed, err := c.PendingEmail(ctx, row.ID)
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		return changed, nil
	}
	if err != nil {
		return 0, err
	}
	pending, err := s.openString(dk, sealed, cPendingEmail.Table, cPendingEmail.Column, row.ID)
	if err != nil {
		return 0, err
	}
	next, err := s.vault.BlindIndex(indexEmail, pending)
	if err != nil {
		return 0, err
	}
	if !bytes.Equal(next, index) {
		if err := c.ReplacePendingEmailIndex(ctx, row.ID, index, next); err != nil {
			return 0, err
		}
		changed++
	}
	return changed, nil
}
