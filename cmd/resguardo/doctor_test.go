package main

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
)

// doctorEnv is a deployment with one registered customer, and how to run
// `resguardo doctor` on it.
type doctorEnv struct {
	env        *testutil.Env
	customerID string
}

func newDoctorEnv(t *testing.T, b testutil.Backend) *doctorEnv {
	t.Helper()
	env := testutil.NewEnv(t, b, nil)
	const email, password = "maria@example.com", "correct horse battery staple"
	if err := env.Accounts.Register(t.Context(), account.RegisterInput{Email: email, Password: password, Name: "María"}); err != nil {
		t.Fatal(err)
	}
	id, _, err := env.Accounts.Login(t.Context(), account.SignIn{Email: email, Password: password, Client: netip.MustParseAddr("192.0.2.10")})
	if err != nil {
		t.Fatal(err)
	}
	return &doctorEnv{env: env, customerID: id}
}

// doctor runs `resguardo doctor` as the binary would and returns its
// standard output and error.
func (e *doctorEnv) doctor(t *testing.T, args ...string) (string, error) {
	t.Helper()
	environ := map[string]string{"RESGUARDO_DATA_DIR": e.env.DataDir, "RESGUARDO_DATABASE": e.env.DSN}
	var out strings.Builder
	err := run(t.Context(), append([]string{"doctor"}, args...), func(k string) string { return environ[k] }, nil, &out, io.Discard)
	return out.String(), err
}

// exec changes exactly one row behind resguardo's back, as someone with
// direct database access could.
func (e *doctorEnv) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	var raw *sql.DB
	var err error
	if e.env.DSN == "" {
		raw, err = sql.Open("sqlite", filepath.Join(e.env.DataDir, sqlstore.SQLiteFile)+"?_pragma=busy_timeout(5000)")
	} else {
		cfg, cerr := sqlstore.MySQLConfig(e.env.DSN)
		if cerr != nil {
			t.Fatal(cerr)
		}
		raw, err = sql.Open("mysql", cfg.FormatDSN())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	res, err := raw.ExecContext(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s changed %d rows, want 1", query, n)
	}
}

// line returns the report line of a check, or fails the test.
func line(t *testing.T, out, name string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^(PASS|FAIL|N/A) +` + regexp.QuoteMeta(name) + ` .*$`)
	l := re.FindString(out)
	if l == "" {
		t.Fatalf("no %s line in:\n%s", name, out)
	}
	return l
}

// docs/contract.md §11: doctor on the default loopback development setup passes (exit
// 0), reporting the production-only checks as not applicable.
func TestDoctorPassesOnDevelopmentSetup(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		e := newDoctorEnv(t, b)
		out, err := e.doctor(t)
		if err != nil {
			t.Fatalf("doctor = %v on the development setup:\n%s", err, out)
		}
		for _, name := range []string{"listener-tls", "database-privileges", "keyset-protection"} {
			if l := line(t, out, name); !strings.HasPrefix(l, "N/A ") {
				t.Errorf("production-only check not n/a: %s", l)
			}
		}
		for _, name := range []string{"keyset", "migrations", "personal-data", "audit-chain"} {
			if l := line(t, out, name); !strings.HasPrefix(l, "PASS ") {
				t.Errorf("check did not pass: %s", l)
			}
		}
		if strings.Contains(out, "FAIL") {
			t.Errorf("a failure on the development setup:\n%s", out)
		}
	})
}

// A master key others may read fails naming it.
func TestDoctorFailsOnWorldReadableKeySet(t *testing.T) {
	e := newDoctorEnv(t, testutil.Backends()[0])
	keyset := filepath.Join(e.env.DataDir, "master.key")
	if err := os.Chmod(keyset, 0o644); err != nil { // #nosec G302 -- exposing the key set is what is tested
		t.Fatal(err)
	}
	out, err := e.doctor(t)
	if err == nil || !strings.Contains(err.Error(), "keyset") {
		t.Fatalf("doctor = %v, want a failure naming keyset:\n%s", err, out)
	}
	if l := line(t, out, "keyset"); !strings.HasPrefix(l, "FAIL ") || !strings.Contains(l, keyset) || !strings.Contains(l, "0644") || !strings.Contains(l, "fix: chmod 600") {
		t.Errorf("keyset line = %q, want FAIL naming %s, its mode and the fix", l, keyset)
	}
}

// A value planted in clear in a personal column fails naming the table,
// column and row, and the value is never printed.
func TestDoctorFailsOnPlaintextPersonalData(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		e := newDoctorEnv(t, b)
		e.exec(t, `UPDATE customers SET name_sealed = ? WHERE id = ?`, []byte("María García"), e.customerID)
		for _, format := range [][]string{nil, {"--json"}} {
			out, err := e.doctor(t, format...)
			if err == nil || !strings.Contains(err.Error(), "personal-data") {
				t.Fatalf("doctor %v = %v, want a failure naming personal-data:\n%s", format, err, out)
			}
			if !strings.Contains(out, "customers.name_sealed row "+e.customerID) {
				t.Errorf("doctor %v does not name customers.name_sealed row %s:\n%s", format, e.customerID, out)
			}
			for _, s := range []string{"María", "García", "Mar\\u00eda"} {
				if strings.Contains(out, s) {
					t.Errorf("doctor %v prints the planted value:\n%s", format, out)
				}
			}
		}
	})
}

// One changed byte in an audit entry fails naming the audit chain.
func TestDoctorFailsOnTamperedAuditRow(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		e := newDoctorEnv(t, b)
		// account.sign_up → account.sign_uP: one byte.
		e.exec(t, `UPDATE audit_log SET action = ? WHERE id = 1 AND action = ?`, "account.sign_uP", "account.sign_up")
		out, err := e.doctor(t)
		if err == nil || !strings.Contains(err.Error(), "audit-chain") {
			t.Fatalf("doctor = %v, want a failure naming audit-chain:\n%s", err, out)
		}
		if l := line(t, out, "audit-chain"); !strings.HasPrefix(l, "FAIL ") || !strings.Contains(l, "entry 1") {
			t.Errorf("audit-chain line = %q, want FAIL naming entry 1", l)
		}
	})
}

// --json prints one object that machines can read, with ok=false when a
// check fails.
func TestDoctorJSON(t *testing.T) {
	e := newDoctorEnv(t, testutil.Backends()[0])
	decode := func(out string) (ok bool, statuses map[string]string) {
		t.Helper()
		var rep struct {
			OK     bool `json:"ok"`
			Checks []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
				Detail string `json:"detail"`
				Fix    string `json:"fix"`
			} `json:"checks"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("--json output does not parse: %v\n%s", err, out)
		}
		statuses = map[string]string{}
		for _, c := range rep.Checks {
			statuses[c.Name] = c.Status
		}
		return rep.OK, statuses
	}
	out, err := e.doctor(t, "--json")
	if ok, st := decode(out); err != nil || !ok || st["listener-tls"] != "n/a" {
		t.Fatalf("--json on a healthy setup: ok=%v %v, err %v", ok, st, err)
	}
	if err := os.Chmod(filepath.Join(e.env.DataDir, "master.key"), 0o640); err != nil { // #nosec G302 -- exposing the key set is what is tested
		t.Fatal(err)
	}
	out, err = e.doctor(t, "--json")
	if ok, st := decode(out); err == nil || ok || st["keyset"] != "fail" {
		t.Errorf("--json with a readable key set: ok=%v %v, err %v; want ok=false and keyset fail", ok, st, err)
	}
}

