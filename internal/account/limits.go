package account

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/metrics"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// Guessing limits. Every attempt is counted before the secret is checked,
// so that concurrent attempts cannot all slip in under one old count; after
// a few, a key must wait before the next attempt, and the wait doubles with
// each further attempt up to a ceiling. The records live in the database,
// so every server of a deployment shares them.
//
// A customer's sign-in counts against three keys when it comes from a
// browser or app the account does not know:
//
//   - the account on the client's network (an:), so one attacker is slowed
//     early;
//   - the account across all networks (ac:), so guesses spread over many
//     networks are slowed too (NIST SP 800-63B §5.2.2: at most 100);
//   - the client's network across accounts (nt:), so one client cannot
//     spray a common password over many accounts. A network is an IPv4
//     address or an IPv6 /64: a /24 would let one client behind a shared
//     NAT shut out its neighbours.
//
// None of these may lock the owner out, so a browser that has completed a
// sign-in to the account before (a device cookie, see RememberDevice)
// counts only against its own key (kd:, the account on that device): an
// attacker can trip the account-wide and network-wide ceilings for unknown
// devices, never for the owner's own. Apps keep their refresh family and
// never sign in again while it lives; refresh is not a password guess and
// is not counted.
type throttlePolicy struct {
	free    int           // attempts allowed before any wait
	base    time.Duration // first wait
	ceiling time.Duration // longest wait
	// limit, when set, is the count of failures after which the key waits
	// a whole forget window at each further attempt.
	limit int
	// forget is the quiet time after which failures are forgotten
	// (forgetAfter when zero).
	forget time.Duration
}

var throttles = map[string]throttlePolicy{
	"an:": {free: 5, base: 2 * time.Second, ceiling: 15 * time.Minute},                              // account + network, unknown device
	"ac:": {free: 10, base: 2 * time.Second, ceiling: time.Hour, limit: 100, forget: accountForget}, // account, unknown devices
	"nt:": {free: 20, base: 2 * time.Second, ceiling: 15 * time.Minute},                             // network across accounts, unknown devices
	"kd:": {free: 5, base: 2 * time.Second, ceiling: 15 * time.Minute},                              // account on one known device
	"pw:": {free: 5, base: 2 * time.Second, ceiling: 15 * time.Minute},                              // current password on change
	"mf:": {free: 5, base: 2 * time.Second, ceiling: 15 * time.Minute},                              // second-factor codes, account+network
	"mc:": {free: 20, base: time.Minute, ceiling: time.Hour},                                        // second-factor codes, account
	"ml:": {free: 3, base: time.Hour, ceiling: time.Hour},                                           // mail to one address
	"sa:": {free: 5, base: 2 * time.Second, ceiling: 15 * time.Minute},                              // staff sign-in, address+network
	"sn:": {free: 20, base: 2 * time.Second, ceiling: 15 * time.Minute},                             // staff sign-in, network across addresses
	"sm:": {free: 5, base: 2 * time.Second, ceiling: 15 * time.Minute},                              // staff codes
	"sp:": {free: 5, base: 2 * time.Second, ceiling: 15 * time.Minute},                              // staff step-up password
	// Sign-ups and unsolicited mail per client network (bounds.go, register.go).
	"su:": {free: resguardo.SignUpsPerNetwork, base: resguardo.SignUpWindow, ceiling: resguardo.SignUpWindow},
	"um:": {free: resguardo.UnsolicitedMailPerNetwork, base: resguardo.SignUpWindow, ceiling: resguardo.SignUpWindow},
	// Anonymous passkey sign-in challenges per client network (passkey.go):
	// each is a row until it expires, so a client asks for a few at a time.
	"pc:": {free: 30, base: 2 * time.Second, ceiling: 15 * time.Minute},
}

// forgetAfter is how long a key's failures are remembered without a new
// one, unless its policy says otherwise.
const forgetAfter = time.Hour

// accountForget is the account-wide key's memory: a day, so that guesses
// spread thinly over time still add up.
const accountForget = 24 * time.Hour

func (p throttlePolicy) forgetWindow() time.Duration {
	if p.forget > 0 {
		return p.forget
	}
	return forgetAfter
}

