package doctor

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
	"github.com/resguardo/resguardo/internal/vault"
)

const (
	password = "correct horse battery staple"
	// The planted name: it must never appear in a report.
	plantedName = "María García"
)

var client = netip.MustParseAddr("192.0.2.10")

// fixture is a development deployment with one customer who has a value in
// every sealed column, so that the personal-data check opens each kind.
type fixture struct {
	env        *testutil.Env
	customerID string
	d          Deployment
}

func newFixture(t *testing.T, b testutil.Backend) *fixture {
	t.Helper()
	env := testutil.NewEnv(t, b, nil)
	ctx := t.Context()
	const email = "maria@example.com"
	if err := env.Accounts.Register(ctx, account.RegisterInput{Email: email, Password: password, Name: "María"}); err != nil {
		t.Fatal(err)
	}
	id, _, err := env.Accounts.Login(ctx, account.SignIn{Email: email, Password: password, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Accounts.AddPhone(ctx, resguardo.CustomerActor(id), id, "móvil", "+34612345678"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Accounts.AddAddress(ctx, resguardo.CustomerActor(id), id, resguardo.Address{Label: "casa", Line1: "Calle Mayor 1", City: "Madrid", PostalCode: "28013", Country: "ES"}); err != nil {
		t.Fatal(err)
	}
	_, p, err := env.Accounts.StartWebSession(ctx, id, "Firefox en Linux", "en")
	if err != nil {
		t.Fatal(err)
	}
	// A passkey before the app sign-in: adding one ends the other sign-ins.
	c, err := env.Accounts.BeginPasskeyRegistration(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	key := testutil.NewSoftAuthenticator(t, testutil.SiteOrigin, testutil.SiteRPID)
	if _, _, err := env.Accounts.FinishPasskeyRegistration(ctx, p, c.Token, "Llave de María", key.Create(t, c.Options), "es"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Accounts.IssueTokens(ctx, id, "iPhone de María", "en"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Accounts.BeginTOTP(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := env.Accounts.RequestEmailChange(ctx, p.Actor(), p, "maria.nueva@example.com", "en"); err != nil {
		t.Fatal(err)
	}
	env.Accounts.Wait()
	// Every sealed column holds a value, so the row ids in the registry are
	// all exercised (a wrong one makes the development setup fail).
	for _, col := range sqlstore.SealedColumns {
		if vs, err := env.DB.Conn().SampleSealed(ctx, col, "", 1); err != nil || len(vs) == 0 {
			t.Fatalf("fixture has no value in %s (%v)", col.Name(), err)
		}
	}
	return &fixture{env: env, customerID: id, d: Deployment{
		Addr: "127.0.0.1:8080", StaffAddr: "127.0.0.1:8081",
		DatabaseURL: env.DSN, DataDir: env.DataDir, MailDir: env.MailDir, WorkDir: t.TempDir(),
		MasterKeyWhere: "file " + filepath.Join(env.DataDir, vault.MasterKeyFile), MasterKeyFile: filepath.Join(env.DataDir, vault.MasterKeyFile),
	}}
}

func (f *fixture) run(t *testing.T) Report {
	t.Helper()
	return Run(t.Context(), f.d, func(context.Context) Handles {
		return Handles{DB: f.env.DB, Vault: f.env.Vault}
	})
}

// raw is a separate connection to the fixture's database, as someone with
// direct database access has.
func (f *fixture) raw(t *testing.T) *sql.DB {
	t.Helper()
	return testutil.RawDB(t, f.env.DSN, f.env.DataDir)
}

// exec changes exactly one row behind resguardo's back.
func (f *fixture) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	res, err := f.raw(t).ExecContext(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s changed %d rows, want 1", query, n)
	}
}

func check(t *testing.T, rep Report, name string) Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("report has no %s check: %+v", name, rep)
	return Check{}
}

func text(t *testing.T, rep Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func statuses(rep Report) map[string]Status {
	out := map[string]Status{}
	for _, c := range rep.Checks {
		out[c.Name] = c.Status
	}
	return out
}

// docs/contract.md §11: the default loopback development setup passes, with the
// production-only checks not applicable.
func TestDevelopmentSetupPasses(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b)
		rep := f.run(t)
		want := map[string]Status{
			NameListenerTLS: NA, NameDatabaseTLS: NA, NameKeySet: Pass, NameKeyProtect: NA, NamePrivileges: NA,
			NameMigrations: Pass, NamePersonalData: Pass, NameAuditChain: Pass,
		}
		if b.Name == "mysql" {
			want[NameDatabaseTLS] = Pass // loopback MariaDB
		}
		if diff := cmp.Diff(want, statuses(rep)); diff != "" || !rep.OK {
			t.Errorf("statuses (-want +got):\n%s\n%s", diff, text(t, rep))
		}
		out := text(t, rep)
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != len(want) {
			t.Errorf("%d lines, want one per check:\n%s", len(lines), out)
		}
		if !strings.Contains(out, "N/A   "+NameListenerTLS) || !strings.Contains(out, "PASS  "+NamePersonalData) {
			t.Errorf("text report lines are not \"STATUS  name  detail\":\n%s", out)
		}
	})
}

// The key set must be private to its owner, in a directory only its owner
// writes, and not where files are served or mailed.
func TestKeySetProblemsFail(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, f *fixture)
		want  string // in the keyset line
	}{
		{"world-readable", func(t *testing.T, f *fixture) {
			chmod(t, filepath.Join(f.env.DataDir, "master.key"), 0o644)
		}, "mode 0644"},
		{"group-readable", func(t *testing.T, f *fixture) {
			chmod(t, filepath.Join(f.env.DataDir, "master.key"), 0o640)
		}, "mode 0640"},
		{"directory writable by others", func(t *testing.T, f *fixture) {
			chmod(t, f.env.DataDir, 0o777)
		}, "mode 0777, where other users may replace it"},
		{"inside the mail directory", func(t *testing.T, f *fixture) {
			f.d.MailDir = f.env.DataDir
		}, "inside the mail directory"},
		{"inside ./static through a link", func(t *testing.T, f *fixture) {
			if err := os.Symlink(f.env.DataDir, filepath.Join(f.d.WorkDir, "static")); err != nil {
				t.Fatal(err)
			}
		}, "inside ./static"},
		{"a symbolic link", func(t *testing.T, f *fixture) {
			p := filepath.Join(f.env.DataDir, "master.key")
			if err := os.Rename(p, p+".real"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(p+".real", p); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
		{"missing", func(t *testing.T, f *fixture) {
			if err := os.Remove(filepath.Join(f.env.DataDir, "master.key")); err != nil {
				t.Fatal(err)
			}
			f.d.MasterKeyWhere, f.d.MasterKeyFile = "", "" // as the command finds it: none
		}, "no master key"},
		{"a key set file of an earlier release left in clear", func(t *testing.T, f *fixture) {
			if err := os.WriteFile(filepath.Join(f.env.DataDir, "keyset.json"), []byte("{}"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "keyset.json of an earlier release"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testutil.Backends()[0])
			tc.spoil(t, f)
			rep := f.run(t)
			c := check(t, rep, NameKeySet)
			if rep.OK || c.Status != Fail || !strings.Contains(c.Detail, f.env.DataDir) || !strings.Contains(c.Detail, tc.want) || c.Fix == "" {
				t.Errorf("keyset check = %+v, want a failure naming the data directory and %q", c, tc.want)
			}
			if !strings.Contains(text(t, rep), "FAIL  "+NameKeySet) {
				t.Errorf("text report does not show the failure:\n%s", text(t, rep))
			}
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// A value planted in clear in any personal column, or a ciphertext moved to
// another row or column, fails naming table, column and row id, never the
// value.
func TestPlaintextInPersonalColumnFails(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		for _, col := range sqlstore.SealedColumns {
			t.Run(col.Name(), func(t *testing.T) {
				f := newFixture(t, b)
				rowID := rowOf(t, f, col)
				// Test-only SQL from the static registry: the value is a placeholder.
				f.exec(t, `UPDATE `+col.Table+` SET `+col.Column+` = ? WHERE `+col.RowID+` = ?`, []byte(plantedName), rowID) // #nosec G202 -- names from the static SealedColumns registry
				rep := f.run(t)
				c := check(t, rep, NamePersonalData)
				if rep.OK || c.Status != Fail || !strings.Contains(c.Detail, col.Name()+" row "+rowID) {
					t.Errorf("personal-data check = %+v, want a failure naming %s row %s", c, col.Name(), rowID)
				}
				assertNoValue(t, rep)
			})
		}
		t.Run("ciphertext moved between columns", func(t *testing.T) {
			f := newFixture(t, b)
			f.exec(t, `UPDATE customers SET name_sealed = email_sealed WHERE id = ?`, f.customerID)
			c := check(t, f.run(t), NamePersonalData)
			if c.Status != Fail || !strings.Contains(c.Detail, "customers.name_sealed row "+f.customerID) {
				t.Errorf("personal-data check = %+v, want customers.name_sealed named", c)
			}
		})
	})
}

// rowOf is the fixture's row id in a sealed column's table.
func rowOf(t *testing.T, f *fixture, col sqlstore.SealedColumn) string {
	t.Helper()
	vs, err := f.env.DB.Conn().SampleSealed(t.Context(), col, "", 1)
	if err != nil || len(vs) != 1 {
		t.Fatalf("row of %s: %v", col.Name(), err)
	}
	return vs[0].RowID
}

func assertNoValue(t *testing.T, rep Report) {
	t.Helper()
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{text(t, rep), js.String()} {
		for _, s := range []string{"María", "García", "Garc"} {
			if strings.Contains(out, s) {
				t.Fatalf("the report prints the planted value (%q):\n%s", s, out)
			}
		}
	}
}

// One changed byte in an audit entry fails the audit-chain check.
func TestTamperedAuditRowFails(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b)
		var action []byte
		if err := f.raw(t).QueryRowContext(t.Context(), `SELECT action FROM audit_log WHERE id = 1`).Scan(&action); err != nil || len(action) == 0 {
			t.Fatalf("audit entry 1: %q, %v", action, err)
		}
		tampered := slices.Clone(action)
		tampered[0] ^= 0x20 // one byte: a letter's case
		f.exec(t, `UPDATE audit_log SET action = ? WHERE id = 1`, string(tampered))
		rep := f.run(t)
		c := check(t, rep, NameAuditChain)
		if rep.OK || c.Status != Fail || !strings.Contains(c.Detail, "entry 1") {
			t.Errorf("audit-chain check = %+v, want a failure naming entry 1", c)
		}
	})
}

// In production (a listener off loopback) the listeners need TLS, a
// certificate that is valid, and the MySQL user may not hold administrative
// or DDL privileges.
func TestProductionChecks(t *testing.T) {
	t.Run("public listener without TLS", func(t *testing.T) {
		f := newFixture(t, testutil.Backends()[0])
		f.d.Addr = "0.0.0.0:8080"
		rep := f.run(t)
		c := check(t, rep, NameListenerTLS)
		if rep.OK || c.Status != Fail || !strings.Contains(c.Detail, "--addr 0.0.0.0:8080") || strings.Contains(c.Detail, "--staff-addr") {
			t.Errorf("listener check = %+v, want a failure naming --addr 0.0.0.0:8080 only", c)
		}
		if s := check(t, rep, NamePrivileges).Status; s != NA {
			t.Errorf("privileges on SQLite: %s, want n/a", s)
		}
	})
	t.Run("public listener behind a trusted proxy", func(t *testing.T) {
		f := newFixture(t, testutil.Backends()[0])
		f.d.StaffAddr = "[::]:8081"
		f.d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		if c := check(t, f.run(t), NameListenerTLS); c.Status != Pass {
			t.Errorf("listener check = %+v, want pass", c)
		}
	})
	for _, tc := range []struct {
		name       string
		notAfter   time.Time
		wantStatus Status
	}{
		{"valid certificate", time.Now().Add(90 * 24 * time.Hour), Pass},
		{"expired certificate", time.Now().Add(-time.Hour), Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testutil.Backends()[0])
			f.d.Addr = "192.0.2.1:443"
			f.d.TLSCert, f.d.TLSKey = certificate(t, tc.notAfter)
			if c := check(t, f.run(t), NameListenerTLS); c.Status != tc.wantStatus {
				t.Errorf("listener check = %+v, want %s", c, tc.wantStatus)
			}
		})
	}
	for _, tc := range []struct {
		name       string
		mode       os.FileMode
		notAfter   time.Time // zero: nothing cached yet
		wantStatus Status
		want       string
	}{
		{"ACME, nothing cached yet", 0o700, time.Time{}, Pass, "obtained at the first connection"},
		{"ACME, valid cached certificate", 0o700, time.Now().Add(60 * 24 * time.Hour), Pass, "cuenta.example.com until"},
		{"ACME, expired cached certificate", 0o700, time.Now().Add(-time.Hour), Fail, "renewal is failing"},
		{"ACME, cache readable by others", 0o755, time.Now().Add(60 * 24 * time.Hour), Fail, "mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testutil.Backends()[0])
			f.d.Addr = "192.0.2.1:443"
			f.d.ACMEDomains = []string{"cuenta.example.com"}
			if !tc.notAfter.IsZero() {
				cache := filepath.Join(f.d.DataDir, "acme")
				if err := os.MkdirAll(cache, tc.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(cache, tc.mode); err != nil {
					t.Fatal(err)
				}
				certFile, _ := certificate(t, tc.notAfter)
				b, err := os.ReadFile(certFile) // #nosec G304 -- the test's own file
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(cache, "cuenta.example.com"), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if c := check(t, f.run(t), NameListenerTLS); c.Status != tc.wantStatus || !strings.Contains(c.Detail, tc.want) {
				t.Errorf("listener check = %+v, want %s with %q", c, tc.wantStatus, tc.want)
			}
		})
	}
	t.Run("MySQL user with ALL PRIVILEGES", func(t *testing.T) {
		b := mysqlBackend(t)
		f := newFixture(t, b)
		f.d.Addr = "0.0.0.0:8080"
		c := check(t, f.run(t), NamePrivileges)
		if c.Status != Fail || !strings.Contains(c.Detail, "ALL PRIVILEGES") || !strings.Contains(c.Detail, "GRANT OPTION") {
			t.Errorf("privileges check = %+v, want a failure naming ALL PRIVILEGES and GRANT OPTION", c)
		}
		f.d.Addr = "127.0.0.1:8080"
		if c := check(t, f.run(t), NamePrivileges); c.Status != NA {
			t.Errorf("privileges check in development = %+v, want n/a", c)
		}
	})
	t.Run("MySQL user with data privileges only", func(t *testing.T) {
		b := mysqlBackend(t)
		f := newFixture(t, b)
		dsn := leastPrivilegedUser(t, f)
		db, err := sqlstore.Open(t.Context(), dsn, f.env.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		f.d.Addr, f.d.DatabaseURL = "0.0.0.0:8080", dsn
		rep := Run(t.Context(), f.d, func(context.Context) Handles { return Handles{DB: db, Vault: f.env.Vault} })
		for _, name := range []string{NamePrivileges, NameMigrations, NamePersonalData, NameAuditChain} {
			if c := check(t, rep, name); c.Status != Pass {
				t.Errorf("%s check as the runtime user = %+v, want pass", name, c)
			}
		}
		if out := text(t, rep); strings.Contains(out, "PASSWORD") || strings.Contains(out, "IDENTIFIED") {
			t.Errorf("the report quotes a grant line:\n%s", text(t, rep))
		}
	})
}

// The master key kept beside the embedded database fails once a listener
// is public, with the fix (a copy of the data directory would open
// everything); on loopback it is the development default (n/a); a master
// key from elsewhere passes.
func TestKeySetInClearFailsInProduction(t *testing.T) {
	f := newFixture(t, testutil.Backends()[0])
	if c := check(t, f.run(t), NameKeyProtect); c.Status != NA {
		t.Errorf("on loopback: %+v, want n/a", c)
	}
	f.d.Addr = "192.0.2.1:443"
	f.d.TLSCert, f.d.TLSKey = certificate(t, time.Now().Add(90*24*time.Hour))
	rep := f.run(t)
	c := check(t, rep, NameKeyProtect)
	if rep.OK || c.Status != Fail || !strings.Contains(c.Detail, "in clear beside the embedded database") || !strings.Contains(c.Fix, "out of the data directory") {
		t.Errorf("public with the master key beside the database: %+v, want a failure with the fix", c)
	}
	if out := text(t, rep); !strings.Contains(out, "FAIL  "+NameKeyProtect) || !strings.Contains(out, "— fix: keep the master key out of the data directory") {
		t.Errorf("report lacks the FAIL line with its fix:\n%s", out)
	}

	// The master key from elsewhere: a file on another disk, or the environment.
	other := filepath.Join(t.TempDir(), "master.key")
	if err := os.Rename(f.d.MasterKeyFile, other); err != nil {
		t.Fatal(err)
	}
	f.d.MasterKeyWhere, f.d.MasterKeyFile = "file "+other, other
	if c := check(t, f.run(t), NameKeyProtect); c.Status != Pass {
		t.Errorf("public with the master key out of the data directory: %+v, want pass", c)
	}
	f.d.MasterKeyWhere, f.d.MasterKeyFile = "RESGUARDO_MASTER_KEY", ""
	if c := check(t, f.run(t), NameKeyProtect); c.Status != Pass {
		t.Errorf("public with the master key from the environment: %+v, want pass", c)
	}
}

func mysqlBackend(t *testing.T) testutil.Backend {
	t.Helper()
	for _, b := range testutil.Backends() {
		if b.Name == "mysql" {
			return b
		}
	}
	t.Skip(testutil.MySQLEnv + " is not set")
	return testutil.Backend{}
}

// leastPrivilegedUser creates a MySQL user with SELECT, INSERT, UPDATE and
// DELETE on the fixture's database only, and returns its URL.
func leastPrivilegedUser(t *testing.T, f *fixture) string {
	t.Helper()
	u, err := url.Parse(f.env.DSN)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	// CREATE USER takes no placeholders: the name and password are made
	// here from base32 letters and digits only.
	user := "rgdoc_" + strings.ToLower(rand.Text()[:10])
	pass := rand.Text()
	f.execAny(t, `CREATE USER '`+user+`'@'%' IDENTIFIED BY '`+pass+`'`)
	t.Cleanup(func() { f.execCleanup(`DROP USER IF EXISTS '` + user + `'@'%'`) })
	f.execAny(t, `GRANT SELECT, INSERT, UPDATE, DELETE ON `+dbName+`.* TO '`+user+`'@'%'`)
	u.User = url.UserPassword(user, pass)
	return u.String()
}

// execAny runs a statement on the MySQL server whatever it changes.
func (f *fixture) execAny(t *testing.T, query string, args ...any) {
	t.Helper()
	cfg, err := sqlstore.MySQLConfig(f.env.DSN)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func (f *fixture) execCleanup(query string) {
	cfg, err := sqlstore.MySQLConfig(f.env.DSN)
	if err != nil {
		return
	}
	if raw, err := sql.Open("mysql", cfg.FormatDSN()); err == nil {
		_, _ = raw.ExecContext(context.Background(), query)
		_ = raw.Close()
	}
}

// certificate writes a self-signed certificate and key valid until
// notAfter, and returns their paths.
func certificate(t *testing.T, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cuenta.example.com"},
		DNSNames:  []string{"cuenta.example.com"},
		NotBefore: notAfter.Add(-365 * 24 * time.Hour), NotAfter: notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// SHOW GRANTS lines of both servers, as privilege names.
func TestPrivilegesParsesGrantLines(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []string
		roles int
	}{
		{"mariadb root", []string{"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' WITH GRANT OPTION",
			"GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION"},
			[]string{"ALL PRIVILEGES", "GRANT OPTION", "PROXY"}, 0},
		{"runtime user", []string{"GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*AB'",
			"GRANT SELECT, INSERT, UPDATE, DELETE ON `resguardo`.* TO `app`@`%`"},
			[]string{"DELETE", "INSERT", "SELECT", "UPDATE", "USAGE"}, 0},
		{"column privileges and two-word names", []string{"GRANT SELECT (id, data_key), CREATE USER, create temporary tables ON `db`.* TO 'u'@'h'"},
			[]string{"CREATE TEMPORARY TABLES", "CREATE USER", "SELECT"}, 0},
		{"mysql 8 ALL and a role", []string{"GRANT ALL ON `db`.* TO `u`@`%`", "GRANT `app_role`@`%` TO `u`@`%`", "SET DEFAULT ROLE `app_role` FOR `u`@`%`"},
			[]string{"ALL PRIVILEGES"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			held, roles := privileges(tc.lines)
			var got []string
			for p := range held {
				got = append(got, p)
			}
			slices.Sort(got)
			if diff := cmp.Diff(tc.want, got); diff != "" || roles != tc.roles {
				t.Errorf("privileges (-want +got):\n%s roles %d, want %d", diff, roles, tc.roles)
			}
		})
	}
}

// The JSON form parses and says ok=false when a check fails.
func TestJSONReport(t *testing.T) {
	f := newFixture(t, testutil.Backends()[0])
	chmod(t, filepath.Join(f.env.DataDir, "master.key"), 0o604)
	var b bytes.Buffer
	if err := f.run(t).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		OK     *bool `json:"ok"`
		Checks []struct {
			Name, Status, Detail string
			Fix                  *string
		} `json:"checks"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil || got.OK == nil || *got.OK || len(got.Checks) != 8 {
		t.Fatalf("JSON report %s (%v): want ok=false and 8 checks", b.String(), err)
	}
	for _, c := range got.Checks {
		if c.Fix == nil || (c.Status != "pass" && c.Status != "fail" && c.Status != "n/a") {
			t.Errorf("check %+v: want status pass, fail or n/a and a fix field", c)
		}
		if c.Name == NameKeySet && c.Status != "fail" {
			t.Errorf("keyset %s, want fail", c.Status)
		}
	}
}
