// Package audit keeps the tamper-evident audit trail (docs/contract.md §10).
//
// An entry is written in the transaction of the change it records, as a
// row with an id given by the database and a keyed MAC (the vault's audit
// key) over an unambiguous encoding of the entry and that id: the leaf
// MAC. Appends only insert rows, so they never wait on one another and
// several servers on several database nodes append without conflict.
// One sequencer at a time, the server holding a lease row in the database,
// then gives pending entries their place in one chain, in batches: each
// chained entry gets a chain MAC over its place, its leaf MAC and the
// chain MAC before it, and the head moves to the last. Someone who can
// write to the database but does not hold the key set cannot alter,
// remove, reorder or append entries without Verify naming the place; a
// cut-off tail is caught by checkpoints, which are also written to the log
// stream to be kept elsewhere. docs/audit.md says why this design and what
// the pending window means.
package audit

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/metrics"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// MACer is the vault's audit key.
type MACer interface {
	AuditMAC(msg []byte) (keyID uint32, tag []byte, err error)
	AuditMACWith(keyID uint32, msg []byte) ([]byte, error)
}

// Log appends to, sequences and verifies the audit trail.
type Log struct {
	db     *sqlstore.DB
	keys   MACer
	log    *slog.Logger
	every  int64
	now    func() time.Time
	holder string // this process's name on the sequencer lease
}

// Sequencer timing: how often the lease holder chains pending entries,
// and how long its lease lasts without renewal (after which another server
// takes over; a stopping server releases it at once).
const (
	SequenceEvery = 100 * time.Millisecond
	LeaseFor      = 5 * time.Second
	sequenceBatch = 1000
)

// DefaultCheckpointEvery is how many entries may pass between checkpoints.
const DefaultCheckpointEvery = 1000

// CheckpointLogMessage is the message of the log line that carries each
// checkpoint. Operators copy these lines out of the log to check the trail
// later, so the server's log writer never drops them.
const CheckpointLogMessage = "audit checkpoint"

// New returns the audit log. now may be nil (time.Now).
func New(db *sqlstore.DB, keys MACer, log *slog.Logger, every int64, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	if every <= 0 {
		every = DefaultCheckpointEvery
	}
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return &Log{db: db, keys: keys, log: log, every: every, now: now, holder: hex.EncodeToString(b[:])}
}

// Meta is what the request layer knows about a request, for its entries.
type Meta struct {
	RequestID string
	Client    string // network prefix and browser family, shown to the customer
	Network   string // the client as guessing limits count it (IPv4 address, IPv6 /64); never recorded
}

type metaKey struct{}

// WithMeta attaches request metadata for entries appended under ctx.
func WithMeta(ctx context.Context, m Meta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// MetaFrom returns the request metadata attached with WithMeta.
func MetaFrom(ctx context.Context) Meta {
	m, _ := ctx.Value(metaKey{}).(Meta)
	return m
}

// Append adds ev to the trail inside the caller's transaction, so the
// entry exists if and only if the change it records commits; a failed
// append fails the change. It inserts one row and locks nothing shared:
// the entry is chained shortly after by the sequencer (Sequence).
func (l *Log) Append(ctx context.Context, c sqlstore.Conn, ev resguardo.AuditEvent) error {
	m := MetaFrom(ctx)
	if ev.RequestID == "" {
		ev.RequestID = m.RequestID
	}
	if ev.Client == "" {
		ev.Client = m.Client
	}
	ev.Seq = 0
	ev.At = time.UnixMilli(l.now().UnixMilli()).UTC()
	id, err := c.InsertAudit(ctx, ev)
	if err != nil {
		return err
	}
	ev.ID = id
	keyID, mac, err := l.keys.AuditMAC(encodeLeaf(ev))
	if err != nil {
		return fmt.Errorf("audit mac: %w", err)
	}
	if err := c.SetAuditLeaf(ctx, id, keyID, mac); err != nil {
		return err
	}
	metrics.AuditAppend(string(ev.ActorKind))
	return nil
}

// Record appends ev in a transaction of its own, for events that change
// nothing else (a failed sign-in). The transaction holds nothing but the
// entry, so it is tried again when the database gave up on contention (a
// deadlock, a Galera certification failure, SQLite busy); any other error,
// or contention that outlasts the retries, is returned for the caller to
// fail its request with.
func (l *Log) Record(ctx context.Context, ev resguardo.AuditEvent) error {
	var err error
	for attempt := range recordAttempts {
		err = l.db.Tx(ctx, func(c sqlstore.Conn) error { return l.Append(ctx, c, ev) })
		if err == nil || !errors.Is(err, resguardo.ErrContention) || attempt == recordAttempts-1 {
			break
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
	return err
}

// recordAttempts bounds Record's tries on contention.
const recordAttempts = 5

// field encodes parts unambiguously: each is preceded by its length.
func field(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s))) // #nosec G115 -- entries are bounded far below 4 GiB
	return append(b, s...)
}

