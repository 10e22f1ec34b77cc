package account

import (
	"context"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// Kinds of principal.
const (
	KindWeb = "web" // browser, server-side session behind a cookie
	KindApp = "app" // mobile app or other client, bearer tokens
)

// Principal is the customer a request acts for, and through what.
type Principal struct {
	CustomerID   string
	Kind         string // KindWeb or KindApp
	SessionID    string // web session id or app token family id
	CSRFToken    string // web only: the session's form token
	RecentAuthAt time.Time
}

// RecentAuthWindow is how long a password or second-factor check counts as
// recent for step-up: sensitive operations need one within it.
const RecentAuthWindow = 5 * time.Minute

// Recent reports whether the customer's password or a code was checked
// within RecentAuthWindow of now (step-up).
func (p Principal) Recent(now time.Time) bool { return now.Sub(p.RecentAuthAt) <= RecentAuthWindow }

// Actor is the signed-in customer as the actor of an audited operation on
// their own account.
func (p Principal) Actor() resguardo.Actor { return resguardo.CustomerActor(p.CustomerID) }

// touchEvery bounds how often activity is written: at most once a minute
// per session, not once per request.
const touchEvery = time.Minute

// StartWebSession opens a session for a customer who just proved who they
// are, and returns the cookie's token. Each sign-in gets a new token: a
// token planted before sign-in is never promoted (no fixation). At the
// bound of live sessions the least recently used one ends (makeRoom).
func (s *Service) StartWebSession(ctx context.Context, customerID, device, lang string) (string, Principal, error) {
	row, err := s.db.Conn().CustomerByID(ctx, customerID)
	if err != nil {
		return "", Principal{}, err
	}
	dk, err := s.dataKey(row)
	if err != nil {
		return "", Principal{}, err
	}
	token, hash := auth.NewToken()
	csrf, _ := auth.NewToken()
	now := s.now()
	sess := sqlstore.WebSessionRow{
		ID: newID(), TokenHash: hash, CustomerID: customerID, CSRFToken: csrf,
		CreatedAt: now.Unix(), LastSeenAt: now.Unix(), ExpiresAt: now.Add(s.o.SessionAbsolute).Unix(), RecentAuthAt: now.Unix(),
		Client: audit.MetaFrom(ctx).Client,
	}
	if sess.DeviceSealed, err = dk.Seal([]byte(device), cSessionDevice.Table, cSessionDevice.Column, sess.ID); err != nil {
		return "", Principal{}, err
	}
	// The bound ends the least recently used session: write the activity
	// this server still holds, so "least recently used" is current.
	if err := s.FlushActivity(ctx); err != nil {
		return "", Principal{}, err
	}
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := s.makeRoom(ctx, c, customerID, KindWeb); err != nil {
			return err
		}
		if err := s.notifyIfNewDevice(ctx, c, row, device, lang); err != nil {
			return err
		}
		return c.InsertWebSession(ctx, sess)
	})
	if err != nil {
		return "", Principal{}, err
	}
	return token, Principal{CustomerID: customerID, Kind: KindWeb, SessionID: sess.ID, CSRFToken: csrf, RecentAuthAt: now}, nil
}

// WebSession resolves a session cookie's token, enforcing the idle and
// absolute timeouts. An expired session is deleted.
func (s *Service) WebSession(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, errSessionInvalid
	}
	row, err := s.db.Conn().WebSessionByTokenHash(ctx, auth.TokenHash(token))
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		return Principal{}, errSessionInvalid
	}
	if err != nil {
		return Principal{}, err
	}
	now := s.now()
	lastSeen := max(row.LastSeenAt, s.activity.pendingWeb(row.ID)) // a pending write counts
	if now.Unix() >= row.ExpiresAt || now.Sub(time.Unix(lastSeen, 0)) >= s.o.SessionIdle {
		_ = s.db.Conn().DeleteWebSession(ctx, row.CustomerID, row.ID)
		return Principal{}, errSessionInvalid
	}
	if now.Sub(time.Unix(lastSeen, 0)) >= touchEvery {
		s.noteWebActivity(ctx, row.ID, now.Unix())
	}
	return Principal{CustomerID: row.CustomerID, Kind: KindWeb, SessionID: row.ID, CSRFToken: row.CSRFToken,
		RecentAuthAt: time.Unix(row.RecentAuthAt, 0)}, nil
}

