package audit_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
	"github.com/resguardo/resguardo/internal/vault"
)

// An entry is readable (by id, newest first) as soon as its change
// commits, before it is chained; Verify reports it as pending, and the
// sequencer gives it the next place.
func TestPendingEntriesAreVisibleAndReported(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		e := newEnv(t, b, 0)
		e.fill(t, 0, 5)
		for i := 5; i < 8; i++ {
			if err := e.log.Record(ctx, event(i)); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := e.log.Verify(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Entries != 8 || rep.LastSeq != 5 || rep.Pending != 3 || rep.Oldest.IsZero() {
			t.Fatalf("Verify = %+v, want 5 chained and 3 pending", rep)
		}
		rows, err := e.db.Conn().BrowseAudit(ctx, sqlstore.AuditFilter{Limit: 10})
		if err != nil || len(rows) != 8 {
			t.Fatalf("BrowseAudit = %d rows, %v; want 8", len(rows), err)
		}
		if rows[0].Seq != 0 || rows[0].RequestID != event(7).RequestID || rows[3].Seq != 5 {
			t.Fatalf("newest first by id, pending with seq 0: got %+v", rows[:4])
		}
		wantOK(t, verify(t, e.log, nil), 8)
	})
}

// Tampering with entries before the sequencer chains them: an altered or
// forged pending entry fails its leaf MAC (and keeps failing once chained).
func TestPendingTamperingIsDetected(t *testing.T) {
	cases := []struct {
		name   string
		at     int64 // place of the bad entry once chained
		tamper func(t *testing.T, e *env, id int64)
	}{
		{"alter a pending entry", 11, func(t *testing.T, e *env, id int64) {
			e.exec(t, `UPDATE audit_log SET outcome = ? WHERE id = ?`, resguardo.OutcomeSuccess, id)
		}},
		{"renumber a pending entry", 11, func(t *testing.T, e *env, id int64) {
			e.exec(t, `UPDATE audit_log SET id = ? WHERE id = ?`, id+1000, id)
		}},
		{"forge a pending entry (a copy of a real one)", 12, func(t *testing.T, e *env, id int64) {
			e.exec(t, `INSERT INTO audit_log (at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, mac, leaf_key, leaf_mac)
				SELECT at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, mac, leaf_key, leaf_mac FROM audit_log WHERE id = ?`, id)
		}},
		{"clear the leaf mac (pass it off as a migrated entry)", 11, func(t *testing.T, e *env, id int64) {
			e.exec(t, `UPDATE audit_log SET leaf_mac = ? WHERE id = ?`, []byte{}, id)
		}},
	}
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				e := newEnv(t, b, 0)
				e.fill(t, 0, 10)
				if err := e.log.Record(ctx, event(10)); err != nil {
					t.Fatal(err)
				}
				var id int64
				if err := e.rawDB(t).QueryRowContext(ctx, `SELECT id FROM audit_log WHERE seq IS NULL`).Scan(&id); err != nil {
					t.Fatal(err)
				}
				tc.tamper(t, e, id)
				rep, err := e.log.Verify(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				if rep.OK() {
					t.Fatalf("Verify = %+v: tampering with a pending entry not detected", rep)
				}
				// Once chained, the tampered entry is still caught, at its place.
				wantProblemAt(t, verify(t, e.log, nil), tc.at, "altered")
			})
		}
	})
}

// One sequencer at a time: while one process holds the lease another does
// not chain; once it hands the lease on (or the lease runs out) the other
// takes over and continues the same chain.
func TestSequencerLease(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		e := newEnv(t, b, 0)
		clock := time.Now()
		now := func() time.Time { return clock }
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		a := audit.New(e.db, e.keys, quiet, 0, now)
		other := audit.New(e.db, e.keys, quiet, 0, now)
		record := func(l *audit.Log, i int) {
			t.Helper()
			if err := l.Record(ctx, event(i)); err != nil {
				t.Fatal(err)
			}
		}
		record(a, 0)
		if n, held, err := a.Sequence(ctx); err != nil || !held || n != 1 {
			t.Fatalf("first Sequence = %d, %v, %v; want 1 chained by the new holder", n, held, err)
		}
		record(other, 1)
		if n, held, err := other.Sequence(ctx); err != nil || held || n != 0 {
			t.Fatalf("Sequence by a non-holder = %d, %v, %v; want nothing", n, held, err)
		}
		// The holder stops without handing on (killed): the other takes
		// over once the lease has run out.
		clock = clock.Add(audit.LeaseFor + time.Millisecond)
		if n, held, err := other.Sequence(ctx); err != nil || !held || n != 1 {
			t.Fatalf("Sequence after the lease ran out = %d, %v, %v; want a takeover", n, held, err)
		}
		record(a, 2)
		if _, held, _ := a.Sequence(ctx); held {
			t.Fatal("the old holder still chains after the takeover")
		}
		// A clean stop hands the lease on at once.
		if err := other.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if n, held, err := a.Sequence(ctx); err != nil || !held || n != 0 {
			t.Fatalf("Sequence after Close = %d, %v, %v; want the lease (nothing left: Close chained it)", n, held, err)
		}
		rep, err := a.Verify(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantOK(t, rep, 3)
	})
}