func (p throttlePolicy) wait(attempts int) time.Duration {
	if p.limit > 0 && attempts >= p.limit {
		return p.forgetWindow()
	}
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

// deviceKey names a known device in throttle keys by half its token hash.
func deviceKey(tokenHash []byte) string { return hex.EncodeToString(tokenHash[:16]) }

// signInKeys names what a sign-in attempt counts against: its own device's
// key for a device known to the account, else the account on the network,
// the account and the network. A malformed address can be no account's: it
// counts against the network alone.
func signInKeys(emailIndex []byte, client netip.Addr, knownDevice []byte) []string {
	nw := resguardo.ThrottleNetwork(client)
	if emailIndex == nil {
		return []string{"nt:" + nw}
	}
	acct := accountKey(emailIndex)
	if knownDevice != nil {
		return []string{"kd:" + acct + "/" + deviceKey(knownDevice)}
	}
	return []string{"an:" + acct + "/" + nw, "ac:" + acct, "nt:" + nw}
}

// ClaimAttempt is claimAttempt for the staff side, which shares the
// throttle table and its policies.
func (s *Service) ClaimAttempt(ctx context.Context, names ...string) error {
	_, err := s.claimAttempt(ctx, names...)
	return err
}

// isFault reports whether err is the system failing (the database, the
// hasher, anything internal) rather than a verdict on what the client
// sent: such an attempt was no guess.
func isFault(err error) bool {
	c := resguardo.ErrorCode(err)
	return c == resguardo.EInternal || c == resguardo.EUnavailable
}

// UnclaimOnFault takes back the attempt counted against names when err is
// a fault, so that a database error is never counted as a failed guess,
// and returns err. Callers use it only on paths where the secret was not
// found wrong.
func (s *Service) UnclaimOnFault(ctx context.Context, err error, names ...string) error {
	if err != nil && isFault(err) {
		s.unclaimAttempt(ctx, names)
	}
	return err
}

// ClearAttempts forgets the attempts of a key after a success.
func (s *Service) ClearAttempts(ctx context.Context, name string) error {
	return s.db.Conn().ClearThrottle(ctx, name)
}

// claimAttempt counts one attempt against each key, or refuses with 429
// and Retry-After (the longest wait) while any key waits, counting nothing
// then; blocked names the kind of the first key that refused ("ac:"…).
// The keys are locked for the count, in one order, so concurrent attempts
// queue on them and never deadlock. It takes one statement to create the
// records, one to lock them all and one to write them all, whatever the
// number of keys (at most sqlstore.MaxThrottleKeys).
func (s *Service) claimAttempt(ctx context.Context, names ...string) (blocked string, err error) {
	names, err = throttleNames(names)
	if err != nil {
		return "", err
	}
	// A concurrent success may forget a record between its creation and
	// its lock; the attempt is then claimed again, a few times at most.
	for range 3 {
		err = retryContention(ctx, func() error {
			var err error
			blocked, err = s.claimOnce(ctx, names)
			return err
		})
		if resguardo.ErrorCode(err) != resguardo.ENotFound {
			return blocked, err
		}
	}
	return "", errBusy
}

// retryContention runs fn again, a few times and briefly, while it fails
// on contention: a deadlock, or on Galera a certification failure when
// another node wrote the same record at the same moment (every sign-in
// from one network counts against that network's record). fn must be a
// whole transaction (or one statement): a failed try changed nothing.
func retryContention(ctx context.Context, fn func() error) error {
	const tries = 6
	var err error
	for i := range tries {
		if err = fn(); err == nil || !errors.Is(err, resguardo.ErrContention) || i == tries-1 {
			return err
		}
		// 5-15 ms, then longer: two nodes that collided should not
		// collide again in step.
		var b [1]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		wait := time.Duration(5<<i)*time.Millisecond + time.Duration(b[0]%10)*time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
	return err
}

// throttleNames checks that every key has a policy and returns them sorted
// and without repeats: the order every claim locks them in.
func throttleNames(names []string) ([]string, error) {
	for _, name := range names {
		if len(name) < 3 {
			return nil, fmt.Errorf("throttle key %q has no policy", name)
		}
		if _, known := throttles[name[:3]]; !known {
			return nil, fmt.Errorf("throttle key %q has no policy", name) // a programming error: fail closed
		}
	}
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) < 1 || len(names) > sqlstore.MaxThrottleKeys {
		return nil, fmt.Errorf("%d throttle keys, want 1 to %d", len(names), sqlstore.MaxThrottleKeys)
	}
	return names, nil
}

// errBusy asks the client to retry shortly.
var errBusy = resguardo.Errorf(resguardo.EUnavailable, "The service is busy. Try again in a moment.")

func (s *Service) claimOnce(ctx context.Context, names []string) (blocked string, err error) {
	if err := s.db.Conn().EnsureThrottles(ctx, names); err != nil {
		return "", err
	}
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		rows, err := c.LockThrottles(ctx, names)
		if err != nil {
			return err
		}
		// The time is read once the keys are held: read before a wait for
		// the lock, it could be a second behind the attempt that held them.
		now := s.now()
		if len(rows) != len(names) {
			// A success cleared one since EnsureThrottles: start over.
			return resguardo.Errorf(resguardo.ENotFound, "throttle record gone")
		}
		var wait int64
		for _, t := range rows {
			if d := t.BlockedUntil - now.Unix(); d > 0 {
				if blocked == "" {
					blocked = t.Name[:3]
				}
				wait = max(wait, d)
			}
		}
		if wait > 0 {
			metrics.ThrottleRefusal(throttleName(blocked))
			return &resguardo.Error{Code: resguardo.ERateLimited, Message: "Too many attempts. Try again later.",
				RetryAfter: time.Duration(wait) * time.Second}
		}
		for i, t := range rows {
			p := throttles[t.Name[:3]]
			if now.Unix()-t.LastFailureAt > int64(p.forgetWindow().Seconds()) {
				t.Failures = 0
			}
			t.Failures++
			t.LastFailureAt = now.Unix()
			// No wait is stored as 0, not as "now": an attempt whose clock
			// reads a second earlier (another server's, or one that read the
			// time before this one) must not see a wait that nobody set.
			t.BlockedUntil = 0
			if w := p.wait(t.Failures); w > 0 {
				t.BlockedUntil = now.Add(w).Unix()
			}
			rows[i] = t
		}
		return c.SaveThrottles(ctx, rows)
	})
	return blocked, err
}

