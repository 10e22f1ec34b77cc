package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
	"github.com/resguardo/resguardo/internal/vault"
)

// restored is a fresh place a backup was restored into: its data directory
// and database URL ("" for SQLite).
type restored struct{ dataDir, dsn string }

func (r restored) env(extra ...string) map[string]string {
	d := &deployment{dsn: r.dsn}
	return d.env(r.dataDir, extra...)
}

// restore loads a backup into a fresh folder (SQLite) or a fresh database
// (MySQL) with `resguardo restore`.
func restore(t *testing.T, b testutil.Backend, backup string) restored {
	t.Helper()
	r := restored{dataDir: filepath.Join(t.TempDir(), "restored")}
	if b.Name == "mysql" {
		r.dsn = testutil.MySQLDatabase(t)
	}
	if out, err := cmd(t, r.env(), "restore", "--in", backup); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	return r
}

// A backup taken under load (registrations, sign-ins and profile reads
// running) restores into a fresh folder or database, where doctor passes,
// the audit trail verifies and the customers sign in, given the master key,
// which the backup does not contain. The backup alone opens nothing: no
// personal value is in it in clear, none of the master key's bytes, and
// every command refuses the restored copy without the master key.
func TestBackupUnderLoadRestores(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		d := newDeployment(t, b, 4)
		masterFile := filepath.Join(d.dataDir, "master.key")
		site, stop := startServe(t, d.env(d.dataDir), []string{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0"})
		tr := startTraffic(t, []string{site.Site}, d.emails, d.signIn(t, site.Site))
		// Writes too: registrations while the copy is taken.
		var registered atomic.Int64
		var wg sync.WaitGroup
		done := make(chan struct{})
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				email := fmt.Sprintf("during%d@example.com", i)
				if c := post(t, site.Site+"/api/v1/auth/register", "", map[string]string{"email": email, "password": bindPassword, "name": "Durante"}, nil); c != 202 {
					t.Errorf("register during the backup: %d", c)
					return
				}
				registered.Add(1)
			}
		})
		// The load is running before the copy starts.
		for tr.requests.Load() < 20 || registered.Load() < 3 {
			time.Sleep(10 * time.Millisecond)
		}
		backup := filepath.Join(t.TempDir(), "backup")
		out, err := cmd(t, d.env(d.dataDir), "backup", "--out", backup)
		close(done)
		wg.Wait()
		tr.finish(t, 10)
		if err != nil {
			t.Fatalf("backup: %v\n%s", err, out)
		}
		stop()
		if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("backup file: %v %v, want mode 0600", fi, err)
		}
		if _, err := cmd(t, d.env(d.dataDir), "backup", "--out", backup); err == nil {
			t.Error("backup overwrote an existing file")
		}

		// The backup alone: no personal value in clear, no master key.
		content, err := os.ReadFile(backup) // #nosec G304 -- test file
		if err != nil {
			t.Fatal(err)
		}
		if b.Name == "mysql" {
			content = hexDecoded(t, content)
		}
		for _, email := range d.emails {
			if bytes.Contains(content, []byte(email)) {
				t.Errorf("the backup holds %s in clear", email)
			}
		}
		for _, secret := range masterKeyBytes(t, masterFile) {
			if bytes.Contains(content, secret) {
				t.Error("the backup holds the master key")
			}
		}

		r := restore(t, b, backup)
		withoutMaster := r.env()
		for _, args := range [][]string{{"audit", "verify"}, {"doctor"}, {"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0"}} {
			_, err := cmd(t, withoutMaster, args...)
			refusedForKeys(t, "the restored copy without the master key: "+strings.Join(args, " "), err)
		}
		withMaster := r.env("RESGUARDO_MASTER_KEY_FILE", masterFile)
		if out, err := cmd(t, withMaster, "doctor"); err != nil {
			t.Fatalf("doctor on the restored copy: %v\n%s", err, out)
		}
		if out, err := cmd(t, withMaster, "audit", "verify"); err != nil {
			t.Fatalf("audit verify on the restored copy: %v\n%s", err, out)
		}
		site, _ = startServe(t, withMaster, []string{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0"})
		d.signIn(t, site.Site)
		if b.Name == "mysql" {
			// The backup is plain SQL: the MariaDB client loads it too.
			viaClient(t, backup, masterFile)
		}
		if registered.Load() == 0 {
			t.Error("no registration ran during the backup: it was not taken under load")
		}
	})
}

// hexDecoded decodes the X'…' literals of a MySQL backup, so that the test
// looks at the stored bytes rather than at their hexadecimal spelling.
func hexDecoded(t *testing.T, dump []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, part := range bytes.Split(dump, []byte("X'"))[1:] {
		end := bytes.IndexByte(part, '\'')
		if end < 0 {
			t.Fatal("unterminated hex literal in the backup")
		}
		dst := make([]byte, end/2)
		if _, err := hex.Decode(dst, part[:end]); err != nil {
			t.Fatal(err)
		}
		out.Write(dst)
		out.WriteByte(0)
	}
	return out.Bytes()
}

// masterKeyBytes returns the raw key material of a master key file (the
// Tink keyset's key values), to look for in a backup.
func masterKeyBytes(t *testing.T, path string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(path) // #nosec G304 -- test file
	if err != nil {
		t.Fatal(err)
	}
	var ks struct {
		Key []struct {
			KeyData struct {
				Value string `json:"value"`
			} `json:"keyData"`
		} `json:"key"`
	}
	if err := json.Unmarshal(raw, &ks); err != nil || len(ks.Key) == 0 {
		t.Fatalf("master key file: %v", err)
	}
	var out [][]byte
	for _, k := range ks.Key {
		v, err := base64.StdEncoding.DecodeString(k.KeyData.Value)
		if err != nil {
			t.Fatal(err)
		}
		// The serialized AesGcmKey is a small protobuf; its last 32 bytes
		// are the AES key itself.
		out = append(out, v[len(v)-32:])
	}
	return out
}

