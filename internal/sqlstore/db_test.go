package sqlstore_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
)

// Both dialects must carry the same migration versions, so that a deployment
// can move between them and a schema version means the same thing in both.
func TestMigrationsSameVersionsInBothDialects(t *testing.T) {
	names := func(dir string) []string {
		entries, err := os.ReadDir(filepath.Join("migrations", dir))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	sqlite, mysql := names("sqlite"), names("mysql")
	if len(sqlite) == 0 {
		t.Fatal("no migrations found")
	}
	if diff := cmp.Diff(sqlite, mysql); diff != "" {
		t.Errorf("migration files differ between dialects (-sqlite +mysql):\n%s", diff)
	}
}

func TestMigrateIsIdempotentAndSchemaIsCurrent(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		db, _, _ := b.Open(t) // migrated once by the harness
		n, err := db.Migrate(t.Context())
		if err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		if n != 0 {
			t.Errorf("second migrate applied %d migrations, want 0", n)
		}
		if err := db.CheckSchema(t.Context()); err != nil {
			t.Errorf("CheckSchema after migrate: %v", err)
		}
	})
}

func TestCheckSchemaRefusesUnmigratedDatabase(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlstore.Open(t.Context(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.CheckSchema(t.Context())
	if err == nil || !strings.Contains(err.Error(), "resguardo migrate") {
		t.Fatalf("CheckSchema on empty database = %v, want an error telling to run resguardo migrate", err)
	}
}

func TestInstanceIDIsStable(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		db, _, _ := b.Open(t)
		id1, err := db.InstanceID(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		id2, err := db.InstanceID(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if id1 == "" || id1 != id2 {
			t.Fatalf("InstanceID not stable: %q then %q", id1, id2)
		}
	})
}

func TestTxRollsBackOnErrorAndPanic(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		db, _, _ := b.Open(t)
		insert := func(c sqlstore.Conn, name string) {
			if err := c.SetSetting(t.Context(), name, "v", 1); err != nil {
				t.Fatal(err)
			}
		}
		boom := errors.New("boom")
		if err := db.Tx(t.Context(), func(c sqlstore.Conn) error { insert(c, "on_error"); return boom }); !errors.Is(err, boom) {
			t.Fatalf("Tx error = %v, want boom", err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("Tx swallowed the panic")
				}
			}()
			_ = db.Tx(t.Context(), func(c sqlstore.Conn) error { insert(c, "on_panic"); panic("boom") })
		}()
		if err := db.Tx(t.Context(), func(c sqlstore.Conn) error { insert(c, "committed"); return nil }); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]bool{"on_error": false, "on_panic": false, "committed": true} {
			_, err := db.Conn().Setting(t.Context(), name)
			if got := err == nil; got != want {
				t.Errorf("row %q present = %v (%v), want %v", name, got, err, want)
			}
		}
	})
}

func TestSQLiteFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db, err := sqlstore.Open(t.Context(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	check := func(path string, want fs.FileMode) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode = %o, want %o", path, got, want)
		}
	}
	check(dir, 0o700)
	check(filepath.Join(dir, sqlstore.SQLiteFile), 0o600)
}

func TestMySQLConfigRefusesUnverifiedRemote(t *testing.T) {
	tests := []struct {
		name, url string
		ok        bool
	}{
		{"loopback without TLS", "mysql://u:p@127.0.0.1:3306/db", true},
		{"localhost without TLS", "mysql://u:p@localhost/db", true},
		{"IPv6 loopback", "mysql://u:p@[::1]:3306/db", true},
		{"unix socket", "mysql://u@/db?socket=/run/mysqld/mysqld.sock", true},
		{"remote with verified TLS", "mysql://u:p@db.example.com:3306/db?tls=true", true},
		{"remote without TLS", "mysql://u:p@db.example.com:3306/db", false},
		{"remote with tls=false", "mysql://u:p@db.example.com/db?tls=false", false},
		{"remote skipping verification", "mysql://u:p@db.example.com/db?tls=skip-verify", false},
		{"remote preferred TLS", "mysql://u:p@10.0.0.5/db?tls=preferred", false},
		{"no database", "mysql://u:p@127.0.0.1:3306/", false},
		{"other scheme", "postgres://u:p@127.0.0.1/db", false},
		{"unknown parameter", "mysql://u:p@127.0.0.1/db?multiStatements=true", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sqlstore.MySQLConfig(tt.url)
			if (err == nil) != tt.ok {
				t.Fatalf("MySQLConfig(%q) error = %v, want ok=%v", tt.url, err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), ":p@") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}
