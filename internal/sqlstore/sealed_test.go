package sqlstore_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
)

// schemaColumns replays the Up sections of one dialect's migrations and
// returns the resulting columns of every table. It understands what the
// migrations use: CREATE TABLE, DROP TABLE and ALTER TABLE ADD, DROP and
// RENAME COLUMN.
func schemaColumns(t *testing.T, dialect string) map[string][]string {
	t.Helper()
	dir := filepath.Join("migrations", dialect)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string][]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name())) // #nosec G304 -- the package's own migrations
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range upStatements(string(b)) {
			applyStatement(t, tables, e.Name(), stmt)
		}
	}
	if len(tables) == 0 {
		t.Fatalf("no tables found in %s", dir)
	}
	return tables
}

// upStatements returns the statements of a goose migration's Up section,
// without comments.
func upStatements(text string) []string {
	if i := strings.Index(text, "-- +goose Down"); i >= 0 {
		text = text[:i]
	}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if i := strings.Index(l, "--"); i >= 0 {
			l = l[:i]
		}
		lines = append(lines, l)
	}
	var out []string
	for _, s := range strings.Split(strings.Join(lines, "\n"), ";") {
		if s = strings.Join(strings.Fields(s), " "); s != "" {
			out = append(out, s)
		}
	}
	return out
}

var (
	createTableRe = regexp.MustCompile(`(?i)^CREATE TABLE (?:IF NOT EXISTS )?` + "`?" + `(\w+)` + "`?" + ` \((.*)\)`)
	dropTableRe   = regexp.MustCompile(`(?i)^DROP TABLE (?:IF EXISTS )?` + "`?" + `(\w+)`)
	alterTableRe  = regexp.MustCompile(`(?i)^ALTER TABLE (\w+) (.*)$`)
	renameTableRe = regexp.MustCompile(`(?i)^RENAME TO (\w+)$`)
	addColumnRe   = regexp.MustCompile(`(?i)^ADD (?:COLUMN )?(?:IF NOT EXISTS )?(\w+)`)
	dropColumnRe  = regexp.MustCompile(`(?i)^DROP (?:COLUMN )?(?:IF EXISTS )?(\w+)`)
	renameColRe   = regexp.MustCompile(`(?i)^RENAME (?:COLUMN )?(\w+) TO (\w+)$`)
	modifyRe      = regexp.MustCompile(`(?i)^MODIFY (?:COLUMN )?(\w+) `)
	// Table elements that are constraints or indexes, not columns.
	notColumn = map[string]bool{"PRIMARY": true, "UNIQUE": true, "KEY": true, "INDEX": true,
		"CONSTRAINT": true, "FOREIGN": true, "CHECK": true, "FULLTEXT": true, "SPATIAL": true}
)

func applyStatement(t *testing.T, tables map[string][]string, file, stmt string) {
	t.Helper()
	switch {
	case createTableRe.MatchString(stmt):
		m := createTableRe.FindStringSubmatch(stmt)
		var cols []string
		for _, def := range splitTopLevel(m[2]) {
			name := strings.Trim(strings.Fields(def)[0], "`\"")
			if !notColumn[strings.ToUpper(name)] {
				cols = append(cols, name)
			}
		}
		tables[m[1]] = cols
	case dropTableRe.MatchString(stmt):
		delete(tables, dropTableRe.FindStringSubmatch(stmt)[1])
	case alterTableRe.MatchString(stmt):
		m := alterTableRe.FindStringSubmatch(stmt)
		table := m[1]
		// Each comma-separated clause of one ALTER (MariaDB takes several).
		for _, clause := range splitTopLevel(m[2]) {
			switch {
			case renameTableRe.MatchString(clause):
				to := renameTableRe.FindStringSubmatch(clause)[1]
				tables[to] = tables[table]
				delete(tables, table)
				table = to
			case renameColRe.MatchString(clause):
				c := renameColRe.FindStringSubmatch(clause)
				if i := slices.Index(tables[table], c[1]); i >= 0 {
					tables[table][i] = c[2]
				}
			case addColumnRe.MatchString(clause):
				if c := addColumnRe.FindStringSubmatch(clause)[1]; !notColumn[strings.ToUpper(c)] {
					tables[table] = append(tables[table], c)
				}
			case dropColumnRe.MatchString(clause):
				if c := dropColumnRe.FindStringSubmatch(clause)[1]; !notColumn[strings.ToUpper(c)] {
					tables[table] = slices.DeleteFunc(tables[table], func(x string) bool { return x == c })
				}
			case modifyRe.MatchString(clause): // a column's type: its name stays
			default:
				// A clause this parser does not follow could add a sealed
				// column unseen: teach the parser rather than let it pass.
				t.Fatalf("%s: statement not understood by the sealed-column check: %s", file, stmt)
			}
		}
	}
}