// Erasure reaches backups: a customer erased after a backup was taken is
// unreadable in that backup once the KEK in use at the erasure is retired
// and the master key that sealed the backup's key set is withdrawn and
// destroyed. Before those steps the restored backup still shows the
// customer (so the test would fail without them).
func TestErasedCustomerUnreadableInRestoredBackup(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		d := newDeployment(t, b, 2)
		erased := d.emails[0]
		oldMaster := filepath.Join(d.dataDir, "master.key")
		site, stop := startServe(t, d.env(d.dataDir), []string{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0"})
		tokens := d.signIn(t, site.Site)
		backup := filepath.Join(t.TempDir(), "backup")
		if out, err := cmd(t, d.env(d.dataDir), "backup", "--out", backup); err != nil {
			t.Fatalf("backup: %v\n%s", err, out)
		}
		req, _ := http.NewRequest("DELETE", site.Site+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tokens[0])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("erase: %d", resp.StatusCode)
		}
		stop()

		// Before the KEK is retired, the backup restores with the erased
		// customer readable: this is what the steps below end.
		early := restore(t, b, backup)
		site, stop = startServe(t, early.env("RESGUARDO_MASTER_KEY_FILE", oldMaster), []string{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0"})
		(&deployment{emails: []string{erased}}).signIn(t, site.Site)
		stop()

		// The documented steps after an erasure that must reach backups.
		newMaster := filepath.Join(t.TempDir(), "master.key")
		live := d.env(d.dataDir)
		status, err := cmd(t, live, "keys", "status")
		if err != nil {
			t.Fatal(err)
		}
		oldKEK, oldID := primaryKEK.FindStringSubmatch(status), mastersLine.FindStringSubmatch(status)
		if oldKEK == nil || oldID == nil {
			t.Fatalf("keys status = %q", status)
		}
		steps := [][]string{
			{"keys", "rotate", "--kek", "--settle", "0s"},
			{"keys", "retire", "--kek", "--key-id", oldKEK[1]},
			{"keys", "rotate", "--master", "--new-master-key-file", newMaster},
		}
		for _, s := range steps {
			if out, err := cmd(t, live, s...); err != nil {
				t.Fatalf("%v: %v\n%s", s, err, out)
			}
		}
		withNew := d.env(d.dataDir, "RESGUARDO_MASTER_KEY_FILE", newMaster)
		if out, err := cmd(t, withNew, "keys", "retire", "--master", "--master-id", oldID[1]); err != nil {
			t.Fatalf("keys retire --master: %v\n%s", err, out)
		}
		if err := os.Remove(oldMaster); err != nil {
			t.Fatal(err)
		}

		// The backup, restored now: the only master key left (the new one)
		// does not open its key set…
		late := restore(t, b, backup)
		_, err = cmd(t, late.env("RESGUARDO_MASTER_KEY_FILE", newMaster), "audit", "verify")
		refusedForKeys(t, "the old backup with the new master key", err)
		// …and the current key set does not unwrap the erased customer's
		// data key kept in it.
		// The erased customer is the one the backup has and the live database
		// no longer has.
		liveIDs := queryStrings(t, testutil.RawDB(t, d.dsn, d.dataDir), `SELECT id FROM customers`)
		raw := testutil.RawDB(t, late.dsn, late.dataDir)
		var id string
		for _, c := range queryStrings(t, raw, `SELECT id FROM customers`) {
			if !slices.Contains(liveIDs, c) {
				id = c
			}
		}
		var wrapped []byte
		if err := raw.QueryRowContext(t.Context(), `SELECT data_key FROM customers WHERE id = ?`, id).Scan(&wrapped); err != nil {
			t.Fatalf("the erased customer %q in the backup: %v", id, err)
		}
		liveDB, err := sqlstore.Open(t.Context(), d.dsn, d.dataDir)
		if err != nil {
			t.Fatal(err)
		}
		defer liveDB.Close()
		m, err := vault.ReadMasterFile(newMaster)
		if err != nil {
			t.Fatal(err)
		}
		st, err := liveDB.KeyState(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		current, err := vault.OpenStored(liveDB.Keyring(), st.Instance, []vault.Master{m})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := current.DataKey(id, wrapped); err == nil {
			t.Error("the current key set unwraps the erased customer's data key kept in the backup")
		}
	})
}

// viaClient loads a MySQL backup with `mariadb DB < FILE` into a fresh
// database, where the audit trail verifies.
func viaClient(t *testing.T, backup, masterFile string) {
	t.Helper()
	client, err := exec.LookPath("mariadb")
	if err != nil {
		t.Log("no mariadb client: loading through it not tested")
		return
	}
	dsn := testutil.MySQLDatabase(t)
	cfg, err := sqlstore.MySQLConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	in, err := os.Open(backup) // #nosec G304 -- test file
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	c := exec.CommandContext(t.Context(), client, "-h", host, "-P", port, "-u", cfg.User, cfg.DBName) // #nosec G204 -- test: the test database's own coordinates
	c.Stdin = in
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("mariadb < backup: %v\n%s", err, out)
	}
	r := restored{dataDir: t.TempDir(), dsn: dsn}
	if out, err := cmd(t, r.env("RESGUARDO_MASTER_KEY_FILE", masterFile), "audit", "verify"); err != nil {
		t.Fatalf("audit verify after loading with the mariadb client: %v\n%s", err, out)
	}
}
