package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resguardo/resguardo"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("mysql://app:hunter2@db/x")
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "db", s, "cfg", Config{Database: s})
	js, _ := json.Marshal(struct{ S Secret }{s})
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", s), "%s": fmt.Sprintf("%s", s), "%q": fmt.Sprintf("%q", s),
		"%#v": fmt.Sprintf("%#v", s), "%+v of struct": fmt.Sprintf("%+v", Config{Database: s}),
		"json": string(js), "slog": logged.String(),
	} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s prints the secret: %s", name, out)
		}
	}
	if s.Reveal() != "mysql://app:hunter2@db/x" {
		t.Error("Reveal lost the value")
	}
}

func TestLoadPrecedenceAndFiles(t *testing.T) {
	dbFile := filepath.Join(t.TempDir(), "db-url")
	if err := os.WriteFile(dbFile, []byte("mysql://app:pw@127.0.0.1/app\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		addr      string
		database  string
		fromFlag  bool
		wantError string
	}{
		{"defaults", nil, nil, "127.0.0.1:8080", "", false, ""},
		{"environment", nil, map[string]string{"RESGUARDO_ADDR": "127.0.0.1:9000", "RESGUARDO_DATABASE": "mysql://a@127.0.0.1/b"}, "127.0.0.1:9000", "mysql://a@127.0.0.1/b", false, ""},
		{"flag beats environment", []string{"--addr", "127.0.0.1:9100"}, map[string]string{"RESGUARDO_ADDR": "127.0.0.1:9000"}, "127.0.0.1:9100", "", false, ""},
		{"database from file", []string{"--database-file", dbFile}, nil, "127.0.0.1:8080", "mysql://app:pw@127.0.0.1/app", false, ""},
		{"database file from environment", nil, map[string]string{"RESGUARDO_DATABASE_FILE": dbFile}, "127.0.0.1:8080", "mysql://app:pw@127.0.0.1/app", false, ""},
		{"database flag", []string{"--database", "mysql://a@127.0.0.1/b"}, nil, "127.0.0.1:8080", "mysql://a@127.0.0.1/b", true, ""},
		{"missing file", []string{"--database-file", "/nonexistent/x"}, nil, "", "", false, "--database-file"},
		{"bad proxy and level together", []string{"--trusted-proxies", "10.0.0.0/8,nope", "--log-level", "loud"}, nil, "", "", false, "--trusted-proxies"},
		{"stray argument", []string{"extra"}, nil, "", "", false, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("serve", tt.args, env(tt.env), io.Discard)
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.wantError)
				}
				if strings.Contains(tt.name, "together") && !strings.Contains(err.Error(), "--log-level") {
					t.Errorf("not every problem reported at once: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Addr != tt.addr || c.Database.Reveal() != tt.database || c.DatabaseFromFlag != tt.fromFlag {
				t.Errorf("got addr %q database %q fromFlag %v", c.Addr, c.Database.Reveal(), c.DatabaseFromFlag)
			}
		})
	}
}

