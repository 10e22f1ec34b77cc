package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/go-sql-driver/mysql"
	"github.com/resguardo/resguardo"
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
	dialect Dialect
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
