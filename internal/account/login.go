package account

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// SignIn is one sign-in attempt: what the client sent and what the request
// layer knows of it.
type SignIn struct {
	Email, Password string
	Client          netip.Addr // the client's address, for the guessing limits
	DeviceToken     string     // the browser's device cookie, if it sent one
}

// Login checks an address and password. Any failure is the same 401, after
// the same work (a real or a dummy password hash), and counts against the
// guessing limits (see signInKeys); while one waits, the answer is 429 with
// Retry-After, the refusal is audited against the account (so its owner
// sees it) and the password is not even checked.
func (s *Service) Login(ctx context.Context, in SignIn) (customerID string, mfa bool, err error) {
	email, emailErr := resguardo.ParseEmail(in.Email)
	var index []byte // nil for a malformed address: no account has it
	if emailErr == nil {
		if index, err = s.vault.BlindIndex(indexEmail, string(email)); err != nil {
			return "", false, err
		}
	}
	var row sqlstore.CustomerRow
	found := false
	if index != nil {
		row, err = s.customerByEmail(ctx, email)
		switch {
		case err == nil:
			found = true
		case resguardo.ErrorCode(err) != resguardo.ENotFound:
			return "", false, err
		}
	}
	var device []byte // the device cookie's hash, when the account knows it
	if found && in.DeviceToken != "" {
		h := auth.TokenHash(in.DeviceToken)
		known, err := s.db.Conn().KnownDevice(ctx, h, row.ID, s.now().Unix())
		if err != nil {
			return "", false, err
		}
		if known {
			device = h
		}
	}
	keys := signInKeys(index, in.Client, device)
	if blocked, err := s.claimAttempt(ctx, keys...); err != nil {
		if resguardo.ErrorCode(err) == resguardo.ERateLimited {
			// A refusal that cannot be recorded fails the request instead.
			if aerr := s.recordRefusal(ctx, row.ID, resguardo.ActSignInThrottled, limitName(blocked)); aerr != nil {
				return "", false, aerr
			}
		}
		return "", false, err
	}
	fail := func() (string, bool, error) { // the attempt is counted already: the password was wrong
		if err := s.recordRefusal(ctx, row.ID, resguardo.ActSignInFailed, ""); err != nil {
			return "", false, err
		}
		return "", false, errUnauthenticated
	}
	// The dummy hash fails (busy) exactly when a real one would, so a 503
	// says nothing about whether the address has an account. When the
	// hasher gives no verdict (no slot free in time, an unreadable stored
	// hash), the password was never checked: the attempt is taken back, so
	// that a busy server never brings a customer or a network nearer a wait.
	if !found {
		if err := s.hasher.DummyVerify(ctx, in.Password); err != nil {
			s.unclaimAttempt(ctx, keys)
			return "", false, err
		}
		return fail()
	}
	ok, rehash, err := s.hasher.Verify(ctx, in.Password, row.PasswordHash)
	if err != nil {
		s.unclaimAttempt(ctx, keys)
		return "", false, err
	}
	if !ok {
		return fail()
	}
	// The password was right: settle the counts even if the client has gone
	// meanwhile. A sign-in cut off here would otherwise leave its attempt
	// counted against the client's address, and a load generator stopping
	// 16 connections at once would push a shared address over its limit.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// Read the lock and the second factor again: the hash may have waited
	// for a slot, and a lock set meanwhile must still keep this sign-in out.
	// A database error from here on takes the attempt back: the password
	// was right, so it was no failed guess.
	if row, err = s.db.Conn().CustomerByID(ctx, row.ID); err != nil {
		return "", false, s.UnclaimOnFault(ctx, err, keys...)
	}
	if row.Locked {
		return "", false, errLocked
	}
	if err := s.signedIn(ctx, index, keys); err != nil {
		return "", false, s.UnclaimOnFault(ctx, err, keys...)
	}
	mfa = row.TOTPEnabled
	if !mfa { // a passkey is a second factor too
		if mfa, err = s.hasPasskeys(ctx, s.db.Conn(), row.ID); err != nil {
			return "", false, s.UnclaimOnFault(ctx, err, keys...)
		}
	}
	if !mfa { // with a second factor, the sign-in is audited once it is given
		if err := s.audit.Record(ctx, event(resguardo.ActSignIn, row.ID, resguardo.OutcomeSuccess)); err != nil {
			return "", false, err
		}
	}
	if rehash {
		// Parameters grew or the pepper rotated: upgrade while we hold the
		// password. A failure here must not fail the sign-in.
		if h, err := s.hasher.Hash(ctx, in.Password); err == nil {
			if err := s.db.Conn().SetPasswordHash(ctx, row.ID, h, s.now().Unix()); err != nil {
				s.log.WarnContext(ctx, "password rehash not saved", "customer", row.ID, "err", err)
			}
		}
	}
	return row.ID, mfa, nil
}

// signedIn settles the guessing limits after a right password, in one
// statement: the owner got in, so the account's own counts (on this device
// or network, and across networks) are forgotten, and this attempt is
// taken back from the network's count (not the rest: an attacker could
// otherwise reset it with an account of their own).
func (s *Service) signedIn(ctx context.Context, emailIndex []byte, keys []string) error {
	var clear [2]string
	uncount := ""
	n := 0
	for _, k := range keys {
		switch k[:3] {
		case "nt:":
			uncount = k
		default:
			if n == len(clear) {
				return fmt.Errorf("sign-in settles more than %d keys", len(clear)) // a programming error
			}
			clear[n] = k
			n++
		}
	}
	if keys[0][:3] == "kd:" {
		// From a known device, the account-wide count goes too.
		clear[1] = "ac:" + accountKey(emailIndex)
	}
	return retryContention(ctx, func() error { return s.db.Conn().SettleSignIn(ctx, clear, uncount) })
}

// limitName says which limit refused an attempt, in the audit entry's
// fields (names, never values).
func limitName(prefix string) string {
	switch prefix {
	case "an:":
		return "limit:account_network"
	case "ac:":
		return "limit:account"
	case "nt:":
		return "limit:network"
	case "kd:":
		return "limit:device"
	}
	return "limit:other"
}

// recordRefusal audits a refused sign-in against the account it was
// for, if any (so the owner sees it in their access log), or against
// nobody. An error means the refusal is not in the trail: the caller fails
// the request with it rather than answer as if it were.
func (s *Service) recordRefusal(ctx context.Context, customerID, action, field string) error {
	ev := anonymous(action, customerID, resguardo.OutcomeFailure)
	if field != "" {
		ev.Fields = []string{field}
	}
	// Recorded even if the client has gone: a flood that hangs up at once
	// must not leave its refusals out of the trail.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.audit.Record(ctx, ev); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}