func TestValidateRefusesPlainHTTPOffLoopback(t *testing.T) {
	load := func(args ...string) Config {
		c, err := Load("serve", args, env(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings; empty means valid
	}{
		{"loopback default", load(), nil},
		{"IPv6 loopback", load("--addr", "[::1]:8080"), nil},
		{"all interfaces without TLS", load("--addr", "0.0.0.0:8080"), []string{"--addr 0.0.0.0:8080 is not a loopback address"}},
		{"empty host without TLS", load("--staff-addr", ":8081"), []string{"--staff-addr :8081"}},
		{"both public, both reported", load("--addr", "0.0.0.0:8080", "--staff-addr", "192.0.2.1:8081"), []string{"--addr", "--staff-addr"}},
		{"public with TLS", load("--addr", "0.0.0.0:8443", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--public-url", "https://cuenta.example.com"), nil},
		{"public behind trusted proxy", load("--addr", "0.0.0.0:8080", "--trusted-proxies", "10.0.0.0/8", "--public-url", "https://cuenta.example.com"), nil},
		{"public without public URL", load("--addr", "0.0.0.0:8443", "--tls-cert", "c.pem", "--tls-key", "k.pem"), []string{"--public-url is required"}},
		{"public URL with a path", load("--public-url", "https://x.example/app"), []string{"must be an origin"}},
		{"idle longer than absolute", load("--session-idle", "13h"), []string{"--session-idle"}},
		{"app sign-in shorter than an access token", load("--app-signin-absolute", "10m"), []string{"--app-signin-absolute"}},
		{"cert without key", load("--tls-cert", "c.pem"), []string{"--tls-cert and --tls-key go together"}},
		{"same address twice", load("--addr", "127.0.0.1:8080", "--staff-addr", "127.0.0.1:8080"), []string{"must differ"}},
		{"password on command line in production", load("--addr", "0.0.0.0:8443", "--tls-cert", "c", "--tls-key", "k", "--public-url", "https://x.example", "--database", "mysql://u:pw@db.example/x?tls=true"), []string{"password on the command line"}},
		{"password on command line in development is allowed", load("--database", "mysql://u:pw@127.0.0.1/x"), nil},
		{"no mail budget", load("--mail-per-minute", "0"), []string{"--mail-per-minute must be at least 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

// The global mail budget defaults to the one in limits.go and comes from the
// flag or the environment, the flag winning.
func TestMailPerMinute(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want int
	}{
		{nil, nil, resguardo.DefaultMailPerMinute},
		{nil, map[string]string{"RESGUARDO_MAIL_PER_MINUTE": "30"}, 30},
		{[]string{"--mail-per-minute", "600"}, map[string]string{"RESGUARDO_MAIL_PER_MINUTE": "30"}, 600},
	} {
		c, err := Load("serve", tt.args, env(tt.env), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.MailPerMinute != tt.want {
			t.Errorf("args %v env %v: MailPerMinute %d, want %d", tt.args, tt.env, c.MailPerMinute, tt.want)
		}
	}
}

// The app sign-in lifetime defaults to 90 days and is set by flag or
// environment, the flag winning.
func TestAppSigninAbsolute(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want time.Duration
	}{
		{"default", nil, nil, 90 * 24 * time.Hour},
		{"environment", nil, map[string]string{"RESGUARDO_APP_SIGNIN_ABSOLUTE": "720h"}, 720 * time.Hour},
		{"flag beats environment", []string{"--app-signin-absolute", "48h"}, map[string]string{"RESGUARDO_APP_SIGNIN_ABSOLUTE": "720h"}, 48 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("serve", tt.args, env(tt.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.AppSigninAbsolute != tt.want {
				t.Errorf("AppSigninAbsolute = %v, want %v", c.AppSigninAbsolute, tt.want)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}

// --acme-domain takes a repeated flag or a comma list (the flag replaces
// the variable), counts as TLS for the listeners and the public links, and
// is refused with certificate files, for names no CA can prove by
// TLS-ALPN-01 or HTTP-01, and for a non-https directory.
func TestACMEFlags(t *testing.T) {
	base := []string{"--addr", "0.0.0.0:443", "--staff-addr", "0.0.0.0:8443", "--public-url", "https://cuenta.example.com"}
	c, err := Load("serve", append(base, "--acme-domain", "cuenta.example.com,staff.example.com", "--acme-domain", "x.example.com"),
		env(map[string]string{"RESGUARDO_ACME_DOMAIN": "from-env.example.com"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.ACMEDomains, " "); got != "cuenta.example.com staff.example.com x.example.com" {
		t.Errorf("domains %q", got)
	}
	if !c.TLS() || c.ACMEDirectory != LetsEncryptDirectory || c.StaffSiteURL() != "https://0.0.0.0:8443" {
		t.Errorf("TLS %v, directory %q, staff URL %q", c.TLS(), c.ACMEDirectory, c.StaffSiteURL())
	}
	if err := c.Validate(); err != nil {
		t.Errorf("valid ACME configuration refused: %v", err)
	}
	c, err = Load("serve", base, env(map[string]string{"RESGUARDO_ACME_DOMAIN": "a.example.com, b.example.com"}), io.Discard)
	if err != nil || strings.Join(c.ACMEDomains, " ") != "a.example.com b.example.com" {
		t.Errorf("from the variable: %q, %v", c.ACMEDomains, err)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"with certificate files", []string{"--acme-domain", "a.example.com", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, "exclude each other"},
		{"IP address", []string{"--acme-domain", "192.0.2.1"}, "not a host name"},
		{"wildcard", []string{"--acme-domain", "*.example.com"}, "not a host name"},
		{"single label", []string{"--acme-domain", "localhost"}, "not a host name"},
		{"plain HTTP directory", []string{"--acme-domain", "a.example.com", "--acme-directory", "http://ca.example.com/dir"}, "must be an https URL"},
		{"HTTP-01 listener without ACME", []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--acme-http-addr", ":80"}, "needs --acme-domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load("serve", append(append([]string{}, base...), tc.args...), env(nil), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestOwnFlagsExist: every flag a command is said to take is one Load
// defines, so that no command loses a flag to a typo in the table.
func TestOwnFlagsExist(t *testing.T) {
	var help bytes.Buffer
	if _, err := Load("no such command", []string{"-h"}, func(string) string { return "" }, &help); err == nil {
		t.Fatal("-h did not stop Load")
	}
	for cmd, flags := range ownFlags {
		for _, f := range append(slices.Clone(commonFlags), flags...) {
			if !strings.Contains(help.String(), "  -"+f+" ") && !strings.Contains(help.String(), "  -"+f+"\n") {
				t.Errorf("%s: flag -%s is not defined", cmd, f)
			}
		}
	}
}
