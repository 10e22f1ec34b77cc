package account

import (
	"context"
	"encoding/hex"
	"net/netip"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// Throttling: after a few failures a key (an account, a client network)
// must wait before the next attempt, and the wait doubles with each further
// failure up to a ceiling. It never locks anyone out for good: the wait is
// bounded, and failures are forgotten after a quiet hour.
type throttlePolicy struct {
	free    int           // failures allowed before any wait
	base    time.Duration // first wait
	ceiling time.Duration // longest wait
}

// The strict limit is per account and client network, so one attacker's
// guesses do not make the owner wait on another network; looser limits per
// account (a distributed guesser) and per network (one client spraying
// many accounts) sit behind it.
var throttles = map[string]throttlePolicy{
	"an:": {free: 5, base: 2 * time.Second, ceiling: 15 * time.Minute},
	"ac:": {free: 100, base: 2 * time.Second, ceiling: 15 * time.Minute},
	"nt:": {free: 50, base: 2 * time.Second, ceiling: 15 * time.Minute},
}

const forgetAfter = time.Hour

func (p throttlePolicy) wait(failures int) time.Duration {
	if failures < p.free {
		return 0
	}
	d := p.base
	for i := p.free; i < failures && d < p.ceiling; i++ {
		d *= 2
	}
	return min(d, p.ceiling)
}

// throttleKeys names what a sign-in attempt counts against. Accounts are
// named by the address's blind index, so unknown addresses are throttled
// exactly like known ones and the answer reveals nothing.
func throttleKeys(emailIndex []byte, client netip.Addr) []string {
	acct, nw := hex.EncodeToString(emailIndex[:16]), coarseNetwork(client)
	return []string{"an:" + acct + "/" + nw, "ac:" + acct, "nt:" + nw}
}

// coarseNetwork is the /24 (IPv4) or /48 (IPv6) of an address: one client
// hopping within its network still counts as one.
func coarseNetwork(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return "unknown"
	}
	return p.String()
}

// checkThrottle refuses while any key is in its wait, and returns the
// failures each key has on record.
func (s *Service) checkThrottle(ctx context.Context, names ...string) ([]int, error) {
	now := s.now().Unix()
	failures := make([]int, len(names))
	for i, name := range names {
		t, err := s.db.Conn().Throttle(ctx, name)
		if err != nil {
			return nil, err
		}
		if t.BlockedUntil > now {
			return nil, &resguardo.Error{Code: resguardo.ERateLimited, Message: "Too many attempts. Try again later.",
				RetryAfter: time.Duration(t.BlockedUntil-now) * time.Second}
		}
		failures[i] = t.Failures
	}
	return failures, nil
}

// recordFailure counts a failure against each key and starts its wait.
func (s *Service) recordFailure(ctx context.Context, names ...string) error {
	now := s.now()
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		for _, name := range names {
			t, err := c.Throttle(ctx, name)
			if err != nil {
				return err
			}
			if now.Unix()-t.LastFailureAt > int64(forgetAfter.Seconds()) {
				t.Failures = 0
			}
			t.Failures++
			t.LastFailureAt = now.Unix()
			p := throttles[name[:3]]
			t.BlockedUntil = now.Add(p.wait(t.Failures)).Unix()
			if err := c.SaveThrottle(ctx, t); err != nil {
				return err
			}
		}
		return nil
	})
}

// Login checks an address and password. Any failure is the same 401, after
// the same work (a real or a dummy password hash), and counts against the
// account and the client's network; while either waits, the answer is 429
// with Retry-After and the password is not even checked.
func (s *Service) Login(ctx context.Context, emailIn, password string, client netip.Addr) (customerID string, err error) {
	email, emailErr := resguardo.ParseEmail(emailIn)
	index, err := s.vault.BlindIndex(indexEmail, string(email))
	if err != nil {
		return "", err
	}
	keys := throttleKeys(index, client)
	failures, err := s.checkThrottle(ctx, keys...)
	if err != nil {
		return "", err
	}
	fail := func() (string, error) {
		if err := s.recordFailure(ctx, keys...); err != nil {
			return "", err
		}
		return "", errUnauthenticated
	}
	// The dummy hash fails (busy) exactly when a real one would, so a 503
	// says nothing about whether the address has an account.
	if emailErr != nil {
		if err := s.hasher.DummyVerify(ctx, password); err != nil {
			return "", err
		}
		return fail()
	}
	row, err := s.db.Conn().CustomerByEmailIndex(ctx, index)
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		if err := s.hasher.DummyVerify(ctx, password); err != nil {
			return "", err
		}
		return fail()
	}
	if err != nil {
		return "", err
	}
	ok, rehash, err := s.hasher.Verify(ctx, password, row.PasswordHash)
	if err != nil {
		return "", err
	}
	if !ok {
		return fail()
	}
	// The owner got in: forget the account's failures (not the network's,
	// which an attacker could otherwise reset with an account of their own).
	for i, k := range keys[:2] {
		if failures[i] == 0 {
			continue // nothing on record: spare the write
		}
		if err := s.db.Conn().ClearThrottle(ctx, k); err != nil {
			return "", err
		}
	}
	if rehash {
		// Parameters grew or the pepper rotated: upgrade while we hold the
		// password. A failure here must not fail the sign-in.
		if h, err := s.hasher.Hash(ctx, password); err == nil {
			if err := s.db.Conn().SetPasswordHash(ctx, row.ID, h, s.now().Unix()); err != nil {
				s.log.WarnContext(ctx, "password rehash not saved", "customer", row.ID, "err", err)
			}
		}
	}
	return row.ID, nil
}
