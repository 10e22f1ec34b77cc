package server

import (
	"bytes"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
)

// dumpDatabase returns everything the database holds, as an attacker with
// a copy of it would see it: the SQLite files byte for byte, or a
// mysqldump of the MySQL database.
func dumpDatabase(t *testing.T, env *testutil.Env) []byte {
	t.Helper()
	if env.DSN == "" {
		var all []byte
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(filepath.Join(env.DataDir, sqlstore.SQLiteFile+suffix))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	tool, err := exec.LookPath("mariadb-dump")
	if err != nil {
		if tool, err = exec.LookPath("mysqldump"); err != nil {
			t.Fatal("mariadb-dump or mysqldump is needed to dump the MySQL test database")
		}
	}
	u, err := url.Parse(env.DSN)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--host=" + u.Hostname(), "--port=" + u.Port(), "--user=" + u.User.Username(), "--skip-extended-insert", strings.TrimPrefix(u.Path, "/")}
	cmd := exec.CommandContext(t.Context(), tool, args...) // #nosec G204 -- test database from the test environment
	if pw, ok := u.User.Password(); ok {
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+pw)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	if !bytes.Contains(out, []byte("INSERT INTO `customers`")) {
		t.Fatalf("the dump holds no customers: %.500s", out)
	}
	return out
}

// TestDatabaseDumpHoldsNoPersonalDataInClear registers a customer with a
// name, two phones and an address, then searches a copy of the database for
// every value in every form it could take.
func TestDatabaseDumpHoldsNoPersonalDataInClear(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "Zoraida.Quintanilla@Example.org", "Zoraida Quintanilla Ybarra")
		ts.apiCall(t, "POST", "/api/v1/me/phones", tk.AccessToken, map[string]string{"label": "Trabajo Xq", "number": "+34 698 765 432"}, nil)
		ts.apiCall(t, "POST", "/api/v1/me/phones", tk.AccessToken, map[string]string{"number": "+44 7911 123456"}, nil)
		ts.apiCall(t, "POST", "/api/v1/me/addresses", tk.AccessToken, map[string]string{
			"line1": "Calle Wenceslao Fernández Flórez 17", "line2": "Escalera Izquierda", "city": "Villaviciosa de Odón",
			"region": "Comunidad de Madrid", "postal_code": "28670", "country": "ES"}, nil)
		var me me
		if r := ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, &me); r.StatusCode != 200 || len(me.Phones) != 2 || len(me.Addresses) != 1 {
			t.Fatalf("setup: %d %s", r.StatusCode, r.body)
		}
		ts.env.DeliverMail(t) // mail waits in the outbox sealed; sent, it is gone
		dump := dumpDatabase(t, ts.env)
		for _, v := range []string{
			"zoraida.quintanilla@example.org", "Zoraida.Quintanilla", "Quintanilla", "Ybarra", "Trabajo Xq",
			"+34698765432", "698765432", "698 765 432", "+447911123456", "7911123456",
			"Wenceslao", "Fernández", "Flórez", "Escalera Izquierda", "Villaviciosa", "Comunidad de Madrid", "28670",
		} {
			if bytes.Contains(bytes.ToLower(dump), bytes.ToLower([]byte(v))) {
				t.Errorf("the database dump holds %q in clear", v)
			}
		}
	})
}
