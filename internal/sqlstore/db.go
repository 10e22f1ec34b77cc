// Package sqlstore keeps resguardo's data in SQLite (embedded default) or
// MySQL/MariaDB through database/sql. SQL text is constant and inline in the
// methods; only values travel, through ? placeholders. Personal fields reach
// this package already sealed by the vault: it stores bytes, never plaintext.
package sqlstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect names the SQL dialect of a DB. The few statements that differ
// between the two live next to each other, chosen by this value.
type Dialect string

const (
	SQLite Dialect = "sqlite"
	MySQL  Dialect = "mysql"
)

// SQLiteFile is the name of the embedded database inside the data directory.
const SQLiteFile = "resguardo.db"

//go:embed migrations
var migrations embed.FS

// DB is an open database with its dialect.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	stmts   *stmtCache
	// contacts keeps customers' sealed phones and addresses by contacts
	// version, so that a bearer-token read needs one statement (appaccess.go).
	contacts *contactsCache
	// txOptions for every transaction: READ COMMITTED on MySQL (see Tx).
	txOptions *sql.TxOptions
	// Where is a description of the database safe for logs: the SQLite path or
	// the MySQL host and database name, never credentials.
	Where string
}

// Open opens the database named by databaseURL: a mysql:// URL, or "" for the
// embedded SQLite file in dataDir. It refuses a MySQL connection that leaves
// the machine without verified TLS. It does not migrate.
func Open(ctx context.Context, databaseURL, dataDir string) (*DB, error) {
	var db *DB
	var err error
	if databaseURL == "" {
		db, err = openSQLite(dataDir)
	} else {
		db, err = openMySQL(databaseURL)
	}
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.sql.PingContext(pingCtx); err != nil {
		_ = db.sql.Close()
		return nil, fmt.Errorf("connect to %s: %w", db.Where, err)
	}
	return db, nil
}

// EnsureDataDir creates dir with 0700 permissions, or tightens an existing
// directory that others could read.
func EnsureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil { // #nosec G302 -- a directory needs its owner's execute bit
			return fmt.Errorf("restrict data directory to its owner: %w", err)
		}
	}
	return nil
}

// sqliteConns bounds the SQLite pool. Each connection has its own page
// cache (cache_size), so the pool's memory is at most sqliteConns times
// that cache: 16 × 1 MiB. The operating system's file cache holds the rest
// of the file once for all connections, so a miss in a connection's cache
// costs a copy, not a disk read.
const sqliteConns = 16

func openSQLite(dataDir string) (*DB, error) {
	if err := EnsureDataDir(dataDir); err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, SQLiteFile)
	// Create the file ourselves so that it is born 0600; SQLite would use the
	// umask. The -wal and -shm files follow the main file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) // #nosec G304 -- path is inside the operator's data directory
	if err != nil {
		return nil, fmt.Errorf("create database file: %w", err)
	}
	_ = f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("restrict database file: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "cache_size(-1024)") // 1 MiB of pages per connection, filled only as used
	q.Add("_pragma", "secure_delete(1)")  // freed pages are zeroed: erased data and old wrapped keys do not linger in the file
	// BEGIN IMMEDIATE: a write transaction takes the write lock at once, so
	// two writers queue on busy_timeout instead of failing on upgrade.
	q.Set("_txlock", "immediate")
	s, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// Keep connections open: database/sql keeps only two idle by default, so
	// under concurrent requests every other request opened a connection,
	// ran the pragmas above and prepared its statements again. Readers run
	// in parallel under WAL; writers queue on the write lock.
	s.SetMaxOpenConns(sqliteConns)
	s.SetMaxIdleConns(sqliteConns)
	s.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{sql: s, dialect: SQLite, Where: path, stmts: &stmtCache{pool: s, m: map[string]*sql.Stmt{}}, contacts: newContactsCache()}, nil
}

