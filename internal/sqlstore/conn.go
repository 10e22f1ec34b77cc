package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/metrics"
)

// queryer is what both *sql.DB and *sql.Tx offer.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Conn carries the store's statements, on the pool or in a transaction.
// Every method's SQL is a constant; values only travel as ? arguments.
type Conn struct {
	q       queryer
	tx      *sql.Tx // set inside a transaction
	dialect Dialect
	stmts   *stmtCache
	// contacts is the DB's cache of sealed contacts (nil in a Conn made
	// without a DB: then every read goes to the database).
	contacts *contactsCache
}

// stmtCache keeps one prepared statement per SQL text. Every statement is
// a constant, so the cache is bounded by the code; preparing once saves the
// SQL parse (SQLite) or a prepare/close round trip (MySQL) per query.
type stmtCache struct {
	pool *sql.DB
	mu   sync.RWMutex
	m    map[string]*sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.RLock()
	st, ok := c.m[query]
	c.mu.RUnlock()
	if ok {
		return st, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	st, err := c.pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		_ = st.Close()
	}
	c.m = map[string]*sql.Stmt{}
}

// stmt returns the cached statement for query, bound to the transaction
// when there is one; nil if it cannot be prepared (the plain call then
// reports the error).
func (c Conn) stmt(ctx context.Context, query string) *sql.Stmt {
	if c.stmts == nil {
		return nil
	}
	st, err := c.stmts.get(ctx, query)
	if err != nil {
		return nil
	}
	if c.tx != nil {
		return c.tx.StmtContext(ctx, st)
	}
	return st
}

// exec, query and queryRow record each statement's time in the metrics
// by kind only: the SQL text is never a label.
func (c Conn) exec(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	defer func(start time.Time) { metrics.Statement("exec", time.Since(start), err) }(time.Now())
	if st := c.stmt(ctx, query); st != nil {
		res, err = st.ExecContext(ctx, args...)
		return res, busy(err)
	}
	res, err = c.q.ExecContext(ctx, query, args...)
	return res, busy(err)
}

func (c Conn) query(ctx context.Context, query string, args ...any) (rows *sql.Rows, err error) {
	defer func(start time.Time) { metrics.Statement("query", time.Since(start), err) }(time.Now())
	if st := c.stmt(ctx, query); st != nil {
		rows, err = st.QueryContext(ctx, args...)
		return rows, busy(err)
	}
	rows, err = c.q.QueryContext(ctx, query, args...)
	return rows, busy(err)
}

// queryRow's time is the query's until its first row; scanning it is the
// caller's.
func (c Conn) queryRow(ctx context.Context, query string, args ...any) (row *sql.Row) {
	defer func(start time.Time) { metrics.Statement("query", time.Since(start), row.Err()) }(time.Now())
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.q.QueryRowContext(ctx, query, args...)
}

// busy turns lock contention the database gave up waiting on — SQLite busy
// or locked after busy_timeout, an InnoDB lock wait timeout or deadlock —
// into a 503 the client may retry, keeping the cause for the log; any other
// error is returned as it is.
func busy(err error) error {
	if err == nil {
		return nil
	}
	contended := false
	var me *mysql.MySQLError
	var coded interface{ Code() int }
	switch {
	case errors.As(err, &me):
		contended = me.Number == 1205 || me.Number == 1213
	case errors.As(err, &coded): // modernc.org/sqlite: SQLITE_BUSY (5), SQLITE_LOCKED (6) and their extended codes
		contended = coded.Code()&0xff == 5 || coded.Code()&0xff == 6
	}
	if !contended {
		return err
	}
	return &resguardo.Error{Code: resguardo.EUnavailable, Message: "The service is busy. Try again in a moment.", Err: fmt.Errorf("%w: %w", resguardo.ErrContention, err)}
}

// Unreachable reports whether err says the database could not be reached
// or dropped the connection — a node stopped, restarting, or not yet part
// of its cluster — rather than refusing a statement: the request may be
// retried shortly, against another node or the same one back.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, // too many connections
			1047, // Galera: WSREP has not yet prepared node for application use
			1053, // server shutdown in progress
			1927, // connection killed
			4031: // disconnected by the server
			return true
		}
	}
	return false
}

// errNotFound is the one "no such row" answer: callers never get (nil, nil).
func errNotFound(what string) error {
	return resguardo.Errorf(resguardo.ENotFound, "No such %s.", what)
}

// isUniqueViolation reports a duplicate key in either dialect.
func isUniqueViolation(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	// modernc.org/sqlite: SQLITE_CONSTRAINT_UNIQUE (2067) or _PRIMARYKEY (1555).
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		return coded.Code() == 2067 || coded.Code() == 1555
	}
	return false
}

// affectedOne turns "no row changed" into not found.
func affectedOne(res sql.Result, err error, what string) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errNotFound(what)
	}
	return nil
}
