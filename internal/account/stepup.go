package account

import (
	"context"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

var errReauthFailed = &resguardo.Error{Code: resguardo.EInvalid, Message: "The password is not correct.",
	Fields: []resguardo.FieldProblem{{Field: "password", Detail: "is not correct"}}}

// Reauthenticate checks the principal's password again and marks the
// session or app sign-in as recently authenticated (step-up). Wrong
// passwords count against the account like failed sign-ins.
func (s *Service) Reauthenticate(ctx context.Context, p Principal, password string) (string, error) {
	if _, err := s.checkCurrentPassword(ctx, p.CustomerID, password, errReauthFailed); err != nil {
		if err == errReauthFailed {
			if aerr := s.audit.Record(ctx, event(resguardo.ActReauthFailed, p.CustomerID, resguardo.OutcomeFailure)); aerr != nil {
				return "", aerr
			}
		}
		return "", err
	}
	var token string
	err := s.db.Tx(ctx, func(c sqlstore.Conn) error {
		var err error
		if token, err = s.markRecent(ctx, c, p); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, event(resguardo.ActReauth, p.CustomerID, resguardo.OutcomeSuccess))
	})
	return token, err
}

// markRecent records a fresh check on the principal's session. A web
// session also gets a new token, returned to be set as its cookie ("" for
// an app sign-in): a re-authentication, like a sign-in, never keeps the
// token from before it.
func (s *Service) markRecent(ctx context.Context, c sqlstore.Conn, p Principal) (string, error) {
	now := s.now().Unix()
	if p.Kind != KindWeb {
		return "", c.MarkRecentAuth(ctx, p.CustomerID, p.SessionID, now)
	}
	token, hash := auth.NewToken()
	return token, c.ReissueWebSession(ctx, p.CustomerID, p.SessionID, hash, now)
}

// checkCurrentPassword verifies a signed-in customer's password, counted
// like a sign-in attempt (so it cannot be guessed through this door
// either); wrong is the error answered on a mismatch.
func (s *Service) checkCurrentPassword(ctx context.Context, customerID, password string, wrong error) (sqlstore.CustomerRow, error) {
	row, err := s.db.Conn().CustomerByID(ctx, customerID)
	if err != nil {
		return row, err
	}
	key := "pw:" + customerID
	if _, err := s.claimAttempt(ctx, key); err != nil {
		return row, err
	}
	ok, _, err := s.hasher.Verify(ctx, password, row.PasswordHash)
	if err != nil {
		return row, s.UnclaimOnFault(ctx, err, key) // never checked: no guess
	}
	if !ok {
		return row, wrong
	}
	return row, s.UnclaimOnFault(ctx, s.db.Conn().ClearThrottle(ctx, key), key)
}

// SessionInfo is one web session or app sign-in, as its owner sees it.
type SessionInfo struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	DeviceName string    `json:"device_name"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	Client     string    `json:"client"` // network prefix and browser family
	Current    bool      `json:"current"`
}

// Sessions lists the customer's web sessions and app sign-ins, the one the
// principal uses marked current. Expired web sessions are left out.
func (s *Service) Sessions(ctx context.Context, p Principal) ([]SessionInfo, error) {
	conn := s.db.Conn()
	dk, err := s.customerKey(ctx, p.CustomerID)
	if err != nil {
		return nil, err
	}
	out := []SessionInfo{}
	web, err := conn.WebSessions(ctx, p.CustomerID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for _, w := range web {
		w.LastSeenAt = max(w.LastSeenAt, s.activity.pendingWeb(w.ID)) // activity not yet written counts
		if now.Unix() >= w.ExpiresAt || now.Sub(time.Unix(w.LastSeenAt, 0)) >= s.o.SessionIdle {
			continue
		}
		device, err := s.openString(dk, w.DeviceSealed, cSessionDevice.Table, cSessionDevice.Column, w.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, SessionInfo{ID: w.ID, Kind: KindWeb, DeviceName: device, CreatedAt: time.Unix(w.CreatedAt, 0).UTC(),
			LastSeenAt: time.Unix(w.LastSeenAt, 0).UTC(), Client: w.Client, Current: p.Kind == KindWeb && p.SessionID == w.ID})
	}
	fams, err := conn.TokenFamilies(ctx, p.CustomerID)
	if err != nil {
		return nil, err
	}
	for _, f := range fams {
		f.LastSeenAt = max(f.LastSeenAt, s.activity.pendingApp(f.ID))
		device, err := s.openString(dk, f.DeviceSealed, cFamilyDevice.Table, cFamilyDevice.Column, f.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, SessionInfo{ID: f.ID, Kind: KindApp, DeviceName: device, CreatedAt: time.Unix(f.CreatedAt, 0).UTC(),
			LastSeenAt: time.Unix(f.LastSeenAt, 0).UTC(), Client: f.Client, Current: p.Kind == KindApp && p.SessionID == f.ID})
	}
	return out, nil
}

// RevokeSession ends one of the customer's web sessions or app sign-ins at
// once; an id that is not theirs is not found.
func (s *Service) RevokeSession(ctx context.Context, p Principal, id string) error {
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		err := c.DeleteWebSession(ctx, p.CustomerID, id)
		if resguardo.ErrorCode(err) == resguardo.ENotFound {
			err = c.DeleteTokenFamily(ctx, p.CustomerID, id)
		}
		if err != nil {
			return err
		}
		return s.audit.Append(ctx, c, event(resguardo.ActSessionRevoked, p.CustomerID, resguardo.OutcomeSuccess))
	})
}

// RevokeOtherSessions ends every session and app sign-in but the
// principal's own.
func (s *Service) RevokeOtherSessions(ctx context.Context, p Principal) error {
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := revokeOthers(ctx, c, p); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, event(resguardo.ActSessionsRevoked, p.CustomerID, resguardo.OutcomeSuccess))
	})
}
