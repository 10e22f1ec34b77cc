package account

import (
	"context"
	"errors"
	"net/url"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/mail"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

const purposeChange = "change_email"

// RequestEmailChange mails a confirmation link to a new address (the route
// demands recent authentication). Nothing changes until the link is
// followed. An address another account has gets the same answer, the same
// work and the same access-log entry, but no mail and no link, so neither
// the answer, its time nor the customer's own log tells whether it is
// registered.
func (s *Service) RequestEmailChange(ctx context.Context, by resguardo.Actor, p Principal, emailIn, lang string) error {
	email, err := resguardo.ParseEmail(emailIn)
	if err != nil {
		return err
	}
	index, err := s.vault.BlindIndex(indexEmail, string(email))
	if err != nil {
		return err
	}
	taken := false
	if _, err := s.customerByEmail(ctx, email); err == nil {
		taken = true // perhaps by this very account
	} else if resguardo.ErrorCode(err) != resguardo.ENotFound {
		return err
	}
	send := s.mayMail(ctx, index) && !taken
	dk, err := s.customerKey(ctx, p.CustomerID)
	if err != nil {
		return err
	}
	sealed, err := dk.Seal([]byte(email), cPendingEmail.Table, cPendingEmail.Column, p.CustomerID)
	if err != nil {
		return err
	}
	token, hash := auth.NewToken()
	m, err := compose(mail.KindVerifyEmail, lang, email, mail.Data{
		Link: s.o.BaseURL + "/verify-email?token=" + url.QueryEscape(token), Minutes: int(s.o.VerifyTTL.Minutes()),
	})
	if err != nil {
		return err
	}
	return s.change(ctx, by, p.CustomerID, resguardo.ActEmailChangeAsked, []string{"email"}, func(c sqlstore.Conn) error {
		if err := c.DeleteEmailTokens(ctx, p.CustomerID, purposeChange); err != nil {
			return err
		}
		if !send {
			return nil
		}
		if err := c.PutPendingEmail(ctx, p.CustomerID, index, sealed, s.now().Unix()); err != nil {
			return err
		}
		err := c.InsertEmailToken(ctx, sqlstore.EmailTokenRow{TokenHash: hash, CustomerID: p.CustomerID, Purpose: purposeChange,
			EmailIndex: index, ExpiresAt: s.now().Add(s.o.VerifyTTL).Unix()})
		if err != nil {
			return err
		}
		return s.queueMail(ctx, c, p.CustomerID, dk, m)
	})
}

// confirmEmailChange completes a change from its link: the new address
// replaces the old (verified), every session and app sign-in ends, and the
// old address is told.
func (s *Service) confirmEmailChange(ctx context.Context, c sqlstore.Conn, t sqlstore.EmailTokenRow, lang string) error {
	row, err := c.CustomerByID(ctx, t.CustomerID)
	if err != nil {
		return err
	}
	dk, err := s.dataKey(row)
	if err != nil {
		return err
	}
	pending, err := c.TakePendingEmail(ctx, row.ID, t.EmailIndex)
	if err != nil {
		return errBadLink
	}
	newEmail, err := dk.Open(pending, cPendingEmail.Table, cPendingEmail.Column, row.ID)
	if err != nil {
		return err
	}
	oldEmail, err := s.openString(dk, row.EmailSealed, cEmail.Table, cEmail.Column, row.ID)
	if err != nil {
		return err
	}
	sealed, err := dk.Seal(newEmail, cEmail.Table, cEmail.Column, row.ID)
	if err != nil {
		return err
	}
	if err := c.SetEmail(ctx, row.ID, t.EmailIndex, sealed, s.now().Unix()); err != nil {
		if errors.Is(err, sqlstore.ErrEmailTaken) {
			return errBadLink // someone registered it meanwhile
		}
		return err
	}
	if err := revokeOthers(ctx, c, Principal{CustomerID: row.ID}); err != nil {
		return err
	}
	m, err := compose(mail.KindEmailChanged, lang, resguardo.Email(oldEmail), mail.Data{})
	if err != nil {
		return err
	}
	if err := s.queueMail(ctx, c, row.ID, dk, m); err != nil {
		return err
	}
	return s.audit.Append(ctx, c, event(resguardo.ActEmailChanged, row.ID, resguardo.OutcomeSuccess, "email"))
}
