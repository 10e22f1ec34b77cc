package sqlstore_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// A database that cannot be reached, or a node not (yet) in its cluster,
// is told apart from a statement the database refused: the first is a 503
// to retry, the second stays an error.
func TestUnreachable(t *testing.T) {
	if db, err := sqlstore.Open(t.Context(), "mysql://root@127.0.0.1:1/nothing", t.TempDir()); err == nil || !sqlstore.Unreachable(err) {
		if db != nil {
			_ = db.Close()
		}
		t.Errorf("a closed port: %v, Unreachable %v", err, sqlstore.Unreachable(err))
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&mysql.MySQLError{Number: 1047, Message: "WSREP has not yet prepared node for application use"}, true},
		{fmt.Errorf("read: %w", &mysql.MySQLError{Number: 1053}), true},
		{mysql.ErrInvalidConn, true},
		{&mysql.MySQLError{Number: 1062, Message: "Duplicate entry"}, false},
		{&mysql.MySQLError{Number: 1146, Message: "Table doesn't exist"}, false},
		{errors.New("something else"), false},
		{nil, false},
	} {
		if got := sqlstore.Unreachable(tc.err); got != tc.want {
			t.Errorf("Unreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
