package staff

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/mail"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// Staff mail: the enrolment link of an invitation made in the console goes
// to the invitee's mailbox and nowhere else. It is sealed under the staff
// member's own data key in staff_outbox, in the same transaction as the
// approval (or the auditor's creation) that makes the link, and sent by the
// same runner as customer mail (account.Service.RunMail). The link is never
// returned to a caller, rendered on a page or written to a log.

const tStaffOutbox = "staff_outbox"

// queueEnrolment seals the enrolment mail for row, in lang, under its data
// key and queues it inside c's transaction.
func (s *Service) queueEnrolment(ctx context.Context, c sqlstore.Conn, row sqlstore.StaffRow, token, lang string) error {
	m, err := mail.Compose(mail.KindStaffEnrolment, lang, row.Email,
		mail.Data{Link: s.enrolLink(token), Minutes: int(s.o.EnrolTTL / time.Minute)})
	if err != nil {
		return fmt.Errorf("compose staff enrolment mail: %w", err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dk, err := s.staffKey(row)
	if err != nil {
		return err
	}
	id := newID()
	sealed, err := dk.Seal(b, tStaffOutbox, "sealed", id)
	if err != nil {
		return fmt.Errorf("seal staff mail: %w", err)
	}
	now := s.now().Unix()
	return c.InsertStaffOutbox(ctx, sqlstore.StaffOutboxRow{ID: id, StaffID: row.ID, Sealed: sealed, CreatedAt: now, NextAttemptAt: now})
}

// SendMail delivers up to limit due staff messages and returns how many
// went out; it is an account.Outbox for the mail runner. A failed send is
// retried later with a growing delay. Each delivered link is audited and
// recorded on the member (the team page says it was mailed); mail for a
// member disabled meanwhile is dropped unsent.
func (s *Service) SendMail(ctx context.Context, sender mail.Sender, limit int) (int, error) {
	now := s.now()
	due, err := s.db.Conn().DueStaffOutbox(ctx, now.Unix(), limit)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, row := range due {
		member, err := s.db.Conn().StaffByID(ctx, row.StaffID)
		if err != nil {
			return sent, err
		}
		if member.Disabled {
			if err := s.db.Conn().DeleteStaffOutbox(ctx, row.ID); err != nil {
				return sent, err
			}
			continue
		}
		dk, err := s.staffKey(member)
		if err != nil {
			return sent, err
		}
		b, err := dk.Open(row.Sealed, tStaffOutbox, "sealed", row.ID)
		if err != nil {
			return sent, fmt.Errorf("open staff mail %s: %w", row.ID, err)
		}
		var m mail.Message
		if err := json.Unmarshal(b, &m); err != nil {
			return sent, err
		}
		if err := sender.Send(ctx, m); err != nil {
			s.log.WarnContext(ctx, "staff mail not sent; will retry", "outbox", row.ID, "attempts", row.Attempts+1, "err", err)
			backoff := min(time.Duration(1<<min(row.Attempts, 10))*time.Minute, 6*time.Hour)
			if err := s.db.Conn().RetryStaffOutbox(ctx, row.ID, now.Add(backoff).Unix()); err != nil {
				return sent, err
			}
			continue
		}
		err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
			if err := c.DeleteStaffOutbox(ctx, row.ID); err != nil {
				return err
			}
			if err := c.MarkStaffEnrolMailed(ctx, member.ID, now.Unix()); err != nil {
				return err
			}
			return s.audit.Append(ctx, c, resguardo.AuditEvent{ActorKind: resguardo.ActorSystem, Action: resguardo.ActStaffEnrolLinkMailed,
				TargetKind: resguardo.TargetStaff, TargetID: member.ID, Outcome: resguardo.OutcomeSuccess})
		})
		if err != nil {
			return sent, err
		}
		sent++
	}
	return sent, nil
}

// DisableOrRequest is the console's "disable": an agent, lead or auditor
// is disabled at once; for an administrator it only records a request that
// a second administrator must approve (Decide then disables). It returns
// that request's id, or "" when the member was disabled.
func (s *Service) DisableOrRequest(ctx context.Context, p Principal, id string) (string, error) {
	if err := s.require(p, OpTeamDisable); err != nil {
		return "", err
	}
	row, err := s.db.Conn().StaffByID(ctx, id)
	if err != nil {
		return "", err
	}
	if row.Disabled {
		return "", resguardo.Errorf(resguardo.EConflict, "This staff member is already disabled.")
	}
	if resguardo.Role(row.Role) != resguardo.RoleAdmin {
		_, err := s.Disable(ctx, id, &p)
		return "", err
	}
	return s.Request(ctx, p, KindDisable, id, "")
}
