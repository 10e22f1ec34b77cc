package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/resguardo/resguardo"
)

// AuditRow is a stored audit entry: its leaf MAC (over the entry and its
// id, written with the change) and, once sequenced, its place in the chain
// (Seq) and chain MAC. A row migrated from the single-head chain has no
// leaf MAC: its MAC is the old form, over the entry and the MAC before.
type AuditRow struct {
	resguardo.AuditEvent
	KeyID   uint32
	MAC     []byte
	LeafKey uint32
	LeafMAC []byte
}

// Pending reports whether the entry has no place in the chain yet.
func (r AuditRow) Pending() bool { return r.Seq == 0 }

// InsertAudit stores an unsequenced entry and returns its id. The leaf MAC
// covers the id, which the database assigns here, so SetAuditLeaf writes it
// in the same transaction. Appenders only ever insert rows: no row is
// locked by every append.
func (c Conn) InsertAudit(ctx context.Context, ev resguardo.AuditEvent) (int64, error) {
	res, err := c.exec(ctx, `INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, mac, leaf_key, leaf_mac)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 0, ?)`,
		ev.At.UnixMilli(), ev.ActorKind, ev.ActorID, ev.ActorRole, ev.Action, ev.TargetKind, ev.TargetID, ev.Outcome,
		ev.RequestID, ev.Client, strings.Join(ev.Fields, ","), ev.Reason, []byte{}, []byte{})
	if err != nil {
		return 0, fmt.Errorf("append audit entry: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("append audit entry: %w", err)
	}
	return id, nil
}

// SetAuditLeaf stores the leaf MAC of the entry just inserted.
func (c Conn) SetAuditLeaf(ctx context.Context, id int64, keyID uint32, mac []byte) error {
	if _, err := c.exec(ctx, `UPDATE audit_log SET leaf_key = ?, leaf_mac = ? WHERE id = ?`, keyID, mac, id); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	return nil
}

// LockAuditHead reads the chain's head (last seq and MAC) and holds it
// until the transaction ends. Only the sequencer takes it.
func (c Conn) LockAuditHead(ctx context.Context) (seq int64, mac []byte, err error) {
	q := `SELECT seq, mac FROM audit_head WHERE id = 1`
	if c.dialect == MySQL {
		q = `SELECT seq, mac FROM audit_head WHERE id = 1 FOR UPDATE`
	}
	if err := c.queryRow(ctx, q).Scan(&seq, &mac); err != nil {
		return 0, nil, fmt.Errorf("lock audit head: %w", busy(err))
	}
	return seq, mac, nil
}

// PendingLeaf is what the sequencer chains of a pending entry.
type PendingLeaf struct {
	ID      int64
	LeafKey uint32
	LeafMAC []byte
}

// PendingAudit lists up to limit unsequenced entries, oldest id first.
func (c Conn) PendingAudit(ctx context.Context, limit int) ([]PendingLeaf, error) {
	rows, err := c.query(ctx, `SELECT id, leaf_key, leaf_mac FROM audit_log WHERE seq IS NULL ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read pending audit entries: %w", err)
	}
	defer rows.Close()
	var out []PendingLeaf
	for rows.Next() {
		var p PendingLeaf
		if err := rows.Scan(&p.ID, &p.LeafKey, &p.LeafMAC); err != nil {
			return nil, fmt.Errorf("read pending audit entry: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SequenceAudit gives a pending entry its place and chain MAC. An entry
// already sequenced (by another sequencer) fails the batch.
func (c Conn) SequenceAudit(ctx context.Context, id, seq int64, keyID uint32, mac []byte) error {
	res, err := c.exec(ctx, `UPDATE audit_log SET seq = ?, key_id = ?, mac = ? WHERE id = ? AND seq IS NULL`, seq, keyID, mac, id)
	if err != nil {
		return fmt.Errorf("sequence audit entry: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("sequence audit entry %d: already sequenced (%d rows, %v)", id, n, err)
	}
	return nil
}

// MoveAuditHead sets the chain head.
func (c Conn) MoveAuditHead(ctx context.Context, seq int64, mac []byte) error {
	if _, err := c.exec(ctx, `UPDATE audit_head SET seq = ?, mac = ? WHERE id = 1`, seq, mac); err != nil {
		return fmt.Errorf("move audit head: %w", err)
	}
	return nil
}

// AuditBacklog is the size and age of the pending entries.
type AuditBacklog struct {
	Pending int64
	Oldest  time.Time // zero when nothing is pending
}

// PendingBacklog counts the unsequenced entries and finds the oldest.
func (c Conn) PendingBacklog(ctx context.Context) (AuditBacklog, error) {
	var b AuditBacklog
	var oldest sql.NullInt64
	if err := c.queryRow(ctx, `SELECT COUNT(*), MIN(at) FROM audit_log WHERE seq IS NULL`).Scan(&b.Pending, &oldest); err != nil {
		return b, fmt.Errorf("read audit backlog: %w", err)
	}
	if oldest.Valid {
		b.Oldest = time.UnixMilli(oldest.Int64).UTC()
	}
	return b, nil
}

// SequencerLease reads who holds the sequencer's lease and until when.
func (c Conn) SequencerLease(ctx context.Context) (holder string, until time.Time, err error) {
	var ms int64
	if err := c.queryRow(ctx, `SELECT holder, until FROM audit_sequencer WHERE id = 1`).Scan(&holder, &ms); err != nil {
		return "", time.Time{}, fmt.Errorf("read audit sequencer lease: %w", busy(err))
	}
	return holder, time.UnixMilli(ms), nil
}

// TakeSequencerLease makes holder the sequencer until the time given if it
// already is, or if the lease has run out at now; it reports whether
// holder has the lease in this transaction.
func (c Conn) TakeSequencerLease(ctx context.Context, holder string, now, until time.Time) (bool, error) {
	if _, err := c.exec(ctx, `UPDATE audit_sequencer SET holder = ?, until = ? WHERE id = 1 AND (holder = ? OR until < ?)`,
		holder, until.UnixMilli(), holder, now.UnixMilli()); err != nil {
		return false, fmt.Errorf("take audit sequencer lease: %w", err)
	}
	// A locking read on MySQL: it takes no snapshot, so the pending
	// entries read later in the transaction are read after the head lock.
	q := `SELECT holder FROM audit_sequencer WHERE id = 1`
	if c.dialect == MySQL {
		q = `SELECT holder FROM audit_sequencer WHERE id = 1 FOR UPDATE`
	}
	var got string
	if err := c.queryRow(ctx, q).Scan(&got); err != nil {
		return false, fmt.Errorf("read audit sequencer lease: %w", busy(err))
	}
	return got == holder, nil
}

// ReleaseSequencerLease gives the lease up at once if holder has it, so
// another server takes over without waiting for it to run out.
func (c Conn) ReleaseSequencerLease(ctx context.Context, holder string) error {
	if _, err := c.exec(ctx, `UPDATE audit_sequencer SET until = 0 WHERE id = 1 AND holder = ?`, holder); err != nil {
		return fmt.Errorf("release audit sequencer lease: %w", err)
	}
	return nil
}

const auditColumns = `id, seq, at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, mac, leaf_key, leaf_mac`

func scanAudit(rows *sql.Rows) (AuditRow, error) {
	var r AuditRow
	var at int64
	var seq sql.NullInt64
	var fields string
	err := rows.Scan(&r.ID, &seq, &at, &r.ActorKind, &r.ActorID, &r.ActorRole, &r.Action, &r.TargetKind, &r.TargetID, &r.Outcome,
		&r.RequestID, &r.Client, &fields, &r.Reason, &r.KeyID, &r.MAC, &r.LeafKey, &r.LeafMAC)
	if err != nil {
		return r, fmt.Errorf("read audit entry: %w", err)
	}
	r.Seq = seq.Int64
	r.At = time.UnixMilli(at).UTC()
	if fields != "" {
		r.Fields = strings.Split(fields, ",")
	}
	return r, nil
}

// EachAudit calls fn for every chained entry with seq > after, in chain
// order, in batches, so a million entries stream without being held in
// memory.
func (c Conn) EachAudit(ctx context.Context, after int64, fn func(AuditRow) error) error {
	return c.eachAudit(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`, after,
		func(r AuditRow) int64 { return r.Seq }, fn)
}

// EachPendingAudit calls fn for every entry not yet in the chain, by id.
func (c Conn) EachPendingAudit(ctx context.Context, fn func(AuditRow) error) error {
	return c.eachAudit(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE seq IS NULL AND id > ? ORDER BY id LIMIT ?`, 0,
		func(r AuditRow) int64 { return r.ID }, fn)
}

func (c Conn) eachAudit(ctx context.Context, q string, after int64, key func(AuditRow) int64, fn func(AuditRow) error) error {
	const batch = 5000
	for {
		rows, err := c.query(ctx, q, after, batch)
		if err != nil {
			return fmt.Errorf("read audit log: %w", err)
		}
		n := 0
		for rows.Next() {
			r, err := scanAudit(rows)
			if err == nil {
				err = fn(r)
			}
			if err != nil {
				_ = rows.Close()
				return err
			}
			after, n = key(r), n+1
		}
		if err := rows.Err(); err != nil {
			return err
		}
		_ = rows.Close()
		if n < batch {
			return nil
		}
	}
}

// AuditForTarget lists the entries about one target, sequenced or still
// pending, newest first, before the entry id cursor (0: from the newest).
func (c Conn) AuditForTarget(ctx context.Context, targetKind, targetID string, before int64, limit int) ([]AuditRow, error) {
	if before <= 0 {
		before = 1<<62 - 1
	}
	rows, err := c.query(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE target_id = ? AND target_kind = ? AND id < ? ORDER BY id DESC LIMIT ?`,
		targetID, targetKind, before, limit)
	if err != nil {
		return nil, fmt.Errorf("read access log: %w", err)
	}
	defer rows.Close()
	var out []AuditRow
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Checkpoint is a MACed (seq, mac) of the chain.
type Checkpoint struct {
	Seq   int64
	MAC   []byte
	At    time.Time
	KeyID uint32
	Tag   []byte
}

// InsertCheckpoint stores a checkpoint (once per seq).
func (c Conn) InsertCheckpoint(ctx context.Context, cp Checkpoint) error {
	var err error
	if c.dialect == MySQL {
		_, err = c.exec(ctx, `INSERT IGNORE INTO audit_checkpoints (seq, mac, at, key_id, tag) VALUES (?, ?, ?, ?, ?)`, cp.Seq, cp.MAC, cp.At.UnixMilli(), cp.KeyID, cp.Tag)
	} else {
		_, err = c.exec(ctx, `INSERT INTO audit_checkpoints (seq, mac, at, key_id, tag) VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING`, cp.Seq, cp.MAC, cp.At.UnixMilli(), cp.KeyID, cp.Tag)
	}
	if err != nil {
		return fmt.Errorf("store audit checkpoint: %w", err)
	}
	return nil
}

// AuditPending reports whether any entry waits for the sequencer: one
// probe of the seq index, cheap enough for every tick of an idle server.
func (c Conn) AuditPending(ctx context.Context) (bool, error) {
	var one int
	err := c.queryRow(ctx, `SELECT 1 FROM audit_log WHERE seq IS NULL LIMIT 1`).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read pending audit entries: %w", busy(err))
	}
	return true, nil
}

// LastCheckpointSeq is the place of the newest stored checkpoint, 0 when
// there is none (one read of the primary key's end, however long the
// trail).
func (c Conn) LastCheckpointSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := c.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read last audit checkpoint: %w", busy(err))
	}
	return seq, nil
}

// Checkpoints lists every stored checkpoint in seq order.
func (c Conn) Checkpoints(ctx context.Context) ([]Checkpoint, error) {
	rows, err := c.query(ctx, `SELECT seq, mac, at, key_id, tag FROM audit_checkpoints ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		var cp Checkpoint
		var at int64
		if err := rows.Scan(&cp.Seq, &cp.MAC, &at, &cp.KeyID, &cp.Tag); err != nil {
			return nil, fmt.Errorf("read audit checkpoint: %w", err)
		}
		cp.At = time.UnixMilli(at).UTC()
		out = append(out, cp)
	}
	return out, rows.Err()
}

// AuditHead reads the head without locking it.
func (c Conn) AuditHead(ctx context.Context) (int64, []byte, error) {
	var seq int64
	var mac []byte
	err := c.queryRow(ctx, `SELECT seq, mac FROM audit_head WHERE id = 1`).Scan(&seq, &mac)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, errNotFound("audit head")
	}
	return seq, mac, err
}
