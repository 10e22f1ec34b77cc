package account

import (
	"context"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/vault"
)

// Profile returns the customer's own profile, opened.
func (s *Service) Profile(ctx context.Context, customerID string) (resguardo.Customer, error) {
	conn := s.db.Conn()
	row, err := conn.CustomerByID(ctx, customerID)
	if err != nil {
		return resguardo.Customer{}, err
	}
	phones, addrs, err := conn.Contacts(ctx, customerID)
	if err != nil {
		return resguardo.Customer{}, err
	}
	return s.openProfile(row, phones, addrs)
}

// openProfile opens a customer's sealed fields and contacts.
func (s *Service) openProfile(row sqlstore.CustomerRow, phones []sqlstore.PhoneRow, addrs []sqlstore.AddressRow) (resguardo.Customer, error) {
	dk, err := s.dataKey(row)
	if err != nil {
		return resguardo.Customer{}, err
	}
	c := resguardo.Customer{ID: row.ID, EmailVerified: row.EmailVerified, CreatedAt: time.Unix(row.CreatedAt, 0).UTC(),
		TOTPEnabled: row.TOTPEnabled, Locked: row.Locked,
		Phones: make([]resguardo.Phone, 0, len(phones)), Addresses: make([]resguardo.Address, 0, len(addrs))}
	email, err := s.openString(dk, row.EmailSealed, cEmail.Table, cEmail.Column, row.ID)
	if err != nil {
		return c, err
	}
	c.Email = resguardo.Email(email)
	if c.Name, err = s.openString(dk, row.NameSealed, cName.Table, cName.Column, row.ID); err != nil {
		return c, err
	}
	for _, p := range phones {
		var ph resguardo.Phone
		if err := openJSON(dk, p.Sealed, &ph, cPhone.Table, cPhone.Column, p.ID); err != nil {
			return c, err
		}
		ph.ID = p.ID
		c.Phones = append(c.Phones, ph)
	}
	for _, a := range addrs {
		var ad resguardo.Address
		if err := openJSON(dk, a.Sealed, &ad, cAddress.Table, cAddress.Column, a.ID); err != nil {
			return c, err
		}
		ad.ID = a.ID
		c.Addresses = append(c.Addresses, ad)
	}
	return c, nil
}

// customerKey loads the data key of a customer.
func (s *Service) customerKey(ctx context.Context, customerID string) (*vault.DataKey, error) {
	row, err := s.db.Conn().CustomerByID(ctx, customerID)
	if err != nil {
		return nil, err
	}
	return s.dataKey(row)
}

// UpdateName changes the customer's name.
func (s *Service) UpdateName(ctx context.Context, by resguardo.Actor, customerID, nameIn string) error {
	name, err := resguardo.CleanText("name", nameIn, 1, 200)
	if err != nil {
		return err
	}
	dk, err := s.customerKey(ctx, customerID)
	if err != nil {
		return err
	}
	sealed, err := dk.Seal([]byte(name), cName.Table, cName.Column, customerID)
	if err != nil {
		return err
	}
	return s.change(ctx, by, customerID, resguardo.ActProfileChanged, []string{"name"}, func(c sqlstore.Conn) error {
		return c.SetName(ctx, customerID, sealed, s.now().Unix())
	})
}

// change runs one change of a customer's data and its audit entry in one
// transaction.
func (s *Service) change(ctx context.Context, by resguardo.Actor, customerID, action string, fields []string, fn func(sqlstore.Conn) error) error {
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := fn(c); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, by.Event(action, resguardo.TargetCustomer, customerID, resguardo.OutcomeSuccess, fields...))
	})
}