// splitTopLevel splits a CREATE TABLE body at commas outside parentheses.
func splitTopLevel(body string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range body {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(body[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(body[start:]))
}

// Every column whose name says it is sealed must be in the registry that
// `resguardo doctor` samples, so a new personal column cannot be forgotten;
// and every registry entry must name real columns.
func TestSealedColumnsRegistryCoversSchema(t *testing.T) {
	for _, dialect := range []string{"sqlite", "mysql"} {
		t.Run(dialect, func(t *testing.T) {
			tables := schemaColumns(t, dialect)
			registered := map[string]bool{}
			for _, s := range slices.Concat(sqlstore.SealedColumns, sqlstore.StaffSealedColumns) {
				registered[s.Name()] = true
				for _, c := range []string{s.Column, s.RowID, s.CustomerID} {
					if !slices.Contains(tables[s.Table], c) {
						t.Errorf("registry entry %s: table %s has no column %s", s.Name(), s.Table, c)
					}
				}
			}
			found := 0
			for table, cols := range tables {
				for _, c := range cols {
					if !strings.Contains(strings.ToLower(c), "sealed") {
						continue
					}
					found++
					if !registered[table+"."+c] {
						t.Errorf("%s.%s holds sealed personal data but is not in sqlstore.SealedColumns: add it (with its row id and customer id columns) so doctor checks it", table, c)
					}
				}
			}
			if found < 9 {
				t.Errorf("found only %d sealed columns in the migrations: the parser missed some", found)
			}
		})
	}
}

// SampleSealed reads every row when the limit allows, whatever the start
// (it wraps around), at most limit rows otherwise, and refuses a column that
// is not in the registry: its names go into SQL text.
func TestSampleSealed(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		env := testutil.NewEnv(t, b, nil)
		for _, e := range []string{"a@example.com", "b@example.com", "c@example.com"} {
			if err := env.Accounts.Register(t.Context(), registerInput(e)); err != nil {
				t.Fatal(err)
			}
		}
		conn := env.DB.Conn()
		names := sqlstore.SealedColumns[1] // customers.name_sealed
		for _, from := range []string{"", "M", "ZZZZ"} {
			got, err := conn.SampleSealed(t.Context(), names, from, 10)
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]bool{}
			for _, v := range got {
				ids[v.RowID] = true
				if v.CustomerID != v.RowID || len(v.DataKey) == 0 || len(v.Sealed) == 0 {
					t.Errorf("from %q: incomplete value for row %s", from, v.RowID)
				}
			}
			if len(got) != 3 || len(ids) != 3 {
				t.Errorf("from %q: %d values (%d rows), want the 3 customers once each", from, len(got), len(ids))
			}
		}
		if got, err := conn.SampleSealed(t.Context(), names, "", 2); err != nil || len(got) != 2 {
			t.Errorf("limit 2: %d values, %v", len(got), err)
		}
		forged := sqlstore.SealedColumn{Table: "customers", Column: "password_hash", RowID: "id", CustomerID: "id"}
		if _, err := conn.SampleSealed(t.Context(), forged, "", 10); err == nil {
			t.Error("an unregistered column was sampled")
		}
	})
}

func registerInput(email string) account.RegisterInput {
	return account.RegisterInput{Email: email, Password: "correct horse battery staple", Name: "Test Customer"}
}

// Migrated tells a never-migrated database from a migrated one without
// creating the version table, as asking the migrator would.
func TestMigratedOnlyReads(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		dsn := ""
		if b.Name == "mysql" {
			dsn = testutil.MySQLDatabase(t)
		}
		db, err := sqlstore.Open(t.Context(), dsn, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for range 2 { // the first call must not have created anything
			if ok, err := db.Conn().Migrated(t.Context()); err != nil || ok {
				t.Fatalf("Migrated on a fresh database = %v, %v", ok, err)
			}
		}
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		if ok, err := db.Conn().Migrated(t.Context()); err != nil || !ok {
			t.Errorf("Migrated after Migrate = %v, %v", ok, err)
		}
	})
}