// A trail written by the single-head chain (before migration 15) keeps
// verifying after the migration, entries keep their numbers, and new
// entries continue the same chain.
func TestMigrateSingleHeadTrail(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		db, dsn, dir := testutil.OpenUnmigrated(t, b)
		if err := db.MigrateTo(ctx, 12); err != nil {
			t.Fatal(err)
		}
		keys, err := vault.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		raw := testutil.RawDB(t, dsn, dir)
		// The old chain, written as the old code did: seq, the MAC over the
		// entry and the MAC before, the head at the last.
		const old = 30
		var prev []byte
		at := time.UnixMilli(time.Now().UnixMilli()).UTC()
		for i := range old {
			ev := event(i)
			ev.Seq, ev.At = int64(i+1), at
			keyID, mac, err := keys.AuditMAC(legacyEncoding(ev, prev))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.ExecContext(ctx, `INSERT INTO audit_log (seq, at, actor_kind, actor_id, actor_role, action, target_kind, target_id, outcome, request_id, client, fields, reason, key_id, mac)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, ev.Seq, at.UnixMilli(), ev.ActorKind, ev.ActorID, ev.ActorRole, ev.Action, ev.TargetKind, ev.TargetID,
				ev.Outcome, ev.RequestID, ev.Client, strings.Join(ev.Fields, ","), ev.Reason, keyID, mac); err != nil {
				t.Fatal(err)
			}
			prev = mac
		}
		if _, err := raw.ExecContext(ctx, `UPDATE audit_head SET seq = ?, mac = ? WHERE id = 1`, old, prev); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		e := &env{db: db, dsn: dsn, dataDir: dir, keys: keys, raw: raw, log: audit.New(db, keys, slog.New(slog.NewTextHandler(io.Discard, nil)), 0, nil)}
		wantOK(t, verify(t, e.log, nil), old)
		rows, err := db.Conn().AuditForTarget(ctx, "customer", "cust-3", 0, 100)
		if err != nil || len(rows) != 6 || rows[0].ID != 29 || rows[0].Seq != 29 {
			t.Fatalf("AuditForTarget after migration = %+v, %v; want 6 with numbers kept", rows, err)
		}
		e.fill(t, old, 20)
		wantOK(t, verify(t, e.log, nil), old+20)
		// Migrated entries are still protected: the old form is checked.
		e.exec(t, `UPDATE audit_log SET action = ? WHERE seq = 12`, "customer.vieW")
		wantProblemAt(t, verify(t, e.log, nil), 12, "altered")
		e.exec(t, `UPDATE audit_log SET action = ? WHERE seq = 12`, event(11).Action)
		wantOK(t, verify(t, e.log, nil), old+20)
		// And a migrated entry cannot be renumbered.
		e.exec(t, `UPDATE audit_log SET id = 1000 WHERE seq = 12`)
		wantProblemAt(t, verify(t, e.log, nil), 12, "altered")
		if !bytes.Equal(e.mac(t, old), prev) {
			t.Fatal("the migration changed a stored MAC")
		}
	})
}

// An idle server's sequencer only looks: with nothing pending it takes no
// lease and writes nothing (no transaction every tick, which on Galera
// every node would certify); an entry appended later is chained by the
// next tick, and the checkpoint follows.
func TestIdleSequencerWritesNothing(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ctx, cancel := context.WithCancel(context.Background())
		e := newEnv(t, b, 0)
		e.fill(t, 0, 3) // chained by fill
		lease := func() (string, time.Time) {
			holder, until, err := e.db.Conn().SequencerLease(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return holder, until
		}
		h0, u0 := lease()
		done := make(chan struct{})
		go func() { e.log.Run(ctx); close(done) }()
		time.Sleep(5 * audit.SequenceEvery) // several ticks with nothing pending
		if h, u := lease(); h != h0 || !u.Equal(u0) {
			t.Errorf("an idle sequencer wrote its lease: %q %v, was %q %v", h, u, h0, u0)
		}
		if err := e.log.Record(ctx, event(3)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			rep, err := e.log.Verify(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Pending == 0 && rep.LastSeq == 4 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the entry appended after the idle ticks was not chained: %+v", rep)
			}
			time.Sleep(audit.SequenceEvery)
		}
		cancel()
		<-done
	})
}
