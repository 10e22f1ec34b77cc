package main

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// staff create prints exactly one line, the single-use enrolment link on
// the staff listener, and never a password; list shows the member as not
// enrolled; disable disables them; a second member with the same address
// and an unknown role are refused.
func TestStaffCommands(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	cli := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(t.Context(), append(args, "--data-dir", dataDir), func(string) string { return "" }, nil, &out, io.Discard)
		return out.String(), err
	}
	out, err := cli("staff", "create", "--email", "Ana@Corp.example", "--role", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "http://127.0.0.1:8081/enrol?token=") {
		t.Fatalf("staff create printed %q", out)
	}
	if _, err := cli("staff", "create", "--email", "ana@corp.example", "--role", "agent"); err == nil {
		t.Error("a second staff member with the same address")
	}
	if _, err := cli("staff", "create", "--email", "bob@corp.example", "--role", "superuser"); err == nil {
		t.Error("an unknown role was accepted")
	}
	out, err = cli("staff", "list")
	if err != nil || !strings.Contains(out, "ana@corp.example\tadmin\tnot enrolled") {
		t.Fatalf("staff list = %q, %v", out, err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || lines[0] != "ID\tE-MAIL\tROLE\tSTATE" {
		t.Errorf("staff list wants a header row and one member, got %q", out)
	}
	if _, err := cli("staff", "disable", "--email", "ana@corp.example"); err != nil {
		t.Fatal(err)
	}
	if out, _ := cli("staff", "list"); !strings.Contains(out, "ana@corp.example\tadmin\tdisabled") {
		t.Errorf("after disable: %q", out)
	}
}
