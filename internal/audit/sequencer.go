package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/resguardo/resguardo/internal/sqlstore"
)

// errNotSequencer ends a batch when another server holds the lease.
var errNotSequencer = errors.New("another server holds the audit sequencer lease")

// Sequence chains every pending entry if this process holds the sequencer
// lease or can take it (nobody holds it, or it ran out), a batch per
// transaction. It returns how many entries it chained and whether this
// process is the sequencer. Two processes that both believe they hold the
// lease (clocks far apart) cannot break the chain: each batch locks the
// head row (one database) or is certified against the other's (Galera),
// and a batch that finds an entry already chained is rolled back.
func (l *Log) Sequence(ctx context.Context) (int, bool, error) {
	holder, until, err := l.db.Conn().SequencerLease(ctx)
	if err != nil {
		return 0, false, err
	}
	if holder != l.holder && !until.Before(l.now()) {
		return 0, false, nil
	}
	total := 0
	for {
		n, err := l.sequenceBatch(ctx)
		total += n
		if errors.Is(err, errNotSequencer) {
			return total, false, nil
		}
		if err != nil {
			return total, true, err
		}
		if n < sequenceBatch {
			return total, true, nil
		}
	}
}

// sequenceBatch renews the lease and chains up to sequenceBatch pending
// entries, oldest id first, in one transaction.
func (l *Log) sequenceBatch(ctx context.Context) (int, error) {
	n := 0
	err := l.db.Tx(ctx, func(c sqlstore.Conn) error {
		now := l.now()
		held, err := c.TakeSequencerLease(ctx, l.holder, now, now.Add(LeaseFor))
		if err != nil {
			return err
		}
		if !held {
			return errNotSequencer
		}
		seq, prev, err := c.LockAuditHead(ctx)
		if err != nil {
			return err
		}
		// Read after the head is locked, so every batch committed before
		// ours is seen.
		pending, err := c.PendingAudit(ctx, sequenceBatch)
		if err != nil || len(pending) == 0 {
			return err
		}
		for _, p := range pending {
			seq++
			keyID, mac, err := l.keys.AuditMAC(encodeLink(seq, p.LeafKey, p.LeafMAC, prev))
			if err != nil {
				return fmt.Errorf("audit chain mac: %w", err)
			}
			if err := c.SequenceAudit(ctx, p.ID, seq, keyID, mac); err != nil {
				return err
			}
			prev = mac
		}
		n = len(pending)
		return c.MoveAuditHead(ctx, seq, prev)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Run chains pending entries every SequenceEvery while this process holds
// the lease (taking it over when it runs out) and writes a checkpoint
// whenever enough entries have been chained, until ctx ends. Close does
// the last round.
func (l *Log) Run(ctx context.Context) {
	t := time.NewTicker(SequenceEvery)
	defer t.Stop()
	// retryCheckpoint: a checkpoint that was due could not be written (the
	// database was away); it is tried again every tick until it is, even
	// if nothing new is chained meanwhile.
	retryCheckpoint := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// An idle server only looks: no lease renewal, no transaction (on
		// Galera, no write certified on every node ten times a second).
		// The lease then runs out, and whichever server next finds entries
		// pending takes it.
		pending, err := l.db.Conn().AuditPending(ctx)
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("audit sequencer: cannot read the backlog, retrying", "err", err)
			}
			continue
		}
		chained, held := 0, false
		if pending {
			if chained, held, err = l.Sequence(ctx); err != nil {
				if ctx.Err() == nil {
					// The entries stay pending and committed; the next
					// round chains them.
					l.log.Warn("audit sequencer: batch not chained, retrying", "err", err)
				}
				continue
			}
		}
		if (held && chained > 0) || retryCheckpoint {
			if _, err := l.Checkpoint(ctx, false); err != nil {
				if ctx.Err() == nil {
					// Nothing is lost: the chain is committed; only its
					// checkpoint waits for the database.
					l.log.Warn("audit checkpoint not written, retrying", "err", err)
				}
				retryCheckpoint = true
			} else {
				retryCheckpoint = false
			}
		}
	}
}

// Close chains what is pending (if no other server is the sequencer),
// writes a checkpoint of everything chained, and gives the lease up so
// another server takes over at once. Servers call it at shutdown, and
// operator commands when they end.
func (l *Log) Close(ctx context.Context) error {
	_, held, err := l.Sequence(ctx)
	if err != nil || !held {
		return err
	}
	if _, err := l.Checkpoint(ctx, true); err != nil {
		return err
	}
	return l.db.Conn().ReleaseSequencerLease(ctx, l.holder)
}
