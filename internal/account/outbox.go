package account

import (
	"context"
	"time"

	"github.com/resguardo/resguardo/internal/mail"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// SendMail delivers up to limit due messages from the outbox and returns how
// many went out. A failed send is retried later with a growing delay; the
// message stays sealed in the database until it is delivered. Messages are
// taken within the global budget (Options.MailPerMinute, counted in the
// database for every server together): past it they wait in the outbox for
// the next minute, so a flood delays mail and never multiplies it.
func (s *Service) SendMail(ctx context.Context, sender mail.Sender, limit int) (int, error) {
	now := s.now()
	due, err := s.claimMail(ctx, now, limit)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, row := range due {
		dk, err := s.customerKey(ctx, row.CustomerID)
		if err != nil {
			return sent, err
		}
		var m mail.Message
		if err := openJSON(dk, row.Sealed, &m, cOutbox.Table, cOutbox.Column, row.ID); err != nil {
			return sent, err
		}
		if err := sender.Send(ctx, m); err != nil {
			s.log.WarnContext(ctx, "mail not sent; will retry", "outbox", row.ID, "attempts", row.Attempts+1, "err", err)
			backoff := min(time.Duration(1<<min(row.Attempts, 10))*time.Minute, 6*time.Hour)
			if err := s.db.Conn().RetryOutbox(ctx, row.ID, now.Add(backoff).Unix()); err != nil {
				return sent, err
			}
			continue
		}
		if err := s.db.Conn().DeleteOutbox(ctx, row.ID); err != nil {
			return sent, err
		}
		sent++
	}
	return sent, nil
}

// mailLease is how long a claimed message stays hidden from other senders:
// if its sender stops before sending it, it comes due again after this.
const mailLease = 10 * time.Minute

// claimMail takes up to limit due messages within what is left of this
// minute's budget, counts them against it and leases them, in one
// transaction on the budget's row: servers sharing the database share the
// budget and never take the same message.
func (s *Service) claimMail(ctx context.Context, now time.Time, limit int) ([]sqlstore.OutboxRow, error) {
	window := now.Unix() / 60 * 60
	var due []sqlstore.OutboxRow
	err := s.db.Tx(ctx, func(c sqlstore.Conn) error {
		start, taken, err := c.LockMailBudget(ctx)
		if err != nil {
			return err
		}
		if start != window {
			taken = 0
		}
		n := min(limit, s.o.MailPerMinute-taken)
		if n <= 0 {
			return nil
		}
		if due, err = c.ClaimableOutbox(ctx, now.Unix(), n); err != nil {
			return err
		}
		for _, m := range due {
			if err := c.LeaseOutbox(ctx, m.ID, now.Add(mailLease).Unix()); err != nil {
				return err
			}
		}
		return c.SaveMailBudget(ctx, window, taken+len(due))
	})
	if err != nil {
		return nil, err
	}
	return due, nil
}

// Housekeep deletes records that have no use left (see DeleteStale).
func (s *Service) Housekeep(ctx context.Context) error {
	now := s.now()
	return s.db.Conn().DeleteStale(ctx, now.Unix(), now.Add(-forgetAfter).Unix(), "ac:", now.Add(-accountForget).Unix())
}

// Outbox sends up to limit due messages of another outbox (the staff
// side's) through the same sender, and returns how many went out.
type Outbox func(ctx context.Context, sender mail.Sender, limit int) (int, error)

// RunMail sends due mail every interval, from the customer outbox and from
// each of more, and keeps house every minute, until ctx ends.
func (s *Service) RunMail(ctx context.Context, sender mail.Sender, interval time.Duration, more ...Outbox) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastHousekeeping time.Time
	for {
		if _, err := s.SendMail(ctx, sender, 100); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "outbox", "err", err)
		}
		for _, send := range more {
			if _, err := send(ctx, sender, 100); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "outbox", "err", err)
			}
		}
		if time.Since(lastHousekeeping) >= time.Minute {
			lastHousekeeping = time.Now()
			if err := s.Housekeep(ctx); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "housekeeping", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
