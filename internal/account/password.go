package account

import (
	"context"
	"net/netip"
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
	row, err := s.checkCurrentPassword(ctx, p.CustomerID, current, errWrongPassword)
	if err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	return s.setPassword(ctx, row, hash, &p, lang, resguardo.ActPasswordChanged, nil)
}

// setPassword stores a new hash, revokes sessions (all, or all but keep's)
// and notifies the owner, in one transaction, after before (if any) has run
// in it.
func (s *Service) setPassword(ctx context.Context, row sqlstore.CustomerRow, hash string, keep *Principal, lang, action string, before func(sqlstore.Conn) error) error {
	dk, err := s.dataKey(row)
	if err != nil {
		return err
	}
	email, err := s.openString(dk, row.EmailSealed, cEmail.Table, cEmail.Column, row.ID)
	if err != nil {
		return err
	}
	m, err := compose(mail.KindPasswordChanged, lang, resguardo.Email(email), mail.Data{Link: s.o.BaseURL + "/password/forgot"})
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if before != nil {
			if err := before(c); err != nil {
				return err
			}
		}
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
		if err := s.audit.Append(ctx, c, event(action, row.ID, resguardo.OutcomeSuccess, "password")); err != nil {
			return err
		}
		if err := s.audit.Append(ctx, c, event(resguardo.ActSessionsRevoked, row.ID, resguardo.OutcomeSuccess)); err != nil {
			return err
		}
		if err := c.DeleteEmailTokens(ctx, row.ID, purposeReset); err != nil {
			return err
		}
		return s.queueMail(ctx, c, row.ID, dk, m)
	})
}

// ForgotPassword mails a reset link if the address has an account. It
// answers at once and does the work in the background, so neither the
// answer nor its timing tells whether the address has an account. Every
// request counts against the client network's unsolicited mail, and none
// is taken while the outbox is over its ceiling (429 with Retry-After).
func (s *Service) ForgotPassword(ctx context.Context, emailIn, lang string, client netip.Addr) error {
	email, err := resguardo.ParseEmail(emailIn)
	if err != nil {
		return err
	}
	if err := s.admitUnsolicited(ctx, client, keyUnsolicited); err != nil {
		return err
	}
	s.background(ctx, "password reset mail", func(ctx context.Context) error { return s.sendReset(ctx, email, lang) })
	return nil
}

func (s *Service) sendReset(ctx context.Context, email resguardo.Email, lang string) error {
	row, err := s.customerByEmail(ctx, email)
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if !s.mayMail(ctx, row.EmailIndex) {
		return nil
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
		// One outstanding link at a time: a new request voids the older.
		if err := c.DeleteEmailTokens(ctx, row.ID, purposeReset); err != nil {
			return err
		}
		err := c.InsertEmailToken(ctx, sqlstore.EmailTokenRow{TokenHash: hash, CustomerID: row.ID, Purpose: purposeReset,
			EmailIndex: row.EmailIndex, ExpiresAt: s.now().Add(s.o.ResetTTL).Unix()})
		if err != nil {
			return err
		}
		return s.queueMail(ctx, c, row.ID, dk, m)
	})
}

// mayMail counts one unsolicited mail (reset link, "someone tried to
// register") to an address, and says no past three an hour, so that nobody
// can flood a customer's inbox through us.
func (s *Service) mayMail(ctx context.Context, emailIndex []byte) bool {
	_, err := s.claimAttempt(ctx, "ml:"+accountKey(emailIndex))
	if err != nil && resguardo.ErrorCode(err) != resguardo.ERateLimited {
		s.log.WarnContext(ctx, "mail limit", "err", err)
	}
	return err == nil
}

// ResetPassword consumes a reset link and sets a new password; every
// session and app sign-in of the account ends, and the account's sign-in
// throttles are cleared. The link is consumed in the same transaction as
// the change, so a failure (say, busy hashing) leaves it usable. Following
// the link proves control of the address, so it also verifies it.
func (s *Service) ResetPassword(ctx context.Context, token, next, lang string) error {
	if err := auth.CheckPassword(next); err != nil {
		return err
	}
	row, err := s.resetTarget(ctx, token)
	if err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	consume := func(c sqlstore.Conn) error {
		t, err := c.UseEmailToken(ctx, auth.TokenHash(token), purposeReset, s.now().Unix())
		if err != nil || t.CustomerID != row.ID {
			return errBadLink
		}
		if err := c.MarkEmailVerified(ctx, row.ID, row.EmailIndex, s.now().Unix()); err != nil {
			return err
		}
		// The owner proved control of the address: the account's guessing
		// counts go, and so do its known devices (whoever reset the
		// password decides afresh which browsers are trusted).
		acct := accountKey(row.EmailIndex)
		for _, prefix := range []string{"an:" + acct + "/", "kd:" + acct + "/"} {
			if err := c.ClearThrottlePrefix(ctx, prefix); err != nil {
				return err
			}
		}
		if err := c.ClearThrottle(ctx, "ac:"+acct); err != nil {
			return err
		}
		return c.ForgetKnownDevices(ctx, row.ID)
	}
	return s.setPassword(ctx, row, hash, nil, lang, resguardo.ActPasswordReset, consume)
}

// resetTarget finds the customer of a live reset link, without consuming it.
func (s *Service) resetTarget(ctx context.Context, token string) (sqlstore.CustomerRow, error) {
	t, err := s.db.Conn().EmailToken(ctx, auth.TokenHash(token), purposeReset, s.now().Unix())
	if err != nil {
		return sqlstore.CustomerRow{}, errBadLink
	}
	row, err := s.db.Conn().CustomerByID(ctx, t.CustomerID)
	if err != nil {
		return row, err
	}
	if string(row.EmailIndex) != string(t.EmailIndex) {
		return row, errBadLink // the address changed since the link was sent
	}
	return row, nil
}

// ReplaceWebSession rotates the principal's web session token after a
// privilege change: the old cookie stops working at once.
func (s *Service) ReplaceWebSession(ctx context.Context, p Principal, device, lang string) (string, Principal, error) {
	if err := s.db.Conn().DeleteWebSession(ctx, p.CustomerID, p.SessionID); err != nil {
		return "", Principal{}, err
	}
	return s.StartWebSession(ctx, p.CustomerID, device, lang)
}