// In production (a listener off loopback) plain HTTP fails, and so does a
// MySQL user with administrative privileges (MariaDB's root here).
func TestDoctorProductionChecks(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		e := newDoctorEnv(t, b)
		out, err := e.doctor(t, "--addr", "0.0.0.0:8080", "--public-url", "https://cuenta.example.com")
		if err == nil || !strings.Contains(err.Error(), "listener-tls") {
			t.Fatalf("doctor = %v, want a failure naming listener-tls:\n%s", err, out)
		}
		if l := line(t, out, "listener-tls"); !strings.HasPrefix(l, "FAIL ") || !strings.Contains(l, "0.0.0.0:8080") {
			t.Errorf("listener-tls line = %q, want FAIL naming 0.0.0.0:8080", l)
		}
		if l := line(t, out, "keyset-protection"); !strings.HasPrefix(l, "FAIL ") || !strings.Contains(l, "in clear") || !strings.Contains(l, "fix: keep the master key out of the data directory") {
			if b.Name == "sqlite" {
				t.Errorf("keyset-protection line = %q, want FAIL for a master key beside the embedded database, with the fix", l)
			}
		}
		priv := line(t, out, "database-privileges")
		switch b.Name {
		case "mysql":
			if !strings.HasPrefix(priv, "FAIL ") || !strings.Contains(priv, "ALL PRIVILEGES") || !strings.Contains(err.Error(), "database-privileges") {
				t.Errorf("database-privileges line = %q (err %v), want FAIL naming ALL PRIVILEGES", priv, err)
			}
		default:
			if !strings.HasPrefix(priv, "N/A ") {
				t.Errorf("database-privileges on SQLite = %q, want n/a", priv)
			}
		}
	})
}

// Doctor reports and never repairs: it creates no key set or database where
// there is none, and does not migrate.
func TestDoctorChangesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err := run(t.Context(), []string{"doctor", "--data-dir", dir}, func(string) string { return "" }, nil, &out, io.Discard)
	if err == nil || !strings.Contains(out.String(), "no master key") {
		t.Fatalf("doctor on an empty data directory = %v:\n%s", err, out.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("doctor wrote into the data directory: %v", entries)
	}

	dsn := testutil.MySQLDatabase(t) // skips without MariaDB
	out.Reset()
	environ := map[string]string{"RESGUARDO_DATABASE": dsn, "RESGUARDO_DATA_DIR": dir}
	err = run(t.Context(), []string{"doctor"}, func(k string) string { return environ[k] }, nil, &out, io.Discard)
	if l := line(t, out.String(), "migrations"); err == nil || !strings.HasPrefix(l, "FAIL ") || !strings.Contains(l, "never been migrated") || !strings.Contains(l, "resguardo migrate") {
		t.Errorf("doctor on an unmigrated database = %v, migrations line %q", err, l)
	}
	cfg, err := sqlstore.MySQLConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var tables int
	if err := raw.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()`).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("doctor created %d table(s) in an unmigrated database (%v): it must not migrate", tables, err)
	}
}