// Tokens are what an app receives at sign-in and at each refresh.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// IssueTokens starts an app token family for a customer who just signed in.
// At the bound of app sign-ins the least recently used one ends (makeRoom).
func (s *Service) IssueTokens(ctx context.Context, customerID, device, lang string) (Tokens, error) {
	row, err := s.db.Conn().CustomerByID(ctx, customerID)
	if err != nil {
		return Tokens{}, err
	}
	dk, err := s.dataKey(row)
	if err != nil {
		return Tokens{}, err
	}
	now := s.now()
	fam := sqlstore.TokenFamilyRow{ID: newID(), CustomerID: customerID, CreatedAt: now.Unix(), LastSeenAt: now.Unix(), RecentAuthAt: now.Unix(),
		Client: audit.MetaFrom(ctx).Client}
	if fam.DeviceSealed, err = dk.Seal([]byte(device), cFamilyDevice.Table, cFamilyDevice.Column, fam.ID); err != nil {
		return Tokens{}, err
	}
	if err := s.FlushActivity(ctx); err != nil { // as in StartWebSession
		return Tokens{}, err
	}
	var out Tokens
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := s.makeRoom(ctx, c, customerID, KindApp); err != nil {
			return err
		}
		if err := s.notifyIfNewDevice(ctx, c, row, device, lang); err != nil {
			return err
		}
		if err := c.InsertTokenFamily(ctx, fam); err != nil {
			return err
		}
		out, err = s.newTokenPair(ctx, c, fam)
		return err
	})
	return out, err
}

// newTokenPair issues an access and a refresh token in a family. Neither
// outlives the family's absolute lifetime.
func (s *Service) newTokenPair(ctx context.Context, c sqlstore.Conn, fam sqlstore.TokenFamilyRow) (Tokens, error) {
	now := s.now()
	end := s.appSigninEnd(fam)
	access, accessHash := auth.NewToken()
	refresh, refreshHash := auth.NewToken()
	accessExp := min(now.Add(s.o.AccessTTL).Unix(), end)
	if err := c.InsertAppToken(ctx, sqlstore.AppTokenRow{TokenHash: accessHash, FamilyID: fam.ID, Kind: "access", ExpiresAt: accessExp}); err != nil {
		return Tokens{}, err
	}
	if err := c.InsertAppToken(ctx, sqlstore.AppTokenRow{TokenHash: refreshHash, FamilyID: fam.ID, Kind: "refresh", ExpiresAt: min(now.Add(s.o.RefreshTTL).Unix(), end)}); err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", ExpiresIn: int(accessExp - now.Unix())}, nil
}

// appSigninEnd is when an app sign-in ends whatever its refreshes: the
// absolute lifetime counted from the sign-in that started the family.
func (s *Service) appSigninEnd(fam sqlstore.TokenFamilyRow) int64 {
	return fam.CreatedAt + int64(s.o.AppSigninAbsolute/time.Second)
}

var errTokenInvalid = resguardo.Errorf(resguardo.EUnauthenticated, "The access token is not valid.")

// AppPrincipal resolves a bearer access token.
func (s *Service) AppPrincipal(ctx context.Context, token string) (Principal, error) {
	p, _, err := s.appAccess(ctx, token, false)
	return p, err
}

// AppProfile is AppPrincipal and Profile in one statement: the hottest
// read (GET /api/v1/me) goes to the database once.
func (s *Service) AppProfile(ctx context.Context, token string) (Principal, resguardo.Customer, error) {
	p, acc, err := s.appAccess(ctx, token, true)
	if err != nil {
		return Principal{}, resguardo.Customer{}, err
	}
	c, err := s.openProfile(acc.Customer, acc.Phones, acc.Addresses)
	if err != nil {
		return Principal{}, resguardo.Customer{}, err
	}
	return p, c, nil
}

// appAccess resolves a bearer token with one read of the database, which
// holds the truth: a revoked or expired token is refused on the very next
// request, on any server. Only the last-seen time is written later.
func (s *Service) appAccess(ctx context.Context, token string, contacts bool) (Principal, sqlstore.AppAccess, error) {
	if token == "" {
		return Principal{}, sqlstore.AppAccess{}, errTokenInvalid
	}
	acc, err := s.db.Conn().AppAccessByToken(ctx, auth.TokenHash(token), contacts)
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		return Principal{}, acc, errTokenInvalid
	}
	if err != nil {
		return Principal{}, acc, err
	}
	t, fam := acc.Token, acc.Family
	now := s.now()
	// The family's end is checked too, not only the token's own expiry: a
	// shorter configured lifetime applies to tokens issued before.
	if t.Kind != "access" || now.Unix() >= t.ExpiresAt || now.Unix() >= s.appSigninEnd(fam) {
		return Principal{}, acc, errTokenInvalid
	}
	if now.Sub(time.Unix(fam.LastSeenAt, 0)) >= touchEvery {
		s.noteAppActivity(ctx, fam.ID, now.Unix())
	}
	return Principal{CustomerID: fam.CustomerID, Kind: KindApp, SessionID: fam.ID, RecentAuthAt: time.Unix(fam.RecentAuthAt, 0)}, acc, nil
}

var errRefreshInvalid = resguardo.Errorf(resguardo.EUnauthenticated, "The refresh token is not valid.")

// ErrRefreshReused is answered when a refresh token is presented a second
// time: one of the two presenters stole it, so the whole family is revoked.
var ErrRefreshReused = resguardo.Errorf(resguardo.EUnauthenticated, "The refresh token was already used; this sign-in has been revoked.")

