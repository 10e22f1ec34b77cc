package server

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
)

// stateExcluded are the tables the fuzzer's "a refused request changes
// nothing" oracle does not compare, each with the reason. Everything else
// (every table the catalog lists, including ones added later) is compared
// row by row.
var stateExcluded = map[string]string{
	"audit_log":         "refusals are audited on purpose (failed sign-ins, denied access)",
	"audit_head":        "the head of the audit chain moves with every audit entry",
	"audit_checkpoints": "checkpoints follow the audit chain's length",
	"throttles":         "failure counters: counting refused attempts is their job",
}

// stateExcludedColumns are columns left out of the comparison in tables
// that are otherwise compared, each with the reason.
var stateExcludedColumns = map[string]string{
	"web_sessions.last_seen_at":   "activity time: any request with the session, even a refused one, is activity (idle timeout)",
	"token_families.last_seen_at": "activity time of an app sign-in, as above",
	"staff_sessions.last_seen_at": "activity time of a staff session, as above",
}

// dbState is a digest of the database: for each compared table, its row
// count and a hash of its rows (order-independent).
type dbState map[string]tableDigest

type tableDigest struct {
	Rows int
	Hash [32]byte
}

// stateReader snapshots the test database through its own connection.
type stateReader struct {
	db      *sql.DB
	dialect sqlstore.Dialect
	tables  []string
	// selects is, for each table, the SELECT of its compared columns.
	selects map[string]string
	// partial are the tables with excluded columns (compared in Go on
	// MariaDB, where CHECKSUM TABLE covers whole rows).
	partial []string
	// version is SQLite's data_version on one pinned connection: it changes
	// only when another connection (the server's) commits, so an unchanged
	// version spares a full read.
	version *sql.Conn
	lastVer int64
	last    dbState
}

func newStateReader(t *testing.T, env *testutil.Env) *stateReader {
	t.Helper()
	db, d := rawDB(t, env)
	cols := columns(t, db, d)
	r := &stateReader{db: db, dialect: d, selects: map[string]string{}}
	excludedSeen := 0
	for table, cs := range cols {
		if _, skip := stateExcluded[table]; skip {
			continue
		}
		var keep []string
		for _, c := range cs {
			if _, skip := stateExcludedColumns[table+"."+c]; skip {
				excludedSeen++
				continue
			}
			keep = append(keep, c)
		}
		sort.Strings(keep)
		r.selects[table] = `SELECT ` + strings.Join(keep, ", ") + ` FROM ` + table
		if len(keep) < len(cs) {
			r.partial = append(r.partial, table)
		} else {
			r.tables = append(r.tables, table)
		}
	}
	if excludedSeen != len(stateExcludedColumns) {
		t.Fatalf("state snapshot: %d of the %d excluded columns exist", excludedSeen, len(stateExcludedColumns))
	}
	sort.Strings(r.tables)
	sort.Strings(r.partial)
	for _, want := range []string{"customers", "customer_phones", "customer_addresses", "web_sessions", "app_tokens", "outbox", "staff", "approvals"} {
		if !slices.Contains(r.tables, want) && !slices.Contains(r.partial, want) {
			t.Fatalf("state snapshot: the catalog does not list %s (tables: %v %v)", want, r.tables, r.partial)
		}
	}
	if d == sqlstore.SQLite {
		c, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		r.version = c
		r.lastVer = -1
	}
	return r
}

// snapshot returns the database's state now.
func (r *stateReader) snapshot(ctx context.Context) (dbState, error) {
	if r.version != nil {
		var v int64
		if err := r.version.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
			return nil, err
		}
		if v == r.lastVer && r.last != nil {
			return r.last, nil
		}
		r.lastVer = v
	}
	st := dbState{}
	tables := append(slices.Clone(r.tables), r.partial...)
	if r.dialect == sqlstore.MySQL {
		var err error
		if st, err = r.checksums(ctx); err != nil {
			return nil, err
		}
		tables = r.partial
	}
	for _, table := range tables {
		d, err := r.digest(ctx, table)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", table, err)
		}
		st[table] = d
	}
	r.last = st
	return st, nil
}

func (r *stateReader) digest(ctx context.Context, table string) (tableDigest, error) {
	var q *sql.Rows
	var err error
	// #nosec G202 -- table and column names come from the catalog and match identRe
	query := r.selects[table]
	if r.version != nil {
		q, err = r.version.QueryContext(ctx, query)
	} else {
		q, err = r.db.QueryContext(ctx, query)
	}
	if err != nil {
		return tableDigest{}, err
	}
	defer q.Close()
	cols, err := q.Columns()
	if err != nil {
		return tableDigest{}, err
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var rows [][32]byte
	for q.Next() {
		if err := q.Scan(ptrs...); err != nil {
			return tableDigest{}, err
		}
		h := sha256.New()
		for _, v := range vals {
			var n [9]byte
			if v == nil {
				n[0] = 1 // NULL differs from an empty value
			}
			binary.BigEndian.PutUint64(n[1:], uint64(len(v)))
			h.Write(n[:])
			h.Write(v)
		}
		var d [32]byte
		copy(d[:], h.Sum(nil))
		rows = append(rows, d)
	}
	if err := q.Err(); err != nil {
		return tableDigest{}, err
	}
	slices.SortFunc(rows, func(a, b [32]byte) int { return strings.Compare(string(a[:]), string(b[:])) })
	h := sha256.New()
	for _, d := range rows {
		h.Write(d[:])
	}
	out := tableDigest{Rows: len(rows)}
	copy(out.Hash[:], h.Sum(nil))
	return out, nil
}

// checksums reads MariaDB's checksum of the content of every table compared
// whole, in one statement (CHECKSUM TABLE reads every row).
func (r *stateReader) checksums(ctx context.Context) (dbState, error) {
	// #nosec G202 -- table names come from the catalog and match identRe
	q, err := r.db.QueryContext(ctx, `CHECKSUM TABLE `+strings.Join(r.tables, ", ")+` EXTENDED`)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	st := dbState{}
	for q.Next() {
		var name string
		var sum sql.NullInt64
		if err := q.Scan(&name, &sum); err != nil {
			return nil, err
		}
		if !sum.Valid {
			return nil, fmt.Errorf("no checksum for %s", name)
		}
		var d tableDigest
		binary.BigEndian.PutUint64(d.Hash[:], uint64(sum.Int64))
		d.Rows = -1 // not counted: the checksum covers the content
		st[name[strings.LastIndexByte(name, '.')+1:]] = d
	}
	if err := q.Err(); err != nil {
		return nil, err
	}
	if len(st) != len(r.tables) {
		return nil, fmt.Errorf("checksums for %d of %d tables", len(st), len(r.tables))
	}
	return st, nil
}

// diff names the tables whose content differs, with their row counts.
func (a dbState) diff(b dbState) []string {
	var out []string
	for table, da := range a {
		if db := b[table]; db != da {
			if da.Rows < 0 {
				out = append(out, table)
			} else {
				out = append(out, fmt.Sprintf("%s (%d → %d rows)", table, da.Rows, db.Rows))
			}
		}
	}
	sort.Strings(out)
	return out
}
