package account

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/mail"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/vault"
)

// RegisterInput is what a new customer gives.
type RegisterInput struct {
	Email    string
	Password string
	Name     string
	Lang     string     // for the mail
	Client   netip.Addr // the client's address: sign-ups are bounded per network
}

// Register creates an account and sends a verification link. If the
// address is already registered it changes nothing and mails the owner
// instead, and answers exactly the same, after the same work (one password
// hash), so the answer does not tell whether an address has an account.
//
// Every registration mails someone, so it is bounded before anything is
// looked up or written: per client network (sign-ups, and unsolicited mail
// with reset requests) and by the outbox's ceiling; past either, 429 with
// Retry-After, the same whether or not the address is taken.
func (s *Service) Register(ctx context.Context, in RegisterInput) error {
	email, err := resguardo.ParseEmail(in.Email)
	if err != nil {
		return err
	}
	name, err := resguardo.CleanText("name", in.Name, 1, 200)
	if err != nil {
		return err
	}
	if err := auth.CheckPassword(in.Password); err != nil {
		return err
	}
	index, err := s.vault.BlindIndex(indexEmail, string(email))
	if err != nil {
		return err
	}
	if err := s.admitUnsolicited(ctx, in.Client, keySignUp, keyUnsolicited); err != nil {
		return err
	}
	// Hash first, whatever happens next: both outcomes cost one hash.
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return err
	}
	existing, err := s.customerByEmail(ctx, email)
	switch {
	case err == nil:
		return s.notifyExisting(ctx, existing, email, in.Lang)
	case resguardo.ErrorCode(err) != resguardo.ENotFound:
		return err
	}

	id := newID()
	wrapped, err := s.vault.NewDataKey(id)
	if err != nil {
		return err
	}
	row := sqlstore.CustomerRow{ID: id, DataKey: wrapped, EmailIndex: index, PasswordHash: hash}
	dk, err := s.dataKey(row)
	if err != nil {
		return err
	}
	if row.EmailSealed, err = dk.Seal([]byte(email), cEmail.Table, cEmail.Column, id); err != nil {
		return err
	}
	if row.NameSealed, err = dk.Seal([]byte(name), cName.Table, cName.Column, id); err != nil {
		return err
	}
	row.CreatedAt = s.now().Unix()
	row.UpdatedAt = row.CreatedAt
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.InsertCustomer(ctx, row); err != nil {
			return err
		}
		if err := s.audit.Append(ctx, c, event(resguardo.ActSignUp, id, resguardo.OutcomeSuccess)); err != nil {
			return err
		}
		return s.sendVerification(ctx, c, row, dk, email, in.Lang)
	})
	if errors.Is(err, sqlstore.ErrEmailTaken) {
		// Registered by someone else in the meantime: same answer as above.
		existing, err := s.customerByEmail(ctx, email)
		if err != nil {
			return err
		}
		return s.notifyExisting(ctx, existing, email, in.Lang)
	}
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	s.log.InfoContext(ctx, "customer registered", "customer", id)
	return nil
}

// notifyExisting tells an address's owner that someone tried to register it.
func (s *Service) notifyExisting(ctx context.Context, row sqlstore.CustomerRow, email resguardo.Email, lang string) error {
	if !s.mayMail(ctx, row.EmailIndex) {
		return nil
	}
	dk, err := s.dataKey(row)
	if err != nil {
		return err
	}
	m, err := compose(mail.KindAccountExists, lang, email, mail.Data{Link: s.o.BaseURL + "/login"})
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		// The owner sees in their access log that someone tried.
		if err := s.audit.Append(ctx, c, anonymous(resguardo.ActSignUp, row.ID, resguardo.OutcomeDenied)); err != nil {
			return err
		}
		return s.queueMail(ctx, c, row.ID, dk, m)
	})
}

// sendVerification issues a verification link for the current address.
func (s *Service) sendVerification(ctx context.Context, c sqlstore.Conn, row sqlstore.CustomerRow, dk *vault.DataKey, email resguardo.Email, lang string) error {
	token, hash := auth.NewToken()
	err := c.InsertEmailToken(ctx, sqlstore.EmailTokenRow{
		TokenHash: hash, CustomerID: row.ID, Purpose: purposeVerify, EmailIndex: row.EmailIndex,
		ExpiresAt: s.now().Add(s.o.VerifyTTL).Unix(),
	})
	if err != nil {
		return err
	}
	m, err := compose(mail.KindVerifyEmail, lang, email, mail.Data{
		Link: s.o.BaseURL + "/verify-email?token=" + url.QueryEscape(token), Minutes: int(s.o.VerifyTTL.Minutes()),
	})
	if err != nil {
		return err
	}
	return s.queueMail(ctx, c, row.ID, dk, m)
}

// Purposes of single-use e-mail tokens.
const (
	purposeVerify = "verify_email"
	purposeReset  = "password_reset"
)

// VerifyEmail consumes a verification link.
func (s *Service) VerifyEmail(ctx context.Context, token, lang string) error {
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		t, err := c.UseEmailToken(ctx, auth.TokenHash(token), purposeVerify, s.now().Unix())
		if resguardo.ErrorCode(err) == resguardo.ENotFound {
			// Not a sign-up link: perhaps the link confirming a new address.
			if t, err := c.UseEmailToken(ctx, auth.TokenHash(token), purposeChange, s.now().Unix()); err == nil {
				return s.confirmEmailChange(ctx, c, t, lang)
			}
		}
		if err != nil {
			return errBadLink
		}
		if err := c.MarkEmailVerified(ctx, t.CustomerID, t.EmailIndex, s.now().Unix()); err != nil {
			// The address changed since the link was sent.
			return errBadLink
		}
		return s.audit.Append(ctx, c, event(resguardo.ActEmailVerified, t.CustomerID, resguardo.OutcomeSuccess))
	})
}

var errBadLink = resguardo.Errorf(resguardo.EInvalid, "This link is not valid or has expired.")
