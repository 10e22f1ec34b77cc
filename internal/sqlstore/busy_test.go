package sqlstore_test

import (
	"errors"
	"testing"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/testutil"
)

// A write that waits out busy_timeout behind another writer is a 503 the
// client may retry, not an internal error. (It waits the full 5 seconds.)
func TestContendedWriteIsUnavailable(t *testing.T) {
	t.Parallel()
	db, _, dir := testutil.Backends()[0].Open(t) // SQLite, migrated
	holder, err := testutil.RawDB(t, "", dir).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(t.Context(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	err = db.Conn().EnsureThrottle(t.Context(), "acc:contended")
	if resguardo.ErrorCode(err) != resguardo.EUnavailable || !errors.Is(err, resguardo.ErrContention) {
		t.Errorf("write behind another writer: %v (code %q), want %q marked as contention", err, resguardo.ErrorCode(err), resguardo.EUnavailable)
	}
	if _, err := holder.ExecContext(t.Context(), `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if err := db.Conn().EnsureThrottle(t.Context(), "acc:contended"); err != nil {
		t.Errorf("write once the other writer is gone: %v", err)
	}
}
