package account

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// Throttling: every attempt is counted before the password is checked, so
// that concurrent attempts cannot all slip in under one old count; after a
// few, a key must wait before the next attempt, and the wait doubles with
// each further attempt up to a ceiling. A success clears the account's
// count. Failures are forgotten after a quiet hour.
type throttlePolicy struct {
	free    int           // attempts allowed before any wait
	base    time.Duration // first wait
	ceiling time.Duration // longest wait
}

// The limit is per account and client network, so one attacker's guesses
// never make the owner wait on another network: an attacker cannot lock a
// customer out. A looser limit per network stops one client spraying many
// accounts. There is deliberately no limit per account alone: whoever could
// trip it could keep the owner out for good. Guessing from many networks is
// left to the argon2id cost and the common-password refusal (and, later,
// the second factor).
var throttles = map[string]throttlePolicy{
	"an:": {free: 5, base: 2 * time.Second, ceiling: 15 * time.Minute},
	"nt:": {free: 50, base: 2 * time.Second, ceiling: 15 * time.Minute},
	"pw:": {free: 5, base: 2 * time.Second, ceiling: 15 * time.Minute}, // current password on change
	"mf:": {free: 5, base: 2 * time.Second, ceiling: 15 * time.Minute}, // second-factor codes, account+network
	"mc:": {free: 20, base: time.Minute, ceiling: time.Hour},           // second-factor codes, account
	"ml:": {free: 3, base: time.Hour, ceiling: time.Hour},              // mail to one address
	"sa:": {free: 5, base: 2 * time.Second, ceiling: 15 * time.Minute}, // staff sign-in, address+network
	"sm:": {free: 5, base: 2 * time.Second, ceiling: 15 * time.Minute}, // staff codes
	"sp:": {free: 5, base: 2 * time.Second, ceiling: 15 * time.Minute}, // staff step-up password
	// Sign-ups and unsolicited mail per client network (bounds.go, register.go).
	"su:": {free: resguardo.SignUpsPerNetwork, base: resguardo.SignUpWindow, ceiling: resguardo.SignUpWindow},
	"um:": {free: resguardo.UnsolicitedMailPerNetwork, base: resguardo.SignUpWindow, ceiling: resguardo.SignUpWindow},
}

const forgetAfter = time.Hour

func (p throttlePolicy) wait(attempts int) time.Duration {
	if attempts < p.free {
		return 0
	}
	d := p.base
	for i := p.free; i < attempts && d < p.ceiling; i++ {
		d *= 2
	}
	return min(d, p.ceiling)
}

// accountKey names an account in throttle keys by the first half of the
// address's blind index, so unknown addresses are throttled exactly like
// known ones and the answer reveals nothing.
func accountKey(emailIndex []byte) string { return hex.EncodeToString(emailIndex[:16]) }

// throttleKeys names what a sign-in attempt counts against.
func throttleKeys(emailIndex []byte, client netip.Addr) []string {
	nw := CoarseNetwork(client)
	return []string{"an:" + accountKey(emailIndex) + "/" + nw, "nt:" + nw}
}

