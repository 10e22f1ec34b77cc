package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/testutil"
)

// TestServeSmoke runs the program as the binary would, through run, on
// every backend: it must come up, answer on both listeners and stop cleanly
// when its context ends.
func TestServeSmoke(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		dataDir := filepath.Join(t.TempDir(), "data")
		environ := map[string]string{"RESGUARDO_DATA_DIR": dataDir}
		args := []string{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0"}
		if b.Name == "mysql" {
			environ["RESGUARDO_DATABASE"] = testutil.MySQLDatabase(t)
			args = append(args, "--migrate")
			keysInit(t, dataDir, environ["RESGUARDO_DATABASE"])
		}
		ready, stop := startServe(t, environ, args)
		for _, u := range []string{ready.Site + "/readyz", ready.Staff + "/readyz", ready.Site + "/", ready.Staff + "/login"} {
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("GET %s = %d", u, resp.StatusCode)
			}
		}
		if fi, err := os.Stat(dataDir); err != nil {
			t.Errorf("data dir: %v", err)
		} else if fi.Mode().Perm() != 0o700 {
			t.Errorf("data dir mode %v, want 0700", fi.Mode().Perm())
		}

		stop()
	})
}

// listeners are the addresses a started server announced.
type listeners struct{ Site, Staff, Metrics string }

// startServe runs `resguardo serve` through run until the test ends or stop
// is called, and returns the listeners from its "ready" log line. stop
// checks that the server shuts down cleanly.
func startServe(t *testing.T, environ map[string]string, args []string) (listeners, func()) {
	t.Helper()
	return startServeWith(t, environ, args, io.Discard, io.Discard)
}

// startServeOut is startServe with the program's standard output.
func startServeOut(t *testing.T, environ map[string]string, args []string, stdout io.Writer) (listeners, func()) {
	t.Helper()
	return startServeWith(t, environ, args, stdout, io.Discard)
}

// startServeLog is startServe, with the server's log lines after "ready"
// copied to logTo.
func startServeLog(t *testing.T, environ map[string]string, args []string, logTo io.Writer) (listeners, func()) {
	t.Helper()
	return startServeWith(t, environ, args, io.Discard, logTo)
}

// startServeWith is startServe with the program's standard output and
// its log lines after "ready".
func startServeWith(t *testing.T, environ map[string]string, args []string, stdout, logTo io.Writer) (listeners, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	logR, logW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, func(k string) string { return environ[k] }, nil, stdout, logW)
		_ = logW.Close()
	}()
	var ready listeners
	lines := bufio.NewScanner(logR)
	deadline := time.AfterFunc(30*time.Second, func() { _ = logR.CloseWithError(io.ErrUnexpectedEOF) })
	for ready.Site == "" && lines.Scan() {
		var m map[string]any
		if json.Unmarshal(lines.Bytes(), &m) == nil && m["msg"] == "ready" {
			ready.Site, _ = m["site"].(string)
			ready.Staff, _ = m["staff"].(string)
			ready.Metrics, _ = m["metrics"].(string)
		}
	}
	deadline.Stop()
	go func() { _, _ = io.Copy(logTo, logR) }()
	if ready.Site == "" {
		cancel()
		t.Fatalf("no ready line; run returned %v", <-done)
	}
	stopped := false
	stop := func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run after shutdown = %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("no graceful shutdown within 15 s")
		}
	}
	t.Cleanup(stop)
	return ready, stop
}

func TestServeRefusesPlainHTTPOnPublicAddress(t *testing.T) {
	dir := t.TempDir()
	err := run(t.Context(), []string{"serve", "--addr", "0.0.0.0:8080", "--data-dir", dir}, func(string) string { return "" }, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "plain HTTP is allowed only on loopback") {
		t.Fatalf("run = %v, want a refusal naming plain HTTP off loopback", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused start wrote files: %v", entries)
	}
}

func TestServeRefusesUnmigratedMySQL(t *testing.T) {
	dsn := testutil.MySQLDatabase(t)
	err := run(t.Context(), []string{"serve", "--data-dir", t.TempDir()}, func(k string) string {
		return map[string]string{"RESGUARDO_DATABASE": dsn}[k]
	}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "resguardo migrate") {
		t.Fatalf("run = %v, want a refusal telling to migrate", err)
	}
}

func TestMigrateAndVersion(t *testing.T) {
	var out strings.Builder
	dir := t.TempDir()
	if err := run(t.Context(), []string{"migrate", "--data-dir", dir}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`applied [1-9][0-9]* migration\(s\)`).MatchString(out.String()) {
		t.Errorf("migrate printed %q", out.String())
	}
	out.Reset()
	if err := run(t.Context(), []string{"version"}, func(string) string { return "" }, nil, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "resguardo ") {
		t.Errorf("version = %q, %v", out.String(), err)
	}
	if err := run(t.Context(), []string{"frobnicate"}, func(string) string { return "" }, nil, io.Discard, io.Discard); err == nil {
		t.Error("unknown command accepted")
	}
}

// keysInit runs `resguardo keys init` for a MySQL deployment, which writes
// the master key to <dataDir>/master.key (where serve then finds it).
func keysInit(t *testing.T, dataDir, dsn string) {
	t.Helper()
	var out strings.Builder
	if err := run(t.Context(), []string{"keys", "init", "--data-dir", dataDir, "--database", dsn}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
		t.Fatalf("keys init: %v\n%s", err, out.String())
	}
}
