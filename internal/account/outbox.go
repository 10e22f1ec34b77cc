package account

import (
	"context"
	"time"

	"github.com/resguardo/resguardo/internal/mail"
)

// SendMail delivers up to limit due messages from the outbox and returns how
// many went out. A failed send is retried later with a growing delay; the
// message stays sealed in the database until it is delivered.
func (s *Service) SendMail(ctx context.Context, sender mail.Sender, limit int) (int, error) {
	now := s.now()
	due, err := s.db.Conn().DueOutbox(ctx, now.Unix(), limit)
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
		if err := openJSON(dk, row.Sealed, &m, tOutbox, "sealed", row.ID); err != nil {
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
