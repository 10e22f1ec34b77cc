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

// AuditRow is a stored audit entry with its chain MAC.
type AuditRow struct {
	resguardo.AuditEvent
	KeyID uint32
	MAC   []byte
}

// LockAuditHead reads the chain's head (last seq and MAC) and holds it
// until the transaction ends: appends from every process serialise here.
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

// AppendAudit stores an entry and moves the head to it.
func (c Conn) AppendAudit(ctx context.Context, r AuditRow) error {
	_, err := c.exec(ctx, `INSERT INTO audit_log (seq, at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, mac)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Seq, r.At.UnixMilli(), r.ActorKind, r.ActorID, r.ActorRole, r.Action, r.TargetKind, r.TargetID, r.Outcome,
		r.RequestID, r.Client, strings.Join(r.Fields, ","), r.Reason, r.KeyID, r.MAC)
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	if _, err := c.exec(ctx, `UPDATE audit_head SET seq = ?, mac = ? WHERE id = 1`, r.Seq, r.MAC); err != nil {
		return fmt.Errorf("move audit head: %w", err)
	}
	return nil
}

const auditColumns = `seq, at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, mac`

func scanAudit(rows *sql.Rows) (AuditRow, error) {
	var r AuditRow
	var at int64
	var fields string
	err := rows.Scan(&r.Seq, &at, &r.ActorKind, &r.ActorID, &r.ActorRole, &r.Action, &r.TargetKind, &r.TargetID, &r.Outcome,
		&r.RequestID, &r.Client, &fields, &r.Reason, &r.KeyID, &r.MAC)
	if err != nil {
		return r, fmt.Errorf("read audit entry: %w", err)
	}
	r.At = time.UnixMilli(at).UTC()
	if fields != "" {
		r.Fields = strings.Split(fields, ",")
	}
	return r, nil
}

// EachAudit calls fn for every entry with seq > after, in seq order, in
// batches, so a million entries stream without being held in memory.
func (c Conn) EachAudit(ctx context.Context, after int64, fn func(AuditRow) error) error {
	const batch = 5000
	for {
		rows, err := c.query(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`, after, batch)
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
			after, n = r.Seq, n+1
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

// AuditForTarget lists the entries about one target, newest first, before
// the seq cursor (0: from the newest).
func (c Conn) AuditForTarget(ctx context.Context, targetKind, targetID string, before int64, limit int) ([]AuditRow, error) {
	if before <= 0 {
		before = 1<<62 - 1
	}
	rows, err := c.query(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE target_id = ? AND target_kind = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
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