// unclaimAttempt takes back an attempt counted by claimAttempt whose
// secret was never checked (no hashing slot was free, or the stored hash
// could not be read): it was no guess, so it must not bring anyone nearer
// a wait. Each key loses one attempt, and its wait shrinks to what the
// remaining count calls for from its latest attempt (never longer than it
// was). It runs even when the request's context has ended, bounded in
// time; a failure is logged, and leaves the key counted (fail closed).
func (s *Service) unclaimAttempt(ctx context.Context, names []string) {
	names, err := throttleNames(names)
	if err != nil {
		s.log.ErrorContext(ctx, "throttle take-back", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = retryContention(ctx, func() error { return s.unclaimOnce(ctx, names) })
	if err != nil {
		s.log.ErrorContext(ctx, "throttle take-back", "err", err)
	}
}

func (s *Service) unclaimOnce(ctx context.Context, names []string) error {
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		rows, err := c.LockThrottles(ctx, names)
		if err != nil || len(rows) == 0 {
			return err
		}
		for i, t := range rows {
			if t.Failures <= 0 {
				continue
			}
			t.Failures--
			if w := throttles[t.Name[:3]].wait(t.Failures); w == 0 {
				t.BlockedUntil = 0
			} else if until := t.LastFailureAt + int64(w.Seconds()); until < t.BlockedUntil {
				t.BlockedUntil = until
			}
			rows[i] = t
		}
		return c.SaveThrottles(ctx, rows)
	})
}

// throttleLabels name each throttle for the refusal metric: names fixed
// here, never the key (which carries an account or network digest).
var throttleLabels = map[string]string{
	"an:": "account_network", "ac:": "account", "nt:": "network", "kd:": "device",
	"pw:": "password_change", "mf:": "second_factor_network", "mc:": "second_factor_account",
	"ml:": "mail_address", "sa:": "staff_address_network", "sn:": "staff_network",
	"sm:": "staff_code", "sp:": "staff_step_up", "su:": "sign_up", "um:": "unsolicited_mail",
	"pc:": "passkey_challenge",
}

func throttleName(prefix string) string {
	if n, ok := throttleLabels[prefix]; ok {
		return n
	}
	return "other"
}