// encodeEntry is the canonical form of an entry chained to prev in the
// single-head chain (entries written before the sequencer, kept as they
// were).
func encodeEntry(ev resguardo.AuditEvent, prev []byte) []byte {
	b := field(nil, "resguardo.audit.entry.v1")
	for _, s := range []string{
		strconv.FormatInt(ev.Seq, 10), strconv.FormatInt(ev.At.UnixMilli(), 10),
		ev.ActorKind, ev.ActorID, ev.ActorRole, ev.Action, ev.TargetKind, ev.TargetID,
		ev.Outcome, ev.RequestID, ev.Client, strings.Join(ev.Fields, ","), ev.Reason, string(prev),
	} {
		b = field(b, s)
	}
	return b
}

// encodeLeaf is the canonical form of an entry with its id, MACed when it
// is written.
func encodeLeaf(ev resguardo.AuditEvent) []byte {
	b := field(nil, "resguardo.audit.leaf.v2")
	for _, s := range []string{
		strconv.FormatInt(ev.ID, 10), strconv.FormatInt(ev.At.UnixMilli(), 10),
		ev.ActorKind, ev.ActorID, ev.ActorRole, ev.Action, ev.TargetKind, ev.TargetID,
		ev.Outcome, ev.RequestID, ev.Client, strings.Join(ev.Fields, ","), ev.Reason,
	} {
		b = field(b, s)
	}
	return b
}

// encodeLink is the canonical form of a leaf given place seq in the chain
// after prev.
func encodeLink(seq int64, leafKey uint32, leaf, prev []byte) []byte {
	b := field(nil, "resguardo.audit.link.v2")
	for _, s := range []string{strconv.FormatInt(seq, 10), strconv.FormatUint(uint64(leafKey), 10), string(leaf), string(prev)} {
		b = field(b, s)
	}
	return b
}

func encodeCheckpoint(seq int64, mac []byte) []byte {
	return field(field(field(nil, "resguardo.audit.checkpoint.v1"), strconv.FormatInt(seq, 10)), string(mac))
}

// External is a checkpoint as an operator keeps it outside the database:
// "SEQ:HEXMAC", as the log stream prints it.
type External struct {
	Seq int64
	MAC []byte
}

func (e External) String() string {
	return strconv.FormatInt(e.Seq, 10) + ":" + hex.EncodeToString(e.MAC)
}

// ParseExternal reads "SEQ:HEXMAC".
func ParseExternal(s string) (External, error) {
	seqText, macText, ok := strings.Cut(strings.TrimSpace(s), ":")
	seq, err1 := strconv.ParseInt(seqText, 10, 64)
	mac, err2 := hex.DecodeString(macText)
	if !ok || err1 != nil || err2 != nil || seq < 1 || len(mac) == 0 {
		return External{}, errors.New("a checkpoint is SEQ:HEXMAC, as printed in the log's audit checkpoint lines")
	}
	return External{Seq: seq, MAC: mac}, nil
}

// Checkpoint records the chain's committed head if at least every entries
// were added since the last checkpoint (or force, at shutdown), in the
// checkpoint table and as a log line. It returns the checkpoint written, or
// nil.
func (l *Log) Checkpoint(ctx context.Context, force bool) (*External, error) {
	conn := l.db.Conn()
	seq, mac, err := conn.AuditHead(ctx)
	if err != nil || seq == 0 {
		return nil, err
	}
	last, err := conn.LastCheckpointSeq(ctx)
	if err != nil {
		return nil, err
	}
	if seq == last || (!force && seq-last < l.every) {
		return nil, nil
	}
	keyID, tag, err := l.keys.AuditMAC(encodeCheckpoint(seq, mac))
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint mac: %w", err)
	}
	if err := conn.InsertCheckpoint(ctx, sqlstore.Checkpoint{Seq: seq, MAC: mac, At: l.now(), KeyID: keyID, Tag: tag}); err != nil {
		return nil, err
	}
	ext := External{Seq: seq, MAC: mac}
	l.log.InfoContext(ctx, CheckpointLogMessage, "seq", seq, "checkpoint", ext.String())
	return &ext, nil
}