// ErrAppSigninEnded is answered to a refresh after the app sign-in's
// absolute lifetime: the family is ended, and only a new sign-in (with the
// password) continues.
var ErrAppSigninEnded = resguardo.Errorf(resguardo.EUnauthenticated, "This sign-in has expired. Sign in again.")

// Refresh exchanges a refresh token, once, for a new pair in the same
// family, and retires the family's earlier access token: only the newest
// pair works. A second use revokes the family: both the thief and the owner
// must sign in again, and the thief's copies stop working. After the
// family's absolute lifetime the family is ended instead.
//
// A request racing the refresh with the old access token is answered by
// whichever commits first: it either completes with the old token or gets
// 401 and retries with the new one. Two refreshes racing with one refresh
// token are one use and one reuse: MarkRefreshUsed is a conditional update,
// so exactly one of them wins.
func (s *Service) Refresh(ctx context.Context, refresh string) (Tokens, error) {
	hash := auth.TokenHash(refresh)
	var out Tokens
	reused, ended := false, false
	err := s.db.Tx(ctx, func(c sqlstore.Conn) error {
		t, fam, err := c.AppTokenByHash(ctx, hash)
		if resguardo.ErrorCode(err) == resguardo.ENotFound {
			return errRefreshInvalid
		}
		if err != nil {
			return err
		}
		if t.Kind != "refresh" {
			return errRefreshInvalid
		}
		if s.now().Unix() >= s.appSigninEnd(fam) {
			ended = true
			// Commit the end; the error is answered after. A family gone
			// meanwhile (a concurrent logout) is as ended.
			if err := c.DeleteTokenFamily(ctx, fam.CustomerID, fam.ID); resguardo.ErrorCode(err) != resguardo.ENotFound {
				return err
			}
			return nil
		}
		fresh, err := c.MarkRefreshUsed(ctx, hash, s.now().Unix())
		if err != nil {
			return err
		}
		if !fresh {
			reused = true
			// Commit the revocation; the error is answered after.
			if err := s.audit.Append(ctx, c, anonymous(resguardo.ActRefreshReused, fam.CustomerID, resguardo.OutcomeDenied)); err != nil {
				return err
			}
			return c.DeleteTokenFamily(ctx, fam.CustomerID, fam.ID)
		}
		if s.now().Unix() >= t.ExpiresAt {
			return errRefreshInvalid
		}
		if err := s.audit.Append(ctx, c, event(resguardo.ActTokenRefreshed, fam.CustomerID, resguardo.OutcomeSuccess)); err != nil {
			return err
		}
		// Only the newest pair works: the access token issued with this
		// refresh token stops now, not at its expiry.
		if err := c.RetireAccessTokens(ctx, fam.ID); err != nil {
			return err
		}
		out, err = s.newTokenPair(ctx, c, fam)
		return err
	})
	if err != nil {
		return Tokens{}, err
	}
	if ended {
		return Tokens{}, ErrAppSigninEnded
	}
	if reused {
		s.log.WarnContext(ctx, "refresh token reused: token family revoked")
		return Tokens{}, ErrRefreshReused
	}
	return out, nil
}

// Logout ends what the principal signed in with: the web session, or the
// app's whole token family.
func (s *Service) Logout(ctx context.Context, p Principal) error {
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		var err error
		if p.Kind == KindWeb {
			err = c.DeleteWebSession(ctx, p.CustomerID, p.SessionID)
		} else {
			err = c.DeleteTokenFamily(ctx, p.CustomerID, p.SessionID)
		}
		if err != nil {
			return err
		}
		return s.audit.Append(ctx, c, event(resguardo.ActSignOut, p.CustomerID, resguardo.OutcomeSuccess))
	})
}

// EndSessions ends every web session and app sign-in of a customer, and
// voids their pending e-mail changes and sign-in challenges, in the
// caller's transaction: what locking an account or ending all its sessions
// from the back office does to them.
func EndSessions(ctx context.Context, c sqlstore.Conn, customerID string) error {
	return revokeOthers(ctx, c, Principal{CustomerID: customerID})
}

// revokeOthers ends every session and token family of the customer except
// the one the principal uses, and voids pending e-mail changes and sign-in
// challenges, which were started under the old state.
func revokeOthers(ctx context.Context, c sqlstore.Conn, p Principal) error {
	if err := c.DeleteOutstanding(ctx, p.CustomerID); err != nil {
		return err
	}
	keepWeb, keepApp := "", ""
	if p.Kind == KindWeb {
		keepWeb = p.SessionID
	} else {
		keepApp = p.SessionID
	}
	if err := c.DeleteWebSessionsExcept(ctx, p.CustomerID, keepWeb); err != nil {
		return err
	}
	return c.DeleteTokenFamiliesExcept(ctx, p.CustomerID, keepApp)
}
