package account

import (
	"context"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// What the back office needs of the customer side: finding a customer, and
// turning a second factor off (which needs the customer's key and mail).
// The staff package owns the operations themselves (their permission, their
// audit entry, locking and ending sessions); it passes the staff member as
// the actor, whom the audit entries name with their role.

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

// ResetSecondFactor turns a customer's TOTP off (a lead, after checking the
// caller's identity by other means): every session and app sign-in ends and
// the customer is told by mail.
func (s *Service) ResetSecondFactor(ctx context.Context, by resguardo.Actor, customerID, lang string) error {
	return s.secondFactorChanged(ctx, by, Principal{CustomerID: customerID}, lang, resguardo.ActCustomerMFAReset, func(c sqlstore.Conn) error {
		// Passkeys are second factors too: a reset removes them with TOTP
		// and the recovery codes; not found only when there was neither.
		n, err := c.DeleteCustomerPasskeys(ctx, customerID)
		if err != nil {
			return err
		}
		err = c.DeleteTOTP(ctx, customerID)
		if n > 0 && resguardo.ErrorCode(err) == resguardo.ENotFound {
			return nil // DeleteTOTP removed the recovery codes first
		}
		return err
	})
}

// errLocked is the answer to the right password of a locked account: only
// someone who knows the password learns that the account is locked.
var errLocked = resguardo.Errorf(resguardo.EForbidden, "This account is locked. Contact customer support.")
