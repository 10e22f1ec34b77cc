package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
)

const bindPassword = "correct horse battery staple"

// deployment is one started deployment for the tests below: its data
// directory, its database URL ("" for SQLite) and what was registered.
type deployment struct {
	dataDir string
	dsn     string
	emails  []string
}

// env returns the environment of a process using the deployment's database
// from dataDir, plus extra variables.
func (d *deployment) env(dataDir string, extra ...string) map[string]string {
	m := map[string]string{"RESGUARDO_DATA_DIR": dataDir}
	if d.dsn != "" {
		m["RESGUARDO_DATABASE"] = d.dsn
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// cmd runs one command as the binary would, with environ, and returns its
// output and error.
func cmd(t *testing.T, environ map[string]string, args ...string) (string, error) {
	t.Helper()
	var out strings.Builder
	err := run(t.Context(), args, func(k string) string { return environ[k] }, nil, &out, io.Discard)
	return out.String(), err
}

// newDeployment starts a deployment (MySQL: after keys init writes the
// master key to <data>/master.key), registers customers through its API and
// stops it.
func newDeployment(t *testing.T, b testutil.Backend, customers int) *deployment {
	t.Helper()
	d := &deployment{dataDir: filepath.Join(t.TempDir(), "data")}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0"}
	if b.Name == "mysql" {
		d.dsn = testutil.MySQLDatabase(t)
		keysInit(t, d.dataDir, d.dsn)
		args = append(args, "--migrate")
	}
	site, stop := startServe(t, d.env(d.dataDir), args)
	for i := range customers {
		email := fmt.Sprintf("bound%d@example.com", i)
		if c := post(t, site.Site+"/api/v1/auth/register", "", map[string]string{"email": email, "password": bindPassword, "name": "Cliente"}, nil); c != 202 {
			t.Fatalf("register: %d", c)
		}
		d.emails = append(d.emails, email)
	}
	if len(d.signIn(t, site.Site)) != customers {
		t.Fatal("sign-in before the test")
	}
	stop()
	return d
}

// signIn signs every customer in and reads their profile; it returns the
// access tokens, failing the test on any other answer than 200.
func (d *deployment) signIn(t *testing.T, site string) []string {
	t.Helper()
	var tokens []string
	for _, email := range d.emails {
		var tk struct {
			AccessToken string `json:"access_token"`
		}
		if c := post(t, site+"/api/v1/auth/login", "", map[string]string{"email": email, "password": bindPassword}, &tk); c != 200 {
			t.Fatalf("sign-in of %s: %d", email, c)
		}
		if c, err := getStatus(site+"/api/v1/me", tk.AccessToken); err != nil || c != 200 {
			t.Fatalf("profile of %s: %d %v", email, c, err)
		}
		tokens = append(tokens, tk.AccessToken)
	}
	return tokens
}

// fingerprint hashes every row of every table of a database, so a test can
// show that a refused command wrote nothing.
func fingerprint(t *testing.T, dsn, dataDir string) string {
	t.Helper()
	raw := testutil.RawDB(t, dsn, dataDir)
	q := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	if dsn != "" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name`
	}
	names := queryStrings(t, raw, q)
	h := sha256.New()
	for _, name := range names {
		fmt.Fprintf(h, "table %s\n", name)
		rows, err := raw.QueryContext(t.Context(), "SELECT * FROM "+name) // #nosec G202 -- table names read from the schema, test only
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%v", vals))
		}
		_ = rows.Close()
		slices.Sort(lines)
		fmt.Fprintln(h, strings.Join(lines, "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func queryStrings(t *testing.T, raw *sql.DB, q string) []string {
	t.Helper()
	rows, err := raw.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// refusedForKeys fails the test unless err is a key set refusal (exit
// status 3) that says what to do.
func refusedForKeys(t *testing.T, what string, err error) {
	t.Helper()
	var coded interface{ ExitCode() int }
	if err == nil || !errors.As(err, &coded) || coded.ExitCode() != 3 || !strings.Contains(err.Error(), "what to do:") {
		t.Errorf("%s = %v, want a key set refusal (exit status 3) saying what to do", what, err)
	}
}

// every command that opens the database, as run from a folder
var boundCommands = [][]string{
	{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0", "--migrate"},
	{"migrate"},
	{"keys", "status"},
	{"keys", "rotate", "--kek", "--settle", "0s"},
	{"keys", "init"},
	{"audit", "verify"},
	{"audit", "export"},
	{"staff", "list"},
	{"staff", "create", "--email", "ana@corp.example", "--role", "admin"},
	{"doctor"},
}

// The scenario of a new user: a database that holds customers, used from
// a second folder that lacks the deployment's keys (no ./data at all), or
// that has another deployment's master key. Every command refuses with
// exit status 3 before writing anything, and creates no key or file; the
// deployment's own folder still verifies its trail and signs customers in.
func TestKeysBoundToDatabase(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		d := newDeployment(t, b, 2)
		other := newDeployment(t, b, 1) // another deployment, with its own master key

		// SQLite keeps the database in the data directory: the second
		// folder holds a copy of the database file and nothing else.
		type place struct {
			name    string
			dataDir string
			extra   []string
		}
		second := filepath.Join(t.TempDir(), "second")
		places := []place{
			{"a second folder without the keys", second, nil},
			{"another deployment's master key", d.dataDir, []string{"RESGUARDO_MASTER_KEY_FILE", filepath.Join(other.dataDir, "master.key")}},
		}
		if b.Name == "sqlite" {
			if err := os.MkdirAll(second, 0o700); err != nil {
				t.Fatal(err)
			}
			copyDB(t, d.dataDir, second)
		}
		for _, p := range places {
			t.Run(p.name, func(t *testing.T) {
				dbDir := d.dataDir
				if b.Name == "sqlite" {
					dbDir = p.dataDir
				}
				before := fingerprint(t, d.dsn, dbDir)
				filesBefore := listDir(t, p.dataDir)
				for _, args := range boundCommands {
					_, err := cmd(t, d.env(p.dataDir, p.extra...), args...)
					refusedForKeys(t, strings.Join(args, " "), err)
				}
				if after := fingerprint(t, d.dsn, dbDir); after != before {
					t.Error("a refused command changed the database")
				}
				if files := listDir(t, p.dataDir); !slices.Equal(files, filesBefore) {
					t.Errorf("a refused command wrote files: %v, before %v", files, filesBefore)
				}
			})
		}

		// The deployment itself is intact.
		if out, err := cmd(t, d.env(d.dataDir), "audit", "verify"); err != nil {
			t.Fatalf("audit verify in the deployment's folder: %v\n%s", err, out)
		}
		site, _ := startServe(t, d.env(d.dataDir), []string{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0"})
		d.signIn(t, site.Site)
	})
}

// A database that holds data but records no key set (an earlier release
// kept the key set in keyset.json) is refused unless the key set file that
// opens its data is moved in; keys init moves it after checking it opens
// the data, and refuses a key set file of another deployment.
func TestKeySetFileMovedIntoTheDatabase(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		// An earlier release's deployment: the key set in keyset.json.
		legacy := func() *testutil.Env {
			env := testutil.NewLegacyEnv(t, b)
			if err := env.Accounts.Register(t.Context(), account.RegisterInput{Email: "legacy@example.com", Password: bindPassword, Name: "Cliente"}); err != nil {
				t.Fatal(err)
			}
			return env
		}
		env := legacy()
		d := &deployment{dataDir: env.DataDir, dsn: env.DSN, emails: []string{"legacy@example.com"}}
		// Where the database is, seen from a folder (SQLite: a copy in it).
		place := func(keysetFrom string) string {
			dir := t.TempDir()
			if keysetFrom != "" {
				copyFile(t, filepath.Join(keysetFrom, "keyset.json"), filepath.Join(dir, "keyset.json"))
			}
			if b.Name == "sqlite" {
				copyDB(t, d.dataDir, dir)
			}
			return dir
		}
		dbDir := func(dir string) string {
			if b.Name == "sqlite" {
				return dir
			}
			return d.dataDir
		}

		noKeys := place("")
		before := fingerprint(t, d.dsn, dbDir(noKeys))
		for _, args := range boundCommands {
			_, err := cmd(t, d.env(noKeys), args...)
			refusedForKeys(t, "no key set file: "+strings.Join(args, " "), err)
		}
		if fingerprint(t, d.dsn, dbDir(noKeys)) != before {
			t.Error("a refused command changed a database with no key set")
		}

		// Another deployment's key set file is refused, even by keys init.
		wrong := place(legacy().DataDir)
		before = fingerprint(t, d.dsn, dbDir(wrong))
		for _, args := range [][]string{{"keys", "init"}, {"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0", "--migrate"}} {
			_, err := cmd(t, d.env(wrong), args...)
			refusedForKeys(t, "another deployment's keyset.json: "+strings.Join(args, " "), err)
		}
		if fingerprint(t, d.dsn, dbDir(wrong)) != before {
			t.Error("refusing another deployment's key set file changed the database")
		}

		// The right one is moved in; then a server needs only the master key.
		if out, err := cmd(t, d.env(d.dataDir), "keys", "init"); err != nil {
			t.Fatalf("keys init: %v\n%s", err, out)
		}
		if out, err := cmd(t, d.env(d.dataDir), "audit", "verify"); err != nil {
			t.Fatalf("audit verify after the move: %v\n%s", err, out)
		}
		serveDir := d.dataDir
		var extra []string
		if b.Name == "mysql" {
			master, err := os.ReadFile(filepath.Join(d.dataDir, "master.key"))
			if err != nil {
				t.Fatal(err)
			}
			serveDir, extra = t.TempDir(), []string{"RESGUARDO_MASTER_KEY", string(master)}
		}
		site, _ := startServe(t, d.env(serveDir, extra...), []string{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0"})
		d.signIn(t, site.Site)
	})
}

// copyDB copies the embedded database of one data directory (with its
// write-ahead log, which may hold committed transactions) into another.
func copyDB(t *testing.T, from, to string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal"} {
		src := filepath.Join(from, sqlstore.SQLiteFile+suffix)
		if _, err := os.Stat(src); err == nil {
			copyFile(t, src, filepath.Join(to, sqlstore.SQLiteFile+suffix))
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from) // #nosec G304 -- test files
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// listDir names what a directory holds (nothing if it does not exist).
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
