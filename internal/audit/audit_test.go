package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
	"github.com/resguardo/resguardo/internal/vault"
)

// env is one test's database, raw connection to it, vault and audit log.
type env struct {
	db      *sqlstore.DB
	dsn     string // "" for SQLite
	dataDir string
	keys    *vault.Vault
	log     *audit.Log
	raw     *sql.DB // a separate connection, as an attacker with database access has
}

func newEnv(t testing.TB, b testutil.Backend, every int64) *env {
	t.Helper()
	db, dsn, dataDir := b.Open(t)
	keys, err := vault.Open(t.TempDir())
	if err != nil {
		t.Fatalf("vault.Open: %v", err)
	}
	return &env{
		db: db, dsn: dsn, dataDir: dataDir, keys: keys,
		log: audit.New(db, keys, slog.New(slog.NewTextHandler(io.Discard, nil)), every, nil),
	}
}

// rawDB opens a second, independent connection to the same database.
func (e *env) rawDB(t testing.TB) *sql.DB {
	t.Helper()
	if e.raw == nil {
		e.raw = testutil.RawDB(t, e.dsn, e.dataDir)
	}
	return e.raw
}

func (e *env) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := e.rawDB(t).ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (e *env) mac(t testing.TB, seq int64) []byte {
	t.Helper()
	var mac []byte
	if err := e.rawDB(t).QueryRowContext(context.Background(), `SELECT mac FROM audit_log WHERE seq = ?`, seq).Scan(&mac); err != nil {
		t.Fatalf("read mac of %d: %v", seq, err)
	}
	return mac
}

// event returns a varied event for entry i.
func event(i int) resguardo.AuditEvent {
	actors := []string{resguardo.ActorCustomer, resguardo.ActorStaff, resguardo.ActorSystem, resguardo.ActorAnonymous}
	actions := []string{"auth.signin", "auth.signin_failed", "customer.view", "customer.reveal", "customer.update", "mfa.enable", "session.revoke"}
	outcomes := []string{resguardo.OutcomeSuccess, resguardo.OutcomeFailure, resguardo.OutcomeDenied}
	ev := resguardo.AuditEvent{
		ActorKind:  actors[i%len(actors)],
		ActorID:    fmt.Sprintf("actor-%d", i%7),
		Action:     actions[i%len(actions)],
		TargetKind: "customer",
		TargetID:   fmt.Sprintf("cust-%d", i%5),
		Outcome:    outcomes[i%len(outcomes)],
		RequestID:  fmt.Sprintf("req-%04d", i),
		Client:     "192.0.2.0/24 firefox",
	}
	if ev.ActorKind == resguardo.ActorStaff {
		ev.ActorRole = "support"
		ev.Reason = fmt.Sprintf("ticket #%d: customer asked, ñandú ✓", i)
	}
	if ev.Action == "customer.update" || ev.Action == "customer.reveal" {
		ev.Fields = []string{"email", "phone"}[:1+i%2]
	}
	return ev
}

