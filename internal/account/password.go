package account

import (
	"context"
	"net/url"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/mail"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

var errWrongPassword = &resguardo.Error{Code: resguardo.EInvalid, Message: "The current password is not correct.",
	Fields: []resguardo.FieldProblem{{Field: "current_password", Detail: "is not correct"}}}

// ChangePassword replaces the password of the principal's customer after
// checking the current one, and ends every other session and app sign-in.
// Wrong current passwords count against the account like failed sign-ins.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next, lang string) error {
	if err := auth.CheckPassword(next); err != nil {
		return err
	}
	row, err := s.db.Conn().CustomerByID(ctx, p.CustomerID)
	if err != nil {
		return err
	}
	key := "an:" + p.CustomerID + "/pw"
	if _, err := s.checkThrottle(ctx, key); err != nil {
		return err
	}
	ok, _, err := s.hasher.Verify(ctx, current, row.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		if err := s.recordFailure(ctx, key); err != nil {
			return err
		}
		return errWrongPassword
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	return s.setPassword(ctx, row, hash, &p, lang)
}

// setPassword stores a new hash, revokes sessions (all, or all but keep's)
// and notifies the owner, in one transaction.
func (s *Service) setPassword(ctx context.Context, row sqlstore.CustomerRow, hash string, keep *Principal, lang string) error {
	dk, err := s.dataKey(row)
	if err != nil {
		return err
	}
	email, err := s.openString(dk, row.EmailSealed, tCustomers, "email_sealed", row.ID)
	if err != nil {
		return err
	}
	m, err := compose(mail.KindPasswordChanged, lang, resguardo.Email(email), mail.Data{Link: s.o.BaseURL + "/password/forgot"})
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.SetPasswordHash(ctx, row.ID, hash, s.now().Unix()); err != nil {
			return err
		}
		except := Principal{CustomerID: row.ID}
		if keep != nil {
			except = *keep
		}
		if err := revokeOthers(ctx, c, except); err != nil {
			return err
		}
		if err := c.DeleteEmailTokens(ctx, row.ID, purposeReset); err != nil {
			return err
		}
		return s.queueMail(ctx, c, row.ID, dk, m)
	})
}

// ForgotPassword mails a reset link if the address has an account. The
// answer is the same either way.
func (s *Service) ForgotPassword(ctx context.Context, emailIn, lang string) error {
	email, err := resguardo.ParseEmail(emailIn)
	if err != nil {
		return err
	}
	index, err := s.vault.BlindIndex(indexEmail, string(email))
	if err != nil {
		return err
	}
	row, err := s.db.Conn().CustomerByEmailIndex(ctx, index)
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		return nil
	}
	if err != nil {
		return err
	}
	dk, err := s.dataKey(row)
	if err != nil {
		return err
	}
	token, hash := auth.NewToken()
	m, err := compose(mail.KindPasswordReset, lang, email, mail.Data{
		Link: s.o.BaseURL + "/password/reset?token=" + url.QueryEscape(token), Minutes: int(s.o.ResetTTL.Minutes()),
	})
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		err := c.InsertEmailToken(ctx, sqlstore.EmailTokenRow{TokenHash: hash, CustomerID: row.ID, Purpose: purposeReset,
			EmailIndex: row.EmailIndex, ExpiresAt: s.now().Add(s.o.ResetTTL).Unix()})
		if err != nil {
			return err
		}
		return s.queueMail(ctx, c, row.ID, dk, m)
	})
}

// ResetPassword consumes a reset link and sets a new password; every
// session and app sign-in of the account ends. Following the link proves
// control of the address, so it also counts as verifying it.
func (s *Service) ResetPassword(ctx context.Context, token, next, lang string) error {
	if err := auth.CheckPassword(next); err != nil {
		return err
	}
	var t sqlstore.EmailTokenRow
	err := s.db.Tx(ctx, func(c sqlstore.Conn) error {
		var err error
		t, err = c.UseEmailToken(ctx, auth.TokenHash(token), purposeReset, s.now().Unix())
		return err
	})
	if err != nil {
		return errBadLink
	}
	row, err := s.db.Conn().CustomerByID(ctx, t.CustomerID)
	if err != nil {
		return err
	}
	if string(row.EmailIndex) != string(t.EmailIndex) {
		return errBadLink // the address changed since the link was sent
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	if err := s.setPassword(ctx, row, hash, nil, lang); err != nil {
		return err
	}
	return s.db.Conn().MarkEmailVerified(ctx, row.ID, row.EmailIndex, s.now().Unix())
}

// ReplaceWebSession rotates the principal's web session token after a
// privilege change: the old cookie stops working at once.
func (s *Service) ReplaceWebSession(ctx context.Context, p Principal, device string) (string, Principal, error) {
	if err := s.db.Conn().DeleteWebSession(ctx, p.CustomerID, p.SessionID); err != nil {
		return "", Principal{}, err
	}
	return s.StartWebSession(ctx, p.CustomerID, device)
}
