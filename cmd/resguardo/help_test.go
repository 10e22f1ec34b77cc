package main

import (
	"strings"
	"testing"
)

// TestCommandHelpShowsOwnFlags: each command's -h lists its own flags and
// the common ones, and none of another command's; -h is not an error.
func TestCommandHelpShowsOwnFlags(t *testing.T) {
	cases := []struct {
		cmd        []string
		has, lacks []string
	}{
		{[]string{"serve"}, []string{"-addr", "-staff-addr", "-metrics-addr", "-demo", "-data-dir"}, []string{"-batch-size", "-email", "-out", "-from-checkpoint", "-key-id"}},
		{[]string{"migrate"}, []string{"-data-dir", "-database"}, []string{"-addr", "-batch-size", "-email", "-demo"}},
		{[]string{"backup"}, []string{"-out", "-data-dir"}, []string{"-in", "-addr", "-kek"}},
		{[]string{"restore"}, []string{"-in"}, []string{"-out", "-addr"}},
		{[]string{"doctor"}, []string{"-json", "-addr", "-tls-cert"}, []string{"-demo", "-batch-size"}},
		{[]string{"staff", "create"}, []string{"-email", "-role"}, []string{"-batch-size", "-demo", "-smtp-url"}},
		{[]string{"staff", "list"}, []string{"-data-dir"}, []string{"-email", "-role", "-addr"}},
		{[]string{"staff", "disable"}, []string{"-email"}, []string{"-role", "-addr"}},
		{[]string{"keys", "init"}, []string{"-master-key-file"}, []string{"-kek", "-addr"}},
		{[]string{"keys", "status"}, []string{"-json"}, []string{"-kek", "-addr"}},
		{[]string{"keys", "rotate"}, []string{"-kek", "-index", "-pepper", "-batch-size", "-settle", "-new-master-key-file"}, []string{"-key-id", "-addr", "-email"}},
		{[]string{"keys", "retire"}, []string{"-kek", "-key-id", "-master-id"}, []string{"-batch-size", "-addr"}},
		{[]string{"audit", "verify"}, []string{"-from-checkpoint", "-json"}, []string{"-addr", "-kek"}},
		{[]string{"audit", "export"}, []string{"-data-dir"}, []string{"-json", "-addr"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.cmd, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			if err := run(t.Context(), append(c.cmd, "-h"), func(string) string { return "" }, nil, &stdout, &stderr); err != nil {
				t.Fatalf("-h = %v", err)
			}
			help := stderr.String()
			for _, f := range c.has {
				if !strings.Contains(help, "  "+f+" ") && !strings.Contains(help, "  "+f+"\n") {
					t.Errorf("-h lacks %s:\n%s", f, help)
				}
			}
			for _, f := range c.lacks {
				if strings.Contains(help, "  "+f+" ") || strings.Contains(help, "  "+f+"\n") {
					t.Errorf("-h lists another command's %s", f)
				}
			}
		})
	}
	// A flag of another command is refused, not ignored.
	err := run(t.Context(), []string{"migrate", "--batch-size", "10"}, func(string) string { return "" }, nil, &strings.Builder{}, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -batch-size") {
		t.Errorf("migrate --batch-size = %v", err)
	}
}
