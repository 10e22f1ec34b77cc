// Package testutil holds helpers shared by tests: real databases (a SQLite
// file in a temporary directory, and MariaDB/MySQL when configured).
package testutil

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resguardo/resguardo/internal/sqlstore"
)

// MySQLEnv names the variable with the URL of a MariaDB/MySQL server for
// tests, e.g. mysql://root@127.0.0.1:3306/test. Each test gets a fresh
// database of its own on that server. When the variable is set, an
// unreachable server fails the tests instead of skipping them.
const MySQLEnv = "RESGUARDO_TEST_MYSQL_DSN"

// MySQLPeerEnv names the variable with the URL of another server of the
// same replicated database (a second Galera node), e.g.
// mysql://root@127.0.0.1:3308/test: tests of two servers of one deployment
// then connect the second server there. Unset, both use MySQLEnv's server.
const MySQLPeerEnv = "RESGUARDO_TEST_MYSQL_PEER_DSN"

// PeerDSN is dsn (a test database's URL) reached through the peer server
// of MySQLPeerEnv when it is set; dsn itself otherwise (and for SQLite).
func PeerDSN(t testing.TB, dsn string) string {
	t.Helper()
	peer := os.Getenv(MySQLPeerEnv)
	if dsn == "" || peer == "" {
		return dsn
	}
	pu, err := url.Parse(peer)
	if err != nil {
		t.Fatalf("%s: %v", MySQLPeerEnv, err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("test database URL: %v", err)
	}
	u.Host, u.User = pu.Host, pu.User
	return u.String()
}

// Backend is one database a test suite runs against.
type Backend struct {
	Name string // "sqlite" or "mysql"
	// Open returns a migrated, empty database for one test and the values
	// that reach it: the database URL ("" for SQLite) and the data directory.
	Open func(t testing.TB) (db *sqlstore.DB, databaseURL, dataDir string)
}

// Backends returns SQLite, and MySQL when RESGUARDO_TEST_MYSQL_DSN is set.
func Backends() []Backend {
	bs := []Backend{{Name: "sqlite", Open: openSQLite}}
	if os.Getenv(MySQLEnv) != "" {
		bs = append(bs, Backend{Name: "mysql", Open: openMySQL})
	}
	return bs
}

// ForEachBackend runs fn as a subtest per backend.
func ForEachBackend(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

func openSQLite(t testing.TB) (*sqlstore.DB, string, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlstore.Open(t.Context(), "", dir)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return db, "", dir
}

// MySQLDatabase creates a fresh, empty database on the test server and
// returns its URL; it is dropped when the test ends.
func MySQLDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv(MySQLEnv)
	if base == "" {
		t.Skip(MySQLEnv + " is not set")
	}
	cfg, err := sqlstore.MySQLConfig(base)
	if err != nil {
		t.Fatalf("%s: %v", MySQLEnv, err)
	}
	// sqlstore registers the "mysql" driver.
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("open admin connection: %v", err)
	}
	defer admin.Close()
	name := "rgtest_" + strings.ToLower(rand.Text()[:16])
	// A database name cannot be a placeholder; this one is made here from
	// base32 letters and digits only.
	if _, err := admin.ExecContext(t.Context(), "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("create test database (is MariaDB running? %s=%s): %v", MySQLEnv, redact(base), err)
	}
	t.Cleanup(func() {
		c, err := sql.Open("mysql", cfg.FormatDSN())
		if err == nil {
			_, _ = c.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name)
			_ = c.Close()
		}
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

func openMySQL(t testing.TB) (*sqlstore.DB, string, string) {
	t.Helper()
	dsn, dir := MySQLDatabase(t), t.TempDir()
	db, err := sqlstore.Open(t.Context(), dsn, dir)
	if err != nil {
		t.Fatalf("open mysql: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate mysql: %v", err)
	}
	return db, dsn, dir
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparseable]"
	}
	return u.Redacted()
}

// RawDB opens a second connection to a test database, beside the store,
// for tests that change rows behind resguardo's back (tampering, faults).
// dsn is "" for the SQLite file in dataDir.
func RawDB(t testing.TB, dsn, dataDir string) *sql.DB {
	t.Helper()
	var raw *sql.DB
	var err error
	if dsn == "" {
		raw, err = sql.Open("sqlite", filepath.Join(dataDir, sqlstore.SQLiteFile)+"?_pragma=busy_timeout(5000)")
	} else {
		cfg, cerr := sqlstore.MySQLConfig(dsn)
		if cerr != nil {
			t.Fatalf("MySQLConfig: %v", cerr)
		}
		raw, err = sql.Open("mysql", cfg.FormatDSN())
	}
	if err != nil {
		t.Fatalf("open raw connection: %v", err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return raw
}

// OpenUnmigrated returns an empty database of backend b with no schema,
// for tests that migrate step by step (data written in an older schema).
func OpenUnmigrated(t testing.TB, b Backend) (db *sqlstore.DB, databaseURL, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	if b.Name == "mysql" {
		databaseURL = MySQLDatabase(t)
	}
	db, err := sqlstore.Open(t.Context(), databaseURL, dir)
	if err != nil {
		t.Fatalf("open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, databaseURL, dir
}