// MySQLConfig turns a mysql:// URL into a driver configuration. Accepted:
//
//	mysql://user:pass@host:3306/db?tls=true          verified TLS, system roots
//	mysql://user:pass@host:3306/db?tls=true&ca=FILE  verified TLS, this CA
//	mysql://user:pass@127.0.0.1:3306/db             loopback, TLS optional
//	mysql://user:pass@/db?socket=/run/mysqld/mysqld.sock
//
// Anything that leaves the machine without verified TLS is refused.
func MySQLConfig(rawURL string) (*mysql.Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse echoes the input, which may hold a password.
		return nil, errors.New("database URL is not a valid URL")
	}
	if u.Scheme != "mysql" {
		return nil, fmt.Errorf("database URL scheme %q is not supported: use mysql://", u.Scheme)
	}
	cfg := mysql.NewConfig()
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if cfg.DBName == "" || strings.Contains(cfg.DBName, "/") {
		return nil, errors.New("database URL must name one database: mysql://user:pass@host:3306/DB")
	}
	q := u.Query()
	local := false
	if sock := q.Get("socket"); sock != "" {
		cfg.Net, cfg.Addr, local = "unix", sock, true
	} else {
		host, port := u.Hostname(), u.Port()
		if host == "" {
			return nil, errors.New("database URL has no host (or ?socket=PATH)")
		}
		if port == "" {
			port = "3306"
		}
		cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(host, port)
		local = isLoopback(host)
	}
	switch mode := q.Get("tls"); mode {
	case "true":
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
		if ca := q.Get("ca"); ca != "" {
			pem, err := os.ReadFile(ca) // #nosec G304 -- the operator names the CA file
			if err != nil {
				return nil, fmt.Errorf("database CA file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, errors.New("database CA file holds no PEM certificate")
			}
		}
		cfg.TLS = tc
	case "", "false":
		if !local {
			return nil, fmt.Errorf("database host %s is not loopback: add ?tls=true (verified TLS) to the database URL", u.Hostname())
		}
	default:
		return nil, fmt.Errorf("database URL tls=%q is not supported: use tls=true (verified), optionally with ca=FILE", mode)
	}
	for k := range q {
		switch k {
		case "tls", "ca", "socket":
		default:
			return nil, fmt.Errorf("database URL parameter %q is not supported", k)
		}
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.Collation = "utf8mb4_unicode_ci"
	cfg.Timeout = 5 * time.Second
	cfg.ReadTimeout = 30 * time.Second
	cfg.WriteTimeout = 30 * time.Second
	// Placeholders are sent to the server as real prepared-statement
	// parameters, never interpolated into SQL text by the driver.
	cfg.InterpolateParams = false
	// RowsAffected counts matched rows, as SQLite does, so an UPDATE that
	// changes nothing is not mistaken for a missing row.
	cfg.ClientFoundRows = true
	cfg.Params = map[string]string{"time_zone": "'+00:00'", "sql_mode": "'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION,ONLY_FULL_GROUP_BY'"}
	return cfg, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func openMySQL(rawURL string) (*DB, error) {
	cfg, err := MySQLConfig(rawURL)
	if err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql connector: %w", err)
	}
	s := sql.OpenDB(conn)
	s.SetMaxOpenConns(64)
	s.SetMaxIdleConns(64)
	s.SetConnMaxLifetime(30 * time.Minute)
	return &DB{sql: s, dialect: MySQL, Where: "mysql " + cfg.Addr + "/" + cfg.DBName, stmts: &stmtCache{pool: s, m: map[string]*sql.Stmt{}},
		contacts: newContactsCache(), txOptions: &sql.TxOptions{Isolation: sql.LevelReadCommitted}}, nil
}

// Dialect returns the SQL dialect.
func (db *DB) Dialect() Dialect { return db.dialect }

// Stats is the connection pool's use, for the metrics.
func (db *DB) Stats() sql.DBStats { return db.sql.Stats() }

// Close closes the connection pool.
func (db *DB) Close() error {
	db.stmts.close()
	return db.sql.Close()
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", db.Where, err)
	}
	return nil
}

// Unreachable is the package's Unreachable as a method, so that a caller
// holding the store (the server) can tell "database away" from a failed
// statement without importing this package.
func (db *DB) Unreachable(err error) bool { return Unreachable(err) }

// Tx runs fn in a transaction that commits if fn returns nil and rolls back
// if fn returns an error or panics.
//
// On MySQL every transaction runs at READ COMMITTED: what must not race is
// guarded by explicit locking reads (FOR UPDATE) and unique keys, never by
// REPEATABLE READ's gap locks, and those gap locks are what made Galera
// abort audit appends on one node when another node's writes arrived
// (measured: 4 to 9 aborted appends per 800 through two nodes at
// REPEATABLE READ, none at READ COMMITTED; docs/audit.md).
func (db *DB) Tx(ctx context.Context, fn func(Conn) error) (err error) {
	tx, err := db.sql.BeginTx(ctx, db.txOptions)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", busy(err))
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(Conn{q: tx, tx: tx, dialect: db.dialect, stmts: db.stmts, contacts: db.contacts}); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", busy(err))
	}
	return nil
}

// Conn runs statements on the pool, outside any transaction: for reads,
// and single-statement writes that need no other.
func (db *DB) Conn() Conn {
	return Conn{q: db.sql, dialect: db.dialect, stmts: db.stmts, contacts: db.contacts}
}

func (db *DB) migrator() (*goose.Provider, error) {
	dir, dialect := "migrations/sqlite", goose.DialectSQLite3
	if db.dialect == MySQL {
		dir, dialect = "migrations/mysql", goose.DialectMySQL
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(dialect, db.sql, fsys)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration and returns how many ran.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	p, err := db.migrator()
	if err != nil {
		return 0, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("migrate %s: %w", db.Where, err)
	}
	return len(res), nil
}

// MigrateTo applies pending migrations up to and including version: for
// tests that build data in an older schema and then migrate it.
func (db *DB) MigrateTo(ctx context.Context, version int64) error {
	p, err := db.migrator()
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("migrate %s to %d: %w", db.Where, version, err)
	}
	return nil
}

// SchemaVersion returns the database's schema version and the version this
// binary expects.
func (db *DB) SchemaVersion(ctx context.Context) (current, want int64, err error) {
	p, err := db.migrator()
	if err != nil {
		return 0, 0, err
	}
	current, want, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("schema version of %s: %w", db.Where, err)
	}
	return current, want, nil
}

// CheckSchema fails unless the schema is exactly the version this binary was
// built for, so that a server never runs against a schema it does not know.
func (db *DB) CheckSchema(ctx context.Context) error {
	current, want, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case current < want:
		return fmt.Errorf("database schema is at version %d, this binary needs %d: run 'resguardo migrate' (or serve --migrate)", current, want)
	case current > want:
		return fmt.Errorf("database schema is at version %d, newer than this binary's %d: upgrade resguardo", current, want)
	}
	return nil
}
