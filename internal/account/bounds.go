package account

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/metrics"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// Bounds on growth (the numbers are in the root package's limits.go): per
// customer collections, sessions and app sign-ins per customer, sign-ups
// and unsolicited mail per client network, and the outbox's ceiling.

var errTooManyPhones = &resguardo.Error{Code: resguardo.EConflict,
	Message: fmt.Sprintf("An account can have at most %d phone numbers. Remove one to add another.", resguardo.MaxPhones),
	Fields:  []resguardo.FieldProblem{{Field: "phones", Detail: fmt.Sprintf("at most %d", resguardo.MaxPhones)}}}

var errTooManyAddresses = &resguardo.Error{Code: resguardo.EConflict,
	Message: fmt.Sprintf("An account can have at most %d addresses. Remove one to add another.", resguardo.MaxAddresses),
	Fields:  []resguardo.FieldProblem{{Field: "addresses", Detail: fmt.Sprintf("at most %d", resguardo.MaxAddresses)}}}

// roomForPhone refuses a phone number past the bound. It runs inside the
// transaction that adds the number, after locking the customer's row, so
// two concurrent adds at the bound minus one cannot both pass.
func roomForPhone(ctx context.Context, c sqlstore.Conn, customerID string) error {
	if err := c.LockCustomer(ctx, customerID); err != nil {
		return err
	}
	n, err := c.CountPhones(ctx, customerID)
	if err != nil {
		return err
	}
	if n >= resguardo.MaxPhones {
		return errTooManyPhones
	}
	return nil
}

// roomForAddress is roomForPhone for postal addresses.
func roomForAddress(ctx context.Context, c sqlstore.Conn, customerID string) error {
	if err := c.LockCustomer(ctx, customerID); err != nil {
		return err
	}
	n, err := c.CountAddresses(ctx, customerID)
	if err != nil {
		return err
	}
	if n >= resguardo.MaxAddresses {
		return errTooManyAddresses
	}
	return nil
}

// makeRoom ends the least recently used sessions (kind KindWeb) or app
// sign-ins (KindApp) of a customer until one more fits the bound. It runs
// first in the transaction that opens the new one, with the customer's row
// locked, so concurrent sign-ins of one customer trim and insert one after
// the other. A new
// sign-in is never refused for the bound: refusing would let whoever knows
// the password keep the owner out; the owner's own devices in use stay,
// as they are the most recently used. Each one ended is audited, so the
// customer sees it in the access log.
func (s *Service) makeRoom(ctx context.Context, c sqlstore.Conn, customerID, kind string) error {
	list, limit, del := c.WebSessionIDsByUse, resguardo.MaxWebSessions, c.DeleteWebSession
	if kind == KindApp {
		list, limit, del = c.TokenFamilyIDsByUse, resguardo.MaxAppSignIns, c.DeleteTokenFamily
	}
	if err := c.LockCustomer(ctx, customerID); err != nil {
		return err
	}
	ids, err := list(ctx, customerID)
	if err != nil {
		return err
	}
	for i := limit - 1; i < len(ids); i++ {
		err := del(ctx, customerID, ids[i])
		if resguardo.ErrorCode(err) == resguardo.ENotFound {
			continue // ended meanwhile (sign-out, housekeeping): gone either way
		}
		if err != nil {
			return err
		}
		if err := s.audit.Append(ctx, c, event(resguardo.ActSessionRevoked, customerID, resguardo.OutcomeSuccess)); err != nil {
			return err
		}
	}
	return nil
}

// Throttle keys of unsolicited mail (policies in the throttles table).
const (
	keySignUp      = "su:" // registrations per network
	keyUnsolicited = "um:" // requests that mail someone unasked, per network
)

// admitUnsolicited decides, before anything is written, whether a request
// that would mail someone who did not ask for it (a registration, a reset
// request) may go on: not while the outbox is over its ceiling, and not
// past the client network's bounds (keys, counted here). Refusals are 429
// with Retry-After. It must run before anything tells whether an address
// has an account, so that its answer is the same either way.
func (s *Service) admitUnsolicited(ctx context.Context, client netip.Addr, keys ...string) error {
	waiting, err := s.db.Conn().CountOutbox(ctx, resguardo.OutboxCeiling)
	if err != nil {
		return err
	}
	if waiting >= resguardo.OutboxCeiling {
		s.log.WarnContext(ctx, "outbox full: unsolicited mail refused", "waiting", waiting)
		metrics.ThrottleRefusal("outbox_full")
		// The queue drains at the budget's pace: ask to come back then.
		drain := time.Duration(waiting/max(s.o.MailPerMinute, 1)+1) * time.Minute
		return &resguardo.Error{Code: resguardo.ERateLimited, Message: "Too many requests. Try again later.", RetryAfter: drain}
	}
	network := resguardo.ThrottleNetwork(client)
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k + network
	}
	_, err = s.claimAttempt(ctx, names...)
	return err
}
