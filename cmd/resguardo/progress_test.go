package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resguardo/resguardo/internal/app"
	"github.com/resguardo/resguardo/internal/config"
	"github.com/resguardo/resguardo/internal/testutil"
)

// TestLongCommandsShowProgressOnATerminalOnly: keys rotate, audit verify
// and backup draw a progress line (count, of total, rate) where main
// finds a terminal, and through run with stderr not a terminal (a script)
// they draw none.
func TestLongCommandsShowProgressOnATerminalOnly(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		env := testutil.NewEnv(t, b, nil)
		testutil.SeedCustomers(t, env, 60)
		base := []string{"--data-dir", env.DataDir}
		environ := func(k string) string {
			if k == "RESGUARDO_DATABASE" {
				return env.DSN
			}
			return ""
		}
		load := func(cmd string, args ...string) config.Config {
			cfg, err := config.Load(cmd, append(args, base...), environ, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			return cfg
		}
		log := slog.New(slog.NewJSONHandler(io.Discard, nil))
		for _, c := range []struct {
			name  string
			do    func(context.Context, config.Config, *slog.Logger, io.Writer) error
			cfg   config.Config
			final string
		}{
			{"keys rotate", app.KeysRotate, load("keys rotate", "--kek", "--settle", "0s", "--batch-size", "10"), "rotating kek: 60 of 60 customers (100%)"},
			{"audit verify", app.AuditVerify, load("audit verify"), "verifying the audit trail: "},
			{"backup", app.Backup, load("backup", "--out", filepath.Join(t.TempDir(), "copy")), "backing up: "},
		} {
			var term, out strings.Builder
			c.cfg.Progress = &term // what main sets when stderr is a terminal
			if err := c.do(t.Context(), c.cfg, log, &out); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !strings.Contains(term.String(), "\r") || !strings.Contains(term.String(), c.final) || !strings.HasSuffix(term.String(), "\n") {
				t.Errorf("%s drew %q, want a line with %q", c.name, term.String(), c.final)
			}
		}

		// Through run, with stderr a buffer as in a script: no progress.
		var stderr strings.Builder
		for _, args := range [][]string{{"keys", "rotate", "--index", "--settle", "0s"}, {"audit", "verify"}, {"backup", "--out", filepath.Join(t.TempDir(), "copy2")}} {
			if err := run(t.Context(), append(args, base...), environ, nil, io.Discard, &stderr); err != nil {
				t.Fatalf("%v: %v", args, err)
			}
		}
		if strings.Contains(stderr.String(), "\r") || strings.Contains(stderr.String(), " left") {
			t.Errorf("progress drawn in a script:\n%s", stderr.String())
		}
	})
}
