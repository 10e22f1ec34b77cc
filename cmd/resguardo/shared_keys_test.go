package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/testutil"
)

// traffic signs customers in and reads their profiles on every site until
// stop is closed, and counts the requests and the failures.
type traffic struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	requests atomic.Int64
	failures atomic.Int64
	first    sync.Once
}

func startTraffic(t *testing.T, sites []string, emails, tokens []string) *traffic {
	tr := &traffic{stop: make(chan struct{})}
	for s, site := range sites {
		tr.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-tr.stop:
					return
				default:
				}
				code, err := getStatus(site+"/api/v1/me", tokens[i%len(tokens)])
				if i%8 == 0 {
					code = post(t, site+"/api/v1/auth/login", "", map[string]string{"email": emails[i%len(emails)], "password": bindPassword}, nil)
				}
				tr.requests.Add(1)
				if err != nil || code != 200 {
					tr.failures.Add(1)
					tr.first.Do(func() { t.Errorf("server %d, request %d: %d %v", s, i, code, err) })
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	return tr
}

func (tr *traffic) finish(t *testing.T, min int64) {
	t.Helper()
	close(tr.stop)
	tr.wg.Wait()
	if tr.requests.Load() < min || tr.failures.Load() > 0 {
		t.Fatalf("%d requests, %d failed", tr.requests.Load(), tr.failures.Load())
	}
}

var primaryKEK = regexp.MustCompile(`kek: (\d+) \(primary\)`)

// One key set for a whole deployment: two servers on one MariaDB database,
// each started from its own folder with nothing copied but the master key
// (one from a file, one from RESGUARDO_MASTER_KEY), share the key set kept
// in the database. A `keys rotate --kek` run by a third process, from a
// third folder, reaches both: profile reads and sign-ins on both never fail
// during it, both read every profile after the old KEK is retired (the data
// keys are then wrapped only under the new KEK), and a customer registered
// on one server after the rotation is read on the other.
func TestTwoServersShareTheKeySet(t *testing.T) {
	dsn := testutil.MySQLDatabase(t)
	masterFile := filepath.Join(t.TempDir(), "master.key")
	d := &deployment{dsn: dsn}
	if out, err := cmd(t, d.env(t.TempDir(), "RESGUARDO_MASTER_KEY_FILE", masterFile), "keys", "init"); err != nil {
		t.Fatalf("keys init: %v\n%s", err, out)
	}
	master, err := os.ReadFile(masterFile)
	if err != nil {
		t.Fatal(err)
	}
	dirs := []string{filepath.Join(t.TempDir(), "one"), filepath.Join(t.TempDir(), "two"), filepath.Join(t.TempDir(), "three")}
	envs := []map[string]string{
		d.env(dirs[0], "RESGUARDO_MASTER_KEY_FILE", masterFile),
		d.env(dirs[1], "RESGUARDO_MASTER_KEY", string(master)),
		d.env(dirs[2], "RESGUARDO_MASTER_KEY_FILE", masterFile),
	}
	serveArgs := []string{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0"}
	one, _ := startServe(t, envs[0], serveArgs)
	two, _ := startServe(t, envs[1], serveArgs)
	for i := range 6 {
		email := fmt.Sprintf("shared%d@example.com", i)
		site := []string{one.Site, two.Site}[i%2]
		if c := post(t, site+"/api/v1/auth/register", "", map[string]string{"email": email, "password": bindPassword, "name": "Cliente"}, nil); c != 202 {
			t.Fatalf("register: %d", c)
		}
		d.emails = append(d.emails, email)
	}
	tokens := d.signIn(t, one.Site)
	d.signIn(t, two.Site)

	tr := startTraffic(t, []string{one.Site, two.Site}, d.emails, tokens)
	status, err := cmd(t, envs[2], "keys", "status")
	if err != nil {
		t.Fatal(err)
	}
	oldKEK := primaryKEK.FindStringSubmatch(status)
	if oldKEK == nil {
		t.Fatalf("keys status = %q", status)
	}
	if out, err := cmd(t, envs[2], "keys", "rotate", "--kek", "--batch-size", "2", "--settle", "2500ms"); err != nil {
		t.Fatalf("keys rotate --kek: %v\n%s", err, out)
	}
	tr.finish(t, 40)

	status, err = cmd(t, envs[2], "keys", "status")
	if err != nil || !strings.Contains(status, "kek: "+oldKEK[1]+" [0 in use]") {
		t.Fatalf("after the rotation: %q %v", status, err)
	}
	if out, err := cmd(t, envs[2], "keys", "retire", "--kek", "--key-id", oldKEK[1]); err != nil {
		t.Fatalf("keys retire: %v\n%s", err, out)
	}
	// Every data key is now wrapped only under the new KEK: each server
	// reads every profile (fresh tokens, so nothing is served from before).
	d.signIn(t, one.Site)
	d.signIn(t, two.Site)
	late := &deployment{emails: []string{"late@example.com"}}
	if c := post(t, two.Site+"/api/v1/auth/register", "", map[string]string{"email": late.emails[0], "password": bindPassword, "name": "Cliente"}, nil); c != 202 {
		t.Fatalf("register after the rotation: %d", c)
	}
	late.signIn(t, one.Site)

	for _, dir := range dirs {
		for _, name := range []string{"keyset.json", "master.key"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				t.Errorf("%s holds %s: no key file should be written beside a MySQL server", dir, name)
			}
		}
	}
}

var mastersLine = regexp.MustCompile(`sealed under master key\(s\) (\S+)\n`)

// Master-key rotation, online: while a server that holds only the old
// master key serves, the key set is sealed under a new master key too; a
// KEK rotation run with the new master key alone reaches that server; the
// old master key is then withdrawn, after which it opens nothing (every
// command refuses with exit status 3) and the new one opens everything.
func TestMasterKeyRotation(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		d := newDeployment(t, b, 3)
		newMaster := filepath.Join(t.TempDir(), "new", "master.key")
		withOld := d.env(d.dataDir)
		elsewhere := d.dataDir // the embedded database lives in its data directory
		if b.Name == "mysql" {
			elsewhere = t.TempDir()
		}
		withNew := d.env(elsewhere, "RESGUARDO_MASTER_KEY_FILE", newMaster)

		status, err := cmd(t, withOld, "keys", "status")
		if err != nil {
			t.Fatal(err)
		}
		oldID := mastersLine.FindStringSubmatch(status)
		if oldID == nil {
			t.Fatalf("keys status = %q", status)
		}
		serveArgs := []string{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0"}
		site, stop := startServe(t, withOld, serveArgs)
		tr := startTraffic(t, []string{site.Site}, d.emails, d.signIn(t, site.Site))
		if out, err := cmd(t, withOld, "keys", "rotate", "--master", "--new-master-key-file", newMaster); err != nil {
			t.Fatalf("keys rotate --master: %v\n%s", err, out)
		}
		status, err = cmd(t, withNew, "keys", "status")
		if m := mastersLine.FindStringSubmatch(status); err != nil || m == nil || !strings.Contains(m[1], oldID[1]+",") {
			t.Fatalf("keys status with the new master key = %q, %v; want both master keys named", status, err)
		}
		if out, err := cmd(t, withNew, "keys", "rotate", "--kek", "--settle", "2500ms"); err != nil {
			t.Fatalf("keys rotate --kek with the new master key: %v\n%s", err, out)
		}
		tr.finish(t, 20)
		d.signIn(t, site.Site) // the server with the old master key follows the rotation
		stop()

		if out, err := cmd(t, withOld, "keys", "retire", "--master", "--master-id", oldID[1]); err == nil {
			t.Errorf("a process holding only the old master key withdrew it, though it cannot seal the key set under the new one: %s", out)
		}
		if out, err := cmd(t, withNew, "keys", "retire", "--master", "--master-id", oldID[1]); err != nil {
			t.Fatalf("keys retire --master: %v\n%s", err, out)
		}
		for _, args := range [][]string{serveArgs, {"audit", "verify"}, {"keys", "status"}} {
			_, err := cmd(t, withOld, args...)
			refusedForKeys(t, "with the withdrawn master key: "+strings.Join(args, " "), err)
		}
		if out, err := cmd(t, withNew, "audit", "verify"); err != nil {
			t.Fatalf("audit verify with the new master key: %v\n%s", err, out)
		}
		site, _ = startServe(t, withNew, serveArgs)
		d.signIn(t, site.Site)
	})
}
