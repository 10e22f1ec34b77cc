package account

import (
	"context"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/mail"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// newAccountGrace is how old an account must be before its sign-ins from
// new devices are mailed about: the first sign-ins after registering are
// expected.
const newAccountGrace = 10 * time.Minute

// notifyIfNewDevice mails the customer when a sign-in comes from a device
// name none of their current sessions or app sign-ins has, inside the
// transaction that starts the session.
func (s *Service) notifyIfNewDevice(ctx context.Context, c sqlstore.Conn, row sqlstore.CustomerRow, device, lang string) error {
	if s.now().Sub(time.Unix(row.CreatedAt, 0)) < newAccountGrace {
		return nil
	}
	dk, err := s.dataKey(row)
	if err != nil {
		return err
	}
	web, err := c.WebSessions(ctx, row.ID)
	if err != nil {
		return err
	}
	for _, w := range web {
		if d, err := s.openString(dk, w.DeviceSealed, cSessionDevice.Table, cSessionDevice.Column, w.ID); err == nil && d == device {
			return nil
		}
	}
	fams, err := c.TokenFamilies(ctx, row.ID)
	if err != nil {
		return err
	}
	for _, f := range fams {
		if d, err := s.openString(dk, f.DeviceSealed, cFamilyDevice.Table, cFamilyDevice.Column, f.ID); err == nil && d == device {
			return nil
		}
	}
	email, err := s.openString(dk, row.EmailSealed, cEmail.Table, cEmail.Column, row.ID)
	if err != nil {
		return err
	}
	m, err := compose(mail.KindNewSignIn, lang, resguardo.Email(email), mail.Data{Device: device, Link: s.o.BaseURL + "/account/security"})
	if err != nil {
		// The device name comes from the client; a name the mail cannot
		// carry must not turn into a failed sign-in.
		s.log.WarnContext(ctx, "new sign-in mail not composed", "err", err)
		return nil
	}
	return s.queueMail(ctx, c, row.ID, dk, m)
}
