package account

import (
	"context"

	"github.com/resguardo/resguardo"
)

// Finding a customer by a blind index, for the back office's search. The
// staff package owns the operations themselves (their permission, their
// audit entry); this file only reads the customer side.

// FindByEmail returns the id of the account with that address.
func (s *Service) FindByEmail(ctx context.Context, emailIn string) (string, error) {
	email, err := resguardo.ParseEmail(emailIn)
	if err != nil {
		return "", err
	}
	row, err := s.customerByEmail(ctx, email)
	if err != nil {
		return "", err
	}
	return row.ID, nil
}

// FindByPhone returns the ids of the accounts with that number (at most 20).
func (s *Service) FindByPhone(ctx context.Context, numberIn string) ([]string, error) {
	number, err := resguardo.ParsePhone(numberIn)
	if err != nil {
		return nil, err
	}
	indexes, err := s.vault.BlindIndexes(indexPhone, number)
	if err != nil {
		return nil, err
	}
	return s.db.Conn().CustomerIDsByPhoneIndex(ctx, 20, indexes...)
}

// Exists reports whether a customer id is known.
func (s *Service) Exists(ctx context.Context, id string) (bool, error) {
	_, err := s.db.Conn().CustomerByID(ctx, id)
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		return false, nil
	}
	return err == nil, err
}