// AddPhone adds a phone number given with its country code; past
// resguardo.MaxPhones it is refused (conflict) and nothing changes.
func (s *Service) AddPhone(ctx context.Context, by resguardo.Actor, customerID, labelIn, numberIn string) (resguardo.Phone, error) {
	number, err := resguardo.ParsePhone(numberIn)
	if err != nil {
		return resguardo.Phone{}, err
	}
	label, err := resguardo.CleanText("label", labelIn, 0, 40)
	if err != nil {
		return resguardo.Phone{}, err
	}
	dk, err := s.customerKey(ctx, customerID)
	if err != nil {
		return resguardo.Phone{}, err
	}
	index, err := s.vault.BlindIndex(indexPhone, number)
	if err != nil {
		return resguardo.Phone{}, err
	}
	ph := resguardo.Phone{ID: newID(), Label: label, Number: number}
	sealed, err := sealJSON(dk, resguardo.Phone{Label: label, Number: number}, cPhone.Table, cPhone.Column, ph.ID)
	if err != nil {
		return resguardo.Phone{}, err
	}
	err = s.change(ctx, by, customerID, resguardo.ActPhoneAdded, []string{"phone"}, func(c sqlstore.Conn) error {
		if err := roomForPhone(ctx, c, customerID); err != nil {
			return err
		}
		return c.InsertPhone(ctx, sqlstore.PhoneRow{ID: ph.ID, CustomerID: customerID, NumberIndex: index, Sealed: sealed, CreatedAt: s.now().Unix()})
	})
	return ph, err
}

// DeletePhone removes one of the customer's numbers.
func (s *Service) DeletePhone(ctx context.Context, by resguardo.Actor, customerID, id string) error {
	return s.change(ctx, by, customerID, resguardo.ActPhoneRemoved, []string{"phone"}, func(c sqlstore.Conn) error {
		return c.DeletePhone(ctx, customerID, id)
	})
}

// AddAddress adds a postal address; past resguardo.MaxAddresses it is
// refused (conflict) and nothing changes.
func (s *Service) AddAddress(ctx context.Context, by resguardo.Actor, customerID string, a resguardo.Address) (resguardo.Address, error) {
	a.ID = newID()
	return a, s.saveAddress(ctx, by, customerID, &a, true)
}

// UpdateAddress replaces one of the customer's addresses.
func (s *Service) UpdateAddress(ctx context.Context, by resguardo.Actor, customerID string, a resguardo.Address) (resguardo.Address, error) {
	return a, s.saveAddress(ctx, by, customerID, &a, false)
}

func (s *Service) saveAddress(ctx context.Context, by resguardo.Actor, customerID string, a *resguardo.Address, insert bool) error {
	if err := a.Clean(); err != nil {
		return err
	}
	dk, err := s.customerKey(ctx, customerID)
	if err != nil {
		return err
	}
	stored := *a
	stored.ID = "" // the id is the row's, bound as associated data
	sealed, err := sealJSON(dk, stored, cAddress.Table, cAddress.Column, a.ID)
	if err != nil {
		return err
	}
	now := s.now().Unix()
	if insert {
		return s.change(ctx, by, customerID, resguardo.ActAddressAdded, []string{"address"}, func(c sqlstore.Conn) error {
			if err := roomForAddress(ctx, c, customerID); err != nil {
				return err
			}
			return c.InsertAddress(ctx, sqlstore.AddressRow{ID: a.ID, CustomerID: customerID, Sealed: sealed, CreatedAt: now, UpdatedAt: now})
		})
	}
	return s.change(ctx, by, customerID, resguardo.ActAddressChanged, []string{"address"}, func(c sqlstore.Conn) error {
		return c.UpdateAddress(ctx, customerID, a.ID, sealed, now)
	})
}

// DeleteAddress removes one of the customer's addresses.
func (s *Service) DeleteAddress(ctx context.Context, by resguardo.Actor, customerID, id string) error {
	return s.change(ctx, by, customerID, resguardo.ActAddressRemoved, []string{"address"}, func(c sqlstore.Conn) error {
		return c.DeleteAddress(ctx, customerID, id)
	})
}