// fill appends n entries through Record, numbered from first.
func (e *env) fill(t testing.TB, first, n int) {
	t.Helper()
	ctx := context.Background()
	for i := first; i < first+n; i++ {
		if err := e.log.Record(ctx, event(i)); err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
	chain(t, e.log)
}

// chain runs the sequencer until nothing is pending.
func chain(t testing.TB, l *audit.Log) {
	t.Helper()
	if _, held, err := l.Sequence(context.Background()); err != nil || !held {
		t.Fatalf("Sequence: held %v, %v", held, err)
	}
}

// verify chains what is pending, then verifies.
func verify(t testing.TB, l *audit.Log, ext *audit.External) audit.Report {
	t.Helper()
	chain(t, l)
	rep, err := l.Verify(context.Background(), ext)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func wantOK(t testing.TB, rep audit.Report, entries int64) {
	t.Helper()
	if !rep.OK() || rep.Entries != entries || rep.LastSeq != entries || rep.Pending != 0 {
		t.Fatalf("Verify = %+v, want OK with %d entries", rep, entries)
	}
}

// wantProblemAt checks that Verify failed and that its first problem (the
// earliest place) is at seq.
func wantProblemAt(t testing.TB, rep audit.Report, seq int64, reason string) {
	t.Helper()
	if rep.OK() {
		t.Fatalf("Verify = %+v: tampering not detected", rep)
	}
	for _, p := range rep.Problems {
		if p.Seq < seq {
			t.Errorf("problem before the tampered entry %d: %+v", seq, p)
		}
	}
	for _, p := range rep.Problems {
		if p.Seq == seq && strings.Contains(p.Reason, reason) {
			return
		}
	}
	t.Fatalf("Verify problems %+v name no %q at seq %d", rep.Problems, reason, seq)
}

func TestAppendAndVerify(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		e := newEnv(t, b, 0)
		ctx := context.Background()
		wantOK(t, verify(t, e.log, nil), 0) // an empty chain verifies
		e.fill(t, 0, 40)
		// Ten more through Append in the caller's transaction, with metadata
		// from the request context, two per transaction.
		mctx := audit.WithMeta(ctx, audit.Meta{RequestID: "req-meta", Client: "198.51.100.0/24 curl"})
		for i := 40; i < 50; i += 2 {
			err := e.db.Tx(ctx, func(c sqlstore.Conn) error {
				for j := i; j < i+2; j++ {
					ev := event(j)
					ev.RequestID, ev.Client = "", ""
					if err := e.log.Append(mctx, c, ev); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("Tx: %v", err)
			}
		}
		wantOK(t, verify(t, e.log, nil), 50)

		rows, err := e.db.Conn().AuditForTarget(ctx, "customer", "cust-3", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 10 {
			t.Fatalf("AuditForTarget = %d rows, want 10", len(rows))
		}
		var last sqlstore.AuditRow
		err = e.db.Conn().EachAudit(ctx, 48, func(r sqlstore.AuditRow) error { last = r; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if last.Seq != 50 || last.RequestID != "req-meta" || last.Client != "198.51.100.0/24 curl" {
			t.Fatalf("last entry = %+v, want seq 50 with the context's metadata", last)
		}
		// The stored event round-trips: reason with non-ASCII text and fields.
		first := event(49)
		if last.Reason != first.Reason || strings.Join(last.Fields, ",") != strings.Join(first.Fields, ",") || last.Action != first.Action {
			t.Fatalf("last entry = %+v, want %+v", last.AuditEvent, first)
		}
	})
}

// TestTamperingIsDetected edits the database as someone with write access
// but without the vault's audit key would.
func TestTamperingIsDetected(t *testing.T) {
	const n = 50
	cases := []struct {
		name   string
		seq    int64
		reason string
		tamper func(t *testing.T, e *env)
	}{
		{"change action", 17, "altered", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_log SET action = ? WHERE seq = 17`, "customer.vieW")
		}},
		{"change one byte of client", 17, "altered", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_log SET client = ? WHERE seq = 17`, "192.0.2.0/24 firefoy")
		}},
		{"change reason of the last entry", n, "altered", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_log SET reason = ? WHERE seq = ?`, "nothing to see", n)
		}},
		{"change time", 17, "altered", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_log SET at = at - 1 WHERE seq = 17`)
		}},
		{"change fields", 4, "altered", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_log SET fields = ? WHERE seq = 4`, "email") // entry 4 is a reveal of email,phone
		}},
		{"flip one byte of a mac", 17, "altered", func(t *testing.T, e *env) {
			mac := e.mac(t, 17)
			mac[3] ^= 0x01
			e.exec(t, `UPDATE audit_log SET mac = ? WHERE seq = 17`, mac)
		}},
		{"change key id", 17, "altered", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_log SET key_id = key_id + 1 WHERE seq = 17`)
		}},
		{"delete an entry in the middle", 17, "missing", func(t *testing.T, e *env) {
			e.exec(t, `DELETE FROM audit_log WHERE seq = 17`)
		}},
		{"delete the first entry", 1, "missing", func(t *testing.T, e *env) {
			e.exec(t, `DELETE FROM audit_log WHERE seq = 1`)
		}},
		{"delete the last entry, head untouched", n, "cut off", func(t *testing.T, e *env) {
			e.exec(t, `DELETE FROM audit_log WHERE seq = ?`, n)
		}},
		{"swap two entries", 10, "altered", func(t *testing.T, e *env) { swap(t, e, 10, 20) }},
		{"swap two adjacent entries", 33, "altered", func(t *testing.T, e *env) { swap(t, e, 33, 34) }},
		{"renumber: move an entry elsewhere", 17, "missing", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_log SET seq = 1000 WHERE seq = 17`)
		}},
		{"plain SHA-256 recomputed over the edited entry", 17, "altered", func(t *testing.T, e *env) {
			forgeWithSHA256(t, e, 17, e.mac(t, 16))
		}},
		{"plain SHA-256 over the edited last entry, head moved too", n, "altered", func(t *testing.T, e *env) {
			mac := forgeWithSHA256(t, e, n, e.mac(t, n-1))
			e.exec(t, `UPDATE audit_head SET mac = ? WHERE id = 1`, mac)
		}},
		{"forged entry appended with a fake mac and the head moved", n + 1, "altered", func(t *testing.T, e *env) {
			fake := make([]byte, 32)
			_, _ = rand.Read(fake)
			e.exec(t, `INSERT INTO audit_log (seq, at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, mac)
				SELECT ?, at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, ? FROM audit_log WHERE seq = ?`, n+1, fake, n)
			e.exec(t, `UPDATE audit_head SET seq = ?, mac = ? WHERE id = 1`, n+1, fake)
		}},
		{"forged entry appended, head not moved", n + 1, "altered", func(t *testing.T, e *env) {
			fake := sha256.Sum256([]byte("forged"))
			e.exec(t, `INSERT INTO audit_log (seq, at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, mac)
				SELECT ?, at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, ? FROM audit_log WHERE seq = ?`, n+1, fake[:], n)
		}},
		{"head moved back without deleting", n, "entries after the chain head (49) were added without it", func(t *testing.T, e *env) {
			e.exec(t, `UPDATE audit_head SET seq = ?, mac = ? WHERE id = 1`, n-1, e.mac(t, n-1))
		}},
	}
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, b, 0)
				e.fill(t, 0, n)
				wantOK(t, verify(t, e.log, nil), n)
				tc.tamper(t, e)
				wantProblemAt(t, verify(t, e.log, nil), tc.seq, tc.reason)
			})
		}
	})
}

// swap exchanges every column but seq and id of two entries.
func swap(t *testing.T, e *env, a, b int64) {
	t.Helper()
	const cols = `at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, mac, leaf_key, leaf_mac`
	read := func(seq int64) []any {
		vals := make([]any, 16)
		ptrs := make([]any, 16)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := e.rawDB(t).QueryRowContext(context.Background(), `SELECT `+cols+` FROM audit_log WHERE seq = ?`, seq).Scan(ptrs...); err != nil {
			t.Fatalf("read %d: %v", seq, err)
		}
		return vals
	}
	write := func(seq int64, vals []any) {
		e.exec(t, `UPDATE audit_log SET at = ?, actor_kind = ?, actor_id = ?, actor_role = ?, action = ?, target_kind = ?, target_id = ?,
			outcome = ?, request_id = ?, client = ?, fields = ?, reason = ?, key_id = ?, mac = ?, leaf_key = ?, leaf_mac = ? WHERE seq = ?`, append(vals, seq)...)
	}
	va, vb := read(a), read(b)
	write(a, vb)
	write(b, va)
	if got := read(a); fmt.Sprint(got) != fmt.Sprint(vb) {
		t.Fatalf("swap did not take: %v != %v", got, vb)
	}
}

// forgeWithSHA256 edits entry seq and writes into its leaf MAC and chain
// MAC the SHA-256 of the edited entry's exact canonical encodings (an
// attacker who read the source but has no key), returning the chain MAC.
func forgeWithSHA256(t *testing.T, e *env, seq int64, prev []byte) []byte {
	t.Helper()
	var ev sqlstore.AuditRow
	err := e.db.Conn().EachAudit(context.Background(), seq-1, func(r sqlstore.AuditRow) error {
		if r.Seq == seq {
			ev = r
		}
		return nil
	})
	if err != nil || ev.Seq != seq {
		t.Fatalf("read entry %d: %v", seq, err)
	}
	// The attacker's encodings are exact: under the real key they give the
	// stored MACs. Only the key is missing.
	if want, err := e.keys.AuditMACWith(ev.LeafKey, attackerLeaf(ev.AuditEvent)); err != nil || !bytes.Equal(want, ev.LeafMAC) {
		t.Fatalf("the test's copy of the leaf encoding is wrong: %v", err)
	}
	if want, err := e.keys.AuditMACWith(ev.KeyID, attackerLink(ev.Seq, ev.LeafKey, ev.LeafMAC, prev)); err != nil || !bytes.Equal(want, ev.MAC) {
		t.Fatalf("the test's copy of the link encoding is wrong: %v", err)
	}
	ev.Action = "auth.signin"
	ev.Outcome = resguardo.OutcomeSuccess
	leaf := sha256.Sum256(attackerLeaf(ev.AuditEvent))
	link := sha256.Sum256(attackerLink(ev.Seq, ev.LeafKey, leaf[:], prev))
	e.exec(t, `UPDATE audit_log SET action = ?, outcome = ?, leaf_mac = ?, mac = ? WHERE seq = ?`, ev.Action, ev.Outcome, leaf[:], link[:], seq)
	return link[:]
}

// TestCutTail shows why checkpoints exist, and why they must also be kept
// outside the database: removing the newest entries and moving the head back
// leaves a chain that is internally consistent. Only a checkpoint taken
// before the cut reveals it; the stored checkpoints reveal it until the
// attacker deletes them too, and then only the external copy does.
func TestCutTail(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		e := newEnv(t, b, 10)
		var ext *audit.External
		for i := 0; i < 30; i++ {
			e.fill(t, i, 1)
			seq := int64(i + 1)
			if seq > 20 {
				continue // no checkpoint after 20: the newest entries are the ones cut
			}
			cp, err := e.log.Checkpoint(ctx, false)
			if err != nil {
				t.Fatalf("Checkpoint: %v", err)
			}
			switch {
			case seq == 10 || seq == 20:
				if cp == nil || cp.Seq != seq || !bytes.Equal(cp.MAC, e.mac(t, seq)) {
					t.Fatalf("Checkpoint after %d = %v, want one at %d", seq, cp, seq)
				}
				ext = cp
			case cp != nil:
				t.Fatalf("Checkpoint after %d = %v, want none (every 10)", seq, cp)
			}
		}
		// A forced checkpoint at the same head as the last one writes nothing.
		if cps, err := e.db.Conn().Checkpoints(ctx); err != nil || len(cps) != 2 || cps[1].Seq != 20 {
			t.Fatalf("stored checkpoints = %+v, %v; want 10 and 20", cps, err)
		}
		wantOK(t, verify(t, e.log, ext), 30)

		// The cut: entries after 15 removed, the head moved to 15.
		e.exec(t, `DELETE FROM audit_log WHERE seq > 15`)
		e.exec(t, `UPDATE audit_head SET seq = 15, mac = ? WHERE id = 1`, e.mac(t, 15))

		// Caught by the stored checkpoint at 20.
		rep := verify(t, e.log, nil)
		wantProblemAt(t, rep, 16, "tail was cut off after checkpoint 20")
		if rep.Entries != 15 || rep.LastSeq != 15 {
			t.Fatalf("Verify = %+v, want 15 entries", rep)
		}

		// The attacker deletes the checkpoints too.
		e.exec(t, `DELETE FROM audit_checkpoints`)
		// The external checkpoint, kept out of the database, still catches it...
		ext2, err := audit.ParseExternal(ext.String())
		if err != nil {
			t.Fatal(err)
		}
		wantProblemAt(t, verify(t, e.log, &ext2), 16, "tail was cut off after checkpoint 20")
		// ...and without it the truncated chain is indistinguishable from a
		// shorter honest one: this is what external checkpoints are for.
		wantOK(t, verify(t, e.log, nil), 15)

		// An external checkpoint that does not match the chain is reported.
		bad := audit.External{Seq: 10, MAC: bytes.Repeat([]byte{1}, 32)}
		wantProblemAt(t, verify(t, e.log, &bad), 10, "differs from its checkpoint")
	})
}

func TestForgedCheckpointIsReported(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		e := newEnv(t, b, 10)
		e.fill(t, 0, 10)
		if cp, err := e.log.Checkpoint(ctx, false); err != nil || cp == nil {
			t.Fatalf("Checkpoint = %v, %v", cp, err)
		}
		e.fill(t, 10, 5)
		// A checkpoint row without a valid tag (a forged "the log ended at
		// 12" claim) is reported and not trusted.
		e.exec(t, `INSERT INTO audit_checkpoints (seq, mac, at, key_id, tag) VALUES (12, ?, 0, 1, ?)`, e.mac(t, 12), []byte("not a tag"))
		wantProblemAt(t, verify(t, e.log, nil), 12, "not authentic")
		// An authentic checkpoint whose mac is altered is not authentic either.
		e.exec(t, `DELETE FROM audit_checkpoints WHERE seq = 12`)
		e.exec(t, `UPDATE audit_checkpoints SET mac = ? WHERE seq = 10`, e.mac(t, 11))
		wantProblemAt(t, verify(t, e.log, nil), 10, "not authentic")
	})
}

func TestParseExternal(t *testing.T) {
	mac := sha256.Sum256([]byte("x"))
	for _, ext := range []audit.External{{Seq: 1, MAC: mac[:]}, {Seq: 1234567, MAC: mac[:]}, {Seq: 1<<62 + 5, MAC: []byte{0}}} {
		s := ext.String()
		got, err := audit.ParseExternal(s)
		if err != nil || got.Seq != ext.Seq || !bytes.Equal(got.MAC, ext.MAC) {
			t.Fatalf("ParseExternal(%q) = %v, %v; want %v", s, got, err, ext)
		}
		// As copied from a log line, with surrounding whitespace.
		if got, err := audit.ParseExternal("  " + s + "\n"); err != nil || got.Seq != ext.Seq {
			t.Fatalf("ParseExternal with spaces = %v, %v", got, err)
		}
	}
	if s := (audit.External{Seq: 20, MAC: []byte{0xab, 0x01}}).String(); s != "20:ab01" {
		t.Fatalf("String = %q, want 20:ab01", s)
	}
	if got, err := audit.ParseExternal("7:ABCDEF"); err != nil || !bytes.Equal(got.MAC, []byte{0xab, 0xcd, 0xef}) {
		t.Fatalf("upper-case hex = %v, %v", got, err)
	}
	for _, s := range []string{
		"", " ", ":", "20", "20:", ":ab01", "0:ab01", "-1:ab01", "x:ab01", "20:abc", "20:zz",
		"20:ab 01", "20:0xab", "+:ab", "1.5:ab", "99999999999999999999:ab", "20;ab01", "20:ab01:cd",
	} {
		if got, err := audit.ParseExternal(s); err == nil {
			t.Errorf("ParseExternal(%q) = %v, want an error", s, got)
		} else if !strings.Contains(err.Error(), "SEQ:HEXMAC") {
			t.Errorf("ParseExternal(%q) error %q does not say the format", s, err)
		}
	}
}

// TestConcurrentAppendsFromTwoProcesses appends from two independent
// database handles (as two server processes would) and several goroutines
// each, with both processes' sequencers running: one holds the lease and
// chains everything into one contiguous chain; when it stops and hands the
// lease on, the other takes over. On a Galera cluster (with
// RESGUARDO_TEST_MYSQL_PEER_DSN naming a second node) the second process
// goes through the second node, and no transaction of either node may
// fail certification: appends share no row.
func TestConcurrentAppendsFromTwoProcesses(t *testing.T) {
	const perGoroutine, goroutines = 100, 4
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		e := newEnv(t, b, 50)
		dsn2 := testutil.PeerDSN(t, e.dsn)
		db2, err := sqlstore.Open(ctx, dsn2, e.dataDir)
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		t.Cleanup(func() { _ = db2.Close() })
		logs := []*audit.Log{e.log, audit.New(db2, e.keys, slog.New(slog.NewTextHandler(io.Discard, nil)), 50, nil)}
		// The lease is taken before the appends start: two servers taking a
		// free lease at the same moment is the one conflict the design
		// allows (one sequencing transaction aborted, never an append).
		if _, held, err := e.log.Sequence(ctx); err != nil || !held {
			t.Fatalf("first Sequence: %v, %v", held, err)
		}
		conflictsBefore := galeraConflicts(t, e.dsn, e.dataDir) + galeraConflicts(t, dsn2, e.dataDir)
		runCtx, stop := context.WithCancel(ctx)
		var running sync.WaitGroup
		for _, l := range logs {
			running.Go(func() { l.Run(runCtx) })
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(logs)*goroutines)
		for li, l := range logs {
			for g := range goroutines {
				wg.Go(func() {
					for i := range perGoroutine {
						ev := event(i)
						ev.RequestID = fmt.Sprintf("p%d-g%d-%d", li, g, i)
						if err := l.Record(ctx, ev); err != nil {
							errs <- fmt.Errorf("process %d goroutine %d entry %d: %w", li, g, i, err)
							return
						}
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		stop()
		running.Wait()
		if t.Failed() {
			return
		}
		// Whichever process held the lease hands it on; the other then
		// chains the rest.
		for _, l := range logs {
			if err := l.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		const total = perGoroutine * goroutines * 2
		for _, l := range logs {
			rep, err := l.Verify(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantOK(t, rep, total)
		}
		seen := map[string]bool{}
		want := int64(1)
		err = e.db.Conn().EachAudit(ctx, 0, func(r sqlstore.AuditRow) error {
			if r.Seq != want {
				return fmt.Errorf("seq %d, want %d", r.Seq, want)
			}
			want++
			if seen[r.RequestID] {
				return fmt.Errorf("request %s appended twice", r.RequestID)
			}
			seen[r.RequestID] = true
			return nil
		})
		if err != nil || len(seen) != total {
			t.Fatalf("chain: %v, %d distinct entries, want %d", err, len(seen), total)
		}
		if cps, err := e.db.Conn().Checkpoints(ctx); err != nil || len(cps) == 0 || cps[len(cps)-1].Seq != total {
			t.Fatalf("checkpoints = %+v, %v; want the last at %d", cps, err, total)
		}
		if after := galeraConflicts(t, e.dsn, e.dataDir) + galeraConflicts(t, dsn2, e.dataDir); after != conflictsBefore {
			t.Errorf("%d transactions failed certification or were aborted by replication during %d appends through two nodes, want none", after-conflictsBefore, total)
		}
	})
}

// galeraConflicts is the node's count of local transactions that failed
// certification or were aborted by a replicated one; 0 off Galera. The
// count is the node's, so the Galera suite runs packages one at a time.
func galeraConflicts(t *testing.T, dsn, dataDir string) int64 {
	t.Helper()
	if dsn == "" {
		return 0
	}
	db := testutil.RawDB(t, dsn, dataDir)
	var total int64
	for _, v := range []string{"wsrep_local_cert_failures", "wsrep_local_bf_aborts"} {
		var name string
		var n int64
		err := db.QueryRowContext(context.Background(), `SHOW GLOBAL STATUS LIKE '`+v+`'`).Scan(&name, &n)
		if errors.Is(err, sql.ErrNoRows) {
			return 0 // not a Galera node
		}
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		total += n
	}
	return total
}

var errRollback = errors.New("the change failed")

func TestAppendFollowsItsTransaction(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		e := newEnv(t, b, 0)
		e.fill(t, 0, 5)

		// The change fails after its entry was appended: the entry goes too.
		err := e.db.Tx(ctx, func(c sqlstore.Conn) error {
			if err := e.log.Append(ctx, c, event(5)); err != nil {
				return err
			}
			if err := e.log.Append(ctx, c, event(6)); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("Tx = %v, want the change's error", err)
		}
		wantOK(t, verify(t, e.log, nil), 5)
		if seq, _, err := e.db.Conn().AuditHead(ctx); err != nil || seq != 5 {
			t.Fatalf("head = %d, %v; want 5", seq, err)
		}

		// A failed append fails the change: an entry appended earlier in the
		// same transaction is rolled back with it.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err = e.db.Tx(ctx, func(c sqlstore.Conn) error {
			if err := e.log.Append(ctx, c, event(7)); err != nil {
				return err
			}
			return e.log.Append(cctx, c, event(8))
		})
		if err == nil {
			t.Fatal("Append with a cancelled context succeeded")
		}
		if err := e.log.Record(cctx, event(9)); err == nil {
			t.Fatal("Record with a cancelled context succeeded")
		}
		wantOK(t, verify(t, e.log, nil), 5)

		// A panic in the change rolls the entry back too.
		func() {
			defer func() { _ = recover() }()
			_ = e.db.Tx(ctx, func(c sqlstore.Conn) error {
				if err := e.log.Append(ctx, c, event(10)); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		wantOK(t, verify(t, e.log, nil), 5)

		// The chain goes on from where it was.
		e.fill(t, 11, 3)
		wantOK(t, verify(t, e.log, nil), 8)
	})
}

func TestExport(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		fixed := time.Date(2025, 3, 4, 5, 6, 7, 891_234_567, time.FixedZone("X", 3600))
		e := newEnv(t, b, 0)
		e.log = audit.New(e.db, e.keys, slog.New(slog.NewTextHandler(io.Discard, nil)), 0, func() time.Time { return fixed })
		const n = 23
		e.fill(t, 0, n)
		var buf bytes.Buffer
		if err := e.log.Export(ctx, &buf); err != nil {
			t.Fatalf("Export: %v", err)
		}
		sc := bufio.NewScanner(&buf)
		var lines int64
		for sc.Scan() {
			lines++
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("line %d is not JSON: %v: %s", lines, err, sc.Text())
			}
			mac, _ := m["mac"].(string)
			if raw, err := hex.DecodeString(mac); err != nil || len(raw) != 32 {
				t.Fatalf("line %d: mac %q is not a 32-byte hex HMAC", lines, mac)
			}
			if !bytes.Equal(mustHex(t, mac), e.mac(t, lines)) {
				t.Fatalf("line %d: mac differs from the stored one", lines)
			}
			for _, k := range []string{"seq", "at", "actor_kind", "action", "target_kind", "target_id", "outcome", "key_id", "reason", "fields"} {
				if _, ok := m[k]; !ok {
					t.Fatalf("line %d has no %q: %s", lines, k, sc.Text())
				}
			}
			var ev resguardo.AuditEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatal(err)
			}
			want := event(int(lines - 1))
			if ev.Seq != lines || ev.Action != want.Action || ev.Reason != want.Reason || !ev.At.Equal(fixed.Truncate(time.Millisecond)) {
				t.Fatalf("line %d = %+v, want %+v at %v", lines, ev, want, fixed)
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if lines != n {
			t.Fatalf("Export wrote %d lines, want %d", lines, n)
		}
	})
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func lengthPrefixed(parts ...string) []byte {
	var b []byte
	for _, s := range parts {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s))) // #nosec G115 -- test data is small
		b = append(b, s...)
	}
	return b
}

// legacyEncoding is an entry's canonical encoding in the single-head chain
// the sequencer replaced (audit.go, encodeEntry), chained to prev.
func legacyEncoding(ev resguardo.AuditEvent, prev []byte) []byte {
	return lengthPrefixed("resguardo.audit.entry.v1",
		strconv.FormatInt(ev.Seq, 10), strconv.FormatInt(ev.At.UnixMilli(), 10),
		ev.ActorKind, ev.ActorID, ev.ActorRole, ev.Action, ev.TargetKind, ev.TargetID,
		ev.Outcome, ev.RequestID, ev.Client, strings.Join(ev.Fields, ","), ev.Reason, string(prev))
}

// attackerLeaf and attackerLink are the encodings as an attacker would copy
// them from the source (audit.go, encodeLeaf and encodeLink).
func attackerLeaf(ev resguardo.AuditEvent) []byte {
	return lengthPrefixed("resguardo.audit.leaf.v2",
		strconv.FormatInt(ev.ID, 10), strconv.FormatInt(ev.At.UnixMilli(), 10),
		ev.ActorKind, ev.ActorID, ev.ActorRole, ev.Action, ev.TargetKind, ev.TargetID,
		ev.Outcome, ev.RequestID, ev.Client, strings.Join(ev.Fields, ","), ev.Reason)
}

func attackerLink(seq int64, leafKey uint32, leaf, prev []byte) []byte {
	return lengthPrefixed("resguardo.audit.link.v2", strconv.FormatInt(seq, 10), strconv.FormatUint(uint64(leafKey), 10), string(leaf), string(prev))
}