// CoarseNetwork is the /24 (IPv4) or /48 (IPv6) of an address: one client
// hopping within its network still counts as one.
func CoarseNetwork(a netip.Addr) string {
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

// ClaimAttempt is claimAttempt for the staff side, which shares the
// throttle table and its policies.
func (s *Service) ClaimAttempt(ctx context.Context, names ...string) error {
	return s.claimAttempt(ctx, names...)
}

// ClearAttempts forgets the attempts of a key after a success.
func (s *Service) ClearAttempts(ctx context.Context, name string) error {
	return s.db.Conn().ClearThrottle(ctx, name)
}

// claimAttempt counts one attempt against each key, or refuses with 429
// and Retry-After while any key waits (counting nothing then). The keys
// are locked for the count, so concurrent attempts queue on it.
func (s *Service) claimAttempt(ctx context.Context, names ...string) error {
	for _, name := range names {
		if _, known := throttles[name[:3]]; !known {
			return fmt.Errorf("throttle key %q has no policy", name) // a programming error: fail closed
		}
	}
	// A concurrent success may forget a record between its creation and
	// its lock; the attempt is then claimed again, a few times at most.
	for range 3 {
		err := s.claimOnce(ctx, names)
		if resguardo.ErrorCode(err) != resguardo.ENotFound {
			return err
		}
	}
	return errBusy
}

// errBusy asks the client to retry shortly.
var errBusy = resguardo.Errorf(resguardo.EUnavailable, "The service is busy. Try again in a moment.")

func (s *Service) claimOnce(ctx context.Context, names []string) error {
	now := s.now()
	for _, name := range names {
		if err := s.db.Conn().EnsureThrottle(ctx, name); err != nil {
			return err
		}
	}
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		rows := make([]sqlstore.ThrottleRow, len(names))
		for i, name := range names {
			t, err := c.LockThrottle(ctx, name)
			if err != nil {
				return err
			}
			if t.BlockedUntil > now.Unix() {
				return &resguardo.Error{Code: resguardo.ERateLimited, Message: "Too many attempts. Try again later.",
					RetryAfter: time.Duration(t.BlockedUntil-now.Unix()) * time.Second}
			}
			rows[i] = t
		}
		for _, t := range rows {
			if now.Unix()-t.LastFailureAt > int64(forgetAfter.Seconds()) {
				t.Failures = 0
			}
			t.Failures++
			t.LastFailureAt = now.Unix()
			t.BlockedUntil = now.Add(throttles[t.Name[:3]].wait(t.Failures)).Unix()
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
func (s *Service) Login(ctx context.Context, emailIn, password string, client netip.Addr) (customerID string, mfa bool, err error) {
	email, emailErr := resguardo.ParseEmail(emailIn)
	index, err := s.vault.BlindIndex(indexEmail, string(email))
	if err != nil {
		return "", false, err
	}
	keys := throttleKeys(index, client)
	if err := s.claimAttempt(ctx, keys...); err != nil {
		if resguardo.ErrorCode(err) == resguardo.ERateLimited {
			s.recordAbout(ctx, index, resguardo.ActSignInThrottled)
		}
		return "", false, err
	}
	fail := func() (string, bool, error) { // the attempt is counted already
		s.recordAbout(ctx, index, resguardo.ActSignInFailed)
		return "", false, errUnauthenticated
	}
	// The dummy hash fails (busy) exactly when a real one would, so a 503
	// says nothing about whether the address has an account.
	if emailErr != nil {
		if err := s.hasher.DummyVerify(ctx, password); err != nil {
			return "", false, err
		}
		return fail()
	}
	row, err := s.customerByEmail(ctx, email)
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		if err := s.hasher.DummyVerify(ctx, password); err != nil {
			return "", false, err
		}
		return fail()
	}
	if err != nil {
		return "", false, err
	}
	ok, rehash, err := s.hasher.Verify(ctx, password, row.PasswordHash)
	if err != nil {
		return "", false, err
	}
	if !ok {
		return fail()
	}
	// Read the lock and the second factor again: the hash may have waited
	// for a slot, and a lock set meanwhile must still keep this sign-in out.
	if row, err = s.db.Conn().CustomerByID(ctx, row.ID); err != nil {
		return "", false, err
	}
	if row.Locked {
		return "", false, errLocked
	}
	// The owner got in: forget this account's attempts from this network,
	// and take this attempt back from the network's count (not the rest:
	// an attacker could otherwise reset it with an account of their own).
	if err := s.db.Conn().ClearThrottle(ctx, keys[0]); err != nil {
		return "", false, err
	}
	if err := s.db.Conn().UncountAttempt(ctx, keys[1]); err != nil {
		return "", false, err
	}
	mfa = row.TOTPEnabled
	if !mfa { // with a second factor, the sign-in is audited once it is given
		if err := s.audit.Record(ctx, event(resguardo.ActSignIn, row.ID, resguardo.OutcomeSuccess)); err != nil {
			return "", false, err
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
	return row.ID, mfa, nil
}

// recordAbout audits a refused sign-in against the account of the address,
// if it has one (so the owner sees it), or against nobody.
func (s *Service) recordAbout(ctx context.Context, emailIndex []byte, action string) {
	target := ""
	if row, err := s.db.Conn().CustomerByEmailIndex(ctx, emailIndex); err == nil {
		target = row.ID
	}
	if err := s.audit.Record(ctx, anonymous(action, target, resguardo.OutcomeFailure)); err != nil {
		s.log.ErrorContext(ctx, "audit", "action", action, "err", err)
	}
}
