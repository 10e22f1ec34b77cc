package account

import (
	"context"
	"time"

	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// Known devices (OWASP's device cookies): a browser that completed a
// sign-in to an account gets a long-lived cookie with a random token, and
// the account records the token's hash. Its later sign-ins to that account
// count only against the device's own key, so an attacker who trips the
// account-wide or network-wide limits slows everyone but the owner.
const (
	// DeviceLifetime is how long a device stays known without a sign-in.
	DeviceLifetime = 180 * 24 * time.Hour
	// DevicesPerCustomer bounds the devices one account remembers; the
	// least recently used go first.
	DevicesPerCustomer = 20
)

// RememberDevice records that the browser that sent presented (its device
// cookie's token, or "") has just completed a sign-in to the customer's
// account, and returns the token the browser should keep. A browser keeps
// one token for every account it signs in to; a token is reused only if
// this server issued it (some account knows it), never one a client made
// up or had planted.
func (s *Service) RememberDevice(ctx context.Context, customerID, presented string) (string, error) {
	now := s.now()
	token := ""
	var hash []byte
	if presented != "" {
		h := auth.TokenHash(presented)
		known, err := s.db.Conn().DeviceIssued(ctx, h, now.Unix())
		if err != nil {
			return "", err
		}
		if known {
			token, hash = presented, h
		}
	}
	if token == "" {
		token, hash = auth.NewToken()
	}
	err := s.db.Tx(ctx, func(c sqlstore.Conn) error {
		d := sqlstore.KnownDeviceRow{TokenHash: hash, CustomerID: customerID, CreatedAt: now.Unix(), LastUsedAt: now.Unix(),
			ExpiresAt: now.Add(DeviceLifetime).Unix()}
		if err := c.RememberDevice(ctx, d); err != nil {
			return err
		}
		return c.TrimKnownDevices(ctx, customerID, DevicesPerCustomer, now.Unix())
	})
	if err != nil {
		return "", err
	}
	return token, nil
}