// Problem is one place where the trail does not hold: Seq is the place
// in the chain (0 for an entry still pending), Entry the entry's number
// when the problem is about a stored entry.
type Problem struct {
	Seq    int64  `json:"seq"`
	Entry  int64  `json:"entry,omitempty"`
	Reason string `json:"reason"`
}

// Where names the problem's place for people: the entry number shown on
// the audit page, and its place in the chain when it has one.
func (p Problem) Where() string {
	switch {
	case p.Entry != 0 && p.Seq != 0:
		return fmt.Sprintf("entry %d (chain place %d)", p.Entry, p.Seq)
	case p.Entry != 0:
		return fmt.Sprintf("entry %d (pending)", p.Entry)
	default:
		return fmt.Sprintf("entry %d", p.Seq)
	}
}

// Report is the result of Verify: Entries counts every entry, LastSeq is
// the end of the chain, Pending the entries committed but not chained yet
// (Oldest, their oldest time, shows whether a sequencer is running).
type Report struct {
	Entries  int64     `json:"entries"`
	LastSeq  int64     `json:"last_seq"`
	Pending  int64     `json:"pending"`
	Oldest   time.Time `json:"oldest_pending,omitzero"`
	Problems []Problem `json:"problems"`
}

// PendingAge is how long the oldest pending entry has waited at now.
func (r Report) PendingAge(now time.Time) time.Duration {
	if r.Pending == 0 || r.Oldest.IsZero() {
		return 0
	}
	return now.Sub(r.Oldest)
}

// OK reports whether the trail verified.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// leafOK reports whether an entry's leaf MAC is authentic.
func (l *Log) leafOK(r sqlstore.AuditRow) bool {
	mac, err := l.keys.AuditMACWith(r.LeafKey, encodeLeaf(r.AuditEvent))
	return err == nil && hmac.Equal(mac, r.LeafMAC)
}

// linkOK reports whether a chained entry's MAC is authentic at its place
// after prev: the old single-head form for a migrated entry (no leaf MAC),
// else the leaf MAC and the link over it.
func (l *Log) linkOK(r sqlstore.AuditRow, prev []byte) bool {
	if len(r.LeafMAC) == 0 {
		if r.ID != r.Seq { // migrated entries kept their place as their number
			return false
		}
		mac, err := l.keys.AuditMACWith(r.KeyID, encodeEntry(r.AuditEvent, prev))
		return err == nil && hmac.Equal(mac, r.MAC)
	}
	mac, err := l.keys.AuditMACWith(r.KeyID, encodeLink(r.Seq, r.LeafKey, r.LeafMAC, prev))
	return err == nil && hmac.Equal(mac, r.MAC) && l.leafOK(r)
}

// Verify walks the whole chain: places without gaps from 1, each entry's
// MACs recomputed with the keys they name and chained to the previous
// entry, the head row at the last entry, every stored checkpoint (and the
// external one, if given) authentic and still in the chain; then every
// pending entry's leaf MAC, and the backlog's size and age. Problems name
// the first bad place of each kind.
func (l *Log) Verify(ctx context.Context, external *External) (Report, error) {
	return l.VerifyProgress(ctx, external, nil)
}

