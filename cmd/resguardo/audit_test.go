package main

import (
	"database/sql"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
)

// audit verify exits 0 on an intact chain and names the entry an attacker
// with write access to the database changed; audit export writes one JSON
// line per entry.
func TestAuditVerifyAndExportCommands(t *testing.T) {
	env := testutil.NewEnv(t, testutil.Backends()[0], nil)
	for _, e := range []string{"a@example.com", "b@example.com"} {
		if err := env.Accounts.Register(t.Context(), account.RegisterInput{Email: e, Password: "correct horse battery staple", Name: "X"}); err != nil {
			t.Fatal(err)
		}
	}
	args := func(a ...string) []string { return append(a, "--data-dir", env.DataDir) }
	getenv := func(string) string { return "" }
	var out strings.Builder
	// Nothing has chained the two entries yet (no server ran): verify
	// checks each by its own MAC and says they wait for the sequencer.
	if err := run(t.Context(), args("audit", "verify"), getenv, nil, &out, io.Discard); err != nil {
		t.Fatalf("verify of pending entries: %v\n%s", err, out.String())
	}
	if !strings.HasPrefix(out.String(), "The audit trail is intact: 2 entries, 0 chained from 1 to 0, and 2 not chained yet (each authentic; oldest from ") {
		t.Errorf("verify of pending entries said %q", out.String())
	}
	if _, _, err := env.Audit.Sequence(t.Context()); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(t.Context(), args("audit", "verify"), getenv, nil, &out, io.Discard); err != nil {
		t.Fatalf("verify on an intact chain: %v\n%s", err, out.String())
	}
	if out.String() != "The audit trail is intact: 2 entries, from 1 to 2, each chained to the one before.\n" {
		t.Errorf("verify said %q", out.String())
	}
	out.Reset()
	if err := run(t.Context(), args("audit", "verify", "--json"), getenv, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Entries  int   `json:"entries"`
		LastSeq  int   `json:"last_seq"`
		Problems []any `json:"problems"`
	}
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil || rep.Entries != 2 || rep.LastSeq != 2 || len(rep.Problems) != 0 {
		t.Errorf("verify --json = %q (%v)", out.String(), err)
	}
	out.Reset()
	if err := run(t.Context(), args("audit", "export"), getenv, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var first map[string]any
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &first) != nil || first["action"] != "account.sign_up" {
		t.Fatalf("export = %q", out.String())
	}

	raw, err := sql.Open("sqlite", filepath.Join(env.DataDir, sqlstore.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(t.Context(), `UPDATE audit_log SET outcome = 'failure' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = run(t.Context(), args("audit", "verify"), getenv, nil, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "entry 2") {
		t.Fatalf("verify after tampering = %v, want an error naming entry 2", err)
	}
	if !strings.HasPrefix(out.String(), "The audit trail does NOT verify: 1 problem(s) in 2 entries checked.\n  entry 2 (chain place 2): ") || !strings.Contains(out.String(), "altered") {
		t.Errorf("verify after tampering said %q", out.String())
	}
	if err := run(t.Context(), args("audit", "verify", "--from-checkpoint", "nonsense"), getenv, nil, io.Discard, io.Discard); err == nil {
		t.Error("a malformed checkpoint was accepted")
	}
}