// VerifyProgress is Verify telling progress, if not nil, first the number
// of entries to check (the chain head) and then, every 10,000 entries,
// how many it has checked.
func (l *Log) VerifyProgress(ctx context.Context, external *External, progress func(checked, total int64)) (Report, error) {
	conn := l.db.Conn()
	rep := Report{Problems: []Problem{}}
	cps, err := conn.Checkpoints(ctx)
	if err != nil {
		return rep, err
	}
	want := map[int64][]byte{} // checkpointed seq → mac
	for _, cp := range cps {
		tag, err := l.keys.AuditMACWith(cp.KeyID, encodeCheckpoint(cp.Seq, cp.MAC))
		if err != nil || !hmac.Equal(tag, cp.Tag) {
			rep.Problems = append(rep.Problems, Problem{Seq: cp.Seq, Reason: "checkpoint is not authentic"})
			continue
		}
		want[cp.Seq] = cp.MAC
	}
	if external != nil {
		want[external.Seq] = external.MAC
	}
	// The head is read before the walk and again after it, so entries
	// chained meanwhile by a live sequencer are not mistaken for tampering:
	// the chain must reach the first head, and nothing may lie beyond the
	// second.
	headSeq, headMAC, err := conn.AuditHead(ctx)
	if err != nil {
		return rep, err
	}
	if progress != nil {
		progress(0, headSeq)
	}
	var prev []byte
	seen := map[int64]bool{}
	gap, altered := false, false // report the first place of each kind
	err = conn.EachAudit(ctx, 0, func(r sqlstore.AuditRow) error {
		rep.Entries++
		if !gap && r.Seq != rep.LastSeq+1 {
			rep.Problems = append(rep.Problems, Problem{Seq: rep.LastSeq + 1, Reason: fmt.Sprintf("entry missing (next entry is %d)", r.Seq)})
			gap = true
		}
		if !altered && !l.linkOK(r, prev) {
			rep.Problems = append(rep.Problems, Problem{Seq: r.Seq, Entry: r.ID, Reason: "entry altered, reordered or not chained to the one before"})
			altered = true
		}
		if r.Seq == headSeq && !hmac.Equal(r.MAC, headMAC) {
			rep.Problems = append(rep.Problems, Problem{Seq: r.Seq, Entry: r.ID, Reason: "entry differs from the chain head"})
		}
		if w, ok := want[r.Seq]; ok {
			seen[r.Seq] = true
			if !hmac.Equal(w, r.MAC) {
				rep.Problems = append(rep.Problems, Problem{Seq: r.Seq, Entry: r.ID, Reason: "entry differs from its checkpoint"})
			}
		}
		prev, rep.LastSeq = r.MAC, r.Seq
		if progress != nil && rep.Entries%10000 == 0 {
			progress(rep.Entries, headSeq)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if rep.LastSeq < headSeq {
		rep.Problems = append(rep.Problems, Problem{Seq: rep.LastSeq + 1, Reason: fmt.Sprintf("chain head is at %d, the last entry is %d: entries cut off", headSeq, rep.LastSeq)})
	}
	headAfter, _, err := conn.AuditHead(ctx)
	if err != nil {
		return rep, err
	}
	if rep.LastSeq > headAfter {
		rep.Problems = append(rep.Problems, Problem{Seq: headAfter + 1, Reason: fmt.Sprintf("entries after the chain head (%d) were added without it", headAfter)})
	}
	for seq := range want {
		if !seen[seq] && seq > rep.LastSeq {
			rep.Problems = append(rep.Problems, Problem{Seq: rep.LastSeq + 1, Reason: fmt.Sprintf("entries %d to %d are missing: the tail was cut off after checkpoint %d", rep.LastSeq+1, seq, seq)})
		}
	}
	forged := false
	err = conn.EachPendingAudit(ctx, func(r sqlstore.AuditRow) error {
		rep.Entries++
		rep.Pending++
		if rep.Oldest.IsZero() || r.At.Before(rep.Oldest) {
			rep.Oldest = r.At
		}
		if !forged && !l.leafOK(r) {
			rep.Problems = append(rep.Problems, Problem{Entry: r.ID, Reason: "pending entry altered or forged"})
			forged = true
		}
		return nil
	})
	return rep, err
}

// Export writes every entry as one JSON object per line: the chain in
// order, then the entries still pending (seq 0).
func (l *Log) Export(ctx context.Context, w io.Writer) error {
	enc := json.NewEncoder(w)
	write := func(r sqlstore.AuditRow) error {
		return enc.Encode(exported{r.AuditEvent, r.KeyID, hex.EncodeToString(r.MAC), r.LeafKey, hex.EncodeToString(r.LeafMAC)})
	}
	if err := l.db.Conn().EachAudit(ctx, 0, write); err != nil {
		return err
	}
	return l.db.Conn().EachPendingAudit(ctx, write)
}

type exported struct {
	resguardo.AuditEvent
	KeyID   uint32 `json:"key_id"`
	MAC     string `json:"mac"`
	LeafKey uint32 `json:"leaf_key_id"`
	LeafMAC string `json:"leaf_mac"`
}
