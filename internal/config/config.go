// Package config turns flags and RESGUARDO_* environment variables into a
// validated Config. It is called once, from run; nothing reads the environment
// anywhere else.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/resguardo/resguardo"
)

// Secret holds a value that must never be printed: String, MarshalJSON and
// LogValue all say [redacted]. Use Reveal where the value is really needed.
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string                { return redacted }
func (s Secret) GoString() string              { return redacted }
func (s Secret) MarshalJSON() ([]byte, error)  { return []byte(`"` + redacted + `"`), nil }
func (s Secret) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (s Secret) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, redacted) }

// Reveal returns the secret value. Call it only where the value is handed to
// the component that needs it (a driver, a key derivation), never to a log.
func (s Secret) Reveal() string { return string(s) }

// Config is everything a subcommand may need. Zero values are never used:
// Load fills defaults.
type Config struct {
	Addr      string // customer site listener
	StaffAddr string // staff console listener
	// MetricsAddr is the Prometheus listener, loopback only; empty for none.
	MetricsAddr string
	DataDir     string
	// Database is a mysql:// URL or empty for the embedded SQLite file in
	// DataDir. It may carry a password, hence Secret.
	Database Secret
	// DatabaseFromFlag records that the URL came from the command line, where
	// other local users can read it from the process table.
	DatabaseFromFlag bool

	TLSCert string
	TLSKey  string
	// ACMEDomains are the names to get certificates for from an ACME CA
	// (instead of TLSCert and TLSKey); the certificates are cached in
	// <data-dir>/acme and renewed by the server itself.
	ACMEDomains []string
	// ACMEDirectory is the CA's directory URL (Let's Encrypt by default).
	ACMEDirectory string
	// ACMEEmail is the contact address given to the CA (optional).
	ACMEEmail string
	// ACMECABundle names a PEM file of extra roots trusted for the CA's own
	// HTTPS endpoint (a private or test CA).
	ACMECABundle string
	// ACMEHTTPAddr, when set, is a plain-HTTP listener (normally :80) that
	// answers HTTP-01 challenges and redirects everything else to HTTPS.
	ACMEHTTPAddr string
	// TrustedProxies lists the networks of a TLS-terminating reverse proxy.
	// When set, a non-loopback listener may speak plain HTTP to that proxy.
	TrustedProxies []netip.Prefix

	// PublicURL is the customer site's origin as clients see it, for links
	// in mail; on loopback it defaults to the listener's.
	PublicURL string
	// StaffURL is the staff console's origin as staff see it, for
	// enrolment links; on loopback it defaults to the staff listener's.
	StaffURL string
	MailDir  string // development mail: one .eml per message
	SMTPURL  Secret // production mail relay; may hold a password
	MailFrom string

	SessionIdle     time.Duration
	SessionAbsolute time.Duration
	// AppSigninAbsolute ends an app sign-in (its refresh tokens) this long
	// after the password was given, however often it is refreshed.
	AppSigninAbsolute time.Duration
	// HashConcurrency bounds password hashes running at once, so that a
	// sign-in flood queues instead of exhausting memory.
	HashConcurrency int

	// FromCheckpoint is a checkpoint kept outside the database ("SEQ:MAC"
	// from the log stream) for audit verify.
	FromCheckpoint string

	// Email and Role name a staff member (staff create, staff disable).
	Email, Role string
	// RevealsPerHour limits how many personal values one staff member may
	// reveal in an hour.
	RevealsPerHour int
	// StaffPasskeysRequired makes agents and leads use a passkey as their
	// second factor (TOTP refused for them).
	StaffPasskeysRequired bool
	// MailPerMinute is the global mail budget: messages per minute for the
	// whole deployment; mail past it waits in the outbox.
	MailPerMinute int

	// JSON asks a report command (doctor, keys status) for JSON output.
	JSON bool
	// Keys to rotate (keys rotate) or retire (keys retire): exactly one.
	KEK, Index, Pepper bool
	// Master names the master key (keys rotate --master, keys retire --master).
	Master bool
	// KeyID names the key version to retire (keys retire).
	KeyID uint
	// BatchSize is how many records one re-wrap or re-index transaction
	// covers (keys rotate).
	BatchSize int
	// Settle is how long keys rotate waits after adding a key before using
	// it, so running servers (which re-read the key set every 2 s)
	// have it.
	Settle time.Duration

	// The deployment's master key, which opens the key set kept in the
	// database: a file (MasterKeyFile), the key itself in RESGUARDO_MASTER_KEY
	// (MasterKey), a systemd credential named resguardo-master-key in
	// CredentialsDir ($CREDENTIALS_DIRECTORY), or a KMS URI (MasterKeyURI).
	// With none, <data-dir>/master.key is used if it exists.
	MasterKeyFile  string
	MasterKeyURI   string
	MasterKey      Secret
	CredentialsDir string
	// NewMasterKeyFile and NewMasterKeyURI name the master key to add
	// (keys master add); MasterID the one to withdraw (keys master remove).
	NewMasterKeyFile string
	NewMasterKeyURI  string
	MasterID         string
	// Out is where backup writes the copy of the database; In is the backup
	// restore reads.
	Out, In string

	// Progress is where long commands (keys rotate, audit verify, backup)
	// draw their progress: the terminal, or nil in scripts (set by main).
	Progress io.Writer

	Migrate bool // run migrations at start (serve)
	// Demo fills an empty database with demo accounts and prints their
	// sign-ins (serve --demo); loopback listeners only.
	Demo     bool
	LogLevel slog.Level

	ShutdownTimeout time.Duration
}

// Load parses args (the subcommand's own arguments) with getenv as the
// environment. Every flag has a RESGUARDO_* variable; a flag given on the
// command line wins over the variable. Secrets may also come from files named
// by --X-file or RESGUARDO_X_FILE.
func Load(name string, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("resguardo "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)

	env := func(key, def string) string {
		if v := getenv("RESGUARDO_" + key); v != "" {
			return v
		}
		return def
	}
	var database, databaseFile, trusted, logLevel, smtpURL, smtpURLFile string
	fs.StringVar(&c.Addr, "addr", env("ADDR", "127.0.0.1:8080"), "customer site listen address (RESGUARDO_ADDR)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", env("METRICS_ADDR", ""), "Prometheus metrics listen address, loopback only (e.g. 127.0.0.1:9090); empty for none (RESGUARDO_METRICS_ADDR)")
	fs.StringVar(&c.StaffAddr, "staff-addr", env("STAFF_ADDR", "127.0.0.1:8081"), "staff console listen address (RESGUARDO_STAFF_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", env("DATA_DIR", "./data"), "directory for the embedded database, key set and mail (RESGUARDO_DATA_DIR)")
	fs.StringVar(&database, "database", "", "mysql://user:pass@host:3306/db?tls=true, empty for embedded SQLite (RESGUARDO_DATABASE)")
	fs.StringVar(&databaseFile, "database-file", env("DATABASE_FILE", ""), "file holding the database URL (RESGUARDO_DATABASE_FILE)")
	fs.StringVar(&c.TLSCert, "tls-cert", env("TLS_CERT", ""), "PEM certificate chain for both listeners (RESGUARDO_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", env("TLS_KEY", ""), "PEM private key for both listeners (RESGUARDO_TLS_KEY)")
	acmeDomains := domainList{names: splitList(env("ACME_DOMAIN", ""))}
	fs.Var(&acmeDomains, "acme-domain", "name to get a certificate for from the ACME CA; repeat or comma-separate for several (RESGUARDO_ACME_DOMAIN)")
	fs.StringVar(&c.ACMEDirectory, "acme-directory", env("ACME_DIRECTORY", LetsEncryptDirectory), "ACME CA directory URL (RESGUARDO_ACME_DIRECTORY)")
	fs.StringVar(&c.ACMEEmail, "acme-email", env("ACME_EMAIL", ""), "contact address for the ACME account, optional (RESGUARDO_ACME_EMAIL)")
	fs.StringVar(&c.ACMECABundle, "acme-ca-bundle", env("ACME_CA_BUNDLE", ""), "PEM file of extra roots to trust for the ACME CA's HTTPS, for a private or test CA (RESGUARDO_ACME_CA_BUNDLE)")
	fs.StringVar(&c.ACMEHTTPAddr, "acme-http-addr", env("ACME_HTTP_ADDR", ""), "plain-HTTP listener for HTTP-01 challenges and redirects to HTTPS, e.g. :80; without it only TLS-ALPN-01 is used (RESGUARDO_ACME_HTTP_ADDR)")
	fs.StringVar(&trusted, "trusted-proxies", env("TRUSTED_PROXIES", ""), "comma-separated CIDRs of a TLS-terminating reverse proxy (RESGUARDO_TRUSTED_PROXIES)")
	fs.StringVar(&c.PublicURL, "public-url", env("PUBLIC_URL", ""), "customer site origin for links in mail, e.g. https://cuenta.example.com (RESGUARDO_PUBLIC_URL)")
	fs.StringVar(&c.MailDir, "mail-dir", env("MAIL_DIR", ""), "write mail as .eml files here instead of sending it; default <data-dir>/mail (RESGUARDO_MAIL_DIR)")
	fs.StringVar(&smtpURL, "smtp-url", "", "smtps://user:pass@host:465 or smtp://user:pass@host:587 (STARTTLS) (RESGUARDO_SMTP_URL)")
	fs.StringVar(&smtpURLFile, "smtp-url-file", env("SMTP_URL_FILE", ""), "file holding the SMTP URL (RESGUARDO_SMTP_URL_FILE)")
	fs.StringVar(&c.MailFrom, "mail-from", env("MAIL_FROM", "resguardo <no-reply@localhost>"), "From address of mail (RESGUARDO_MAIL_FROM)")
	fs.DurationVar(&c.SessionIdle, "session-idle", envDuration(getenv, "SESSION_IDLE", 30*time.Minute), "customer web session idle timeout (RESGUARDO_SESSION_IDLE)")
	fs.DurationVar(&c.SessionAbsolute, "session-absolute", envDuration(getenv, "SESSION_ABSOLUTE", 12*time.Hour), "customer web session absolute timeout (RESGUARDO_SESSION_ABSOLUTE)")
	fs.DurationVar(&c.AppSigninAbsolute, "app-signin-absolute", envDuration(getenv, "APP_SIGNIN_ABSOLUTE", 90*24*time.Hour), "app sign-in absolute lifetime: refresh stops working this long after the password was given (RESGUARDO_APP_SIGNIN_ABSOLUTE)")
	fs.IntVar(&c.HashConcurrency, "hash-concurrency", runtime.NumCPU(), "password hashes computed at once")
	fs.StringVar(&c.FromCheckpoint, "from-checkpoint", "", "audit verify: a checkpoint kept outside the database, SEQ:MAC as the log printed it")
	fs.StringVar(&c.StaffURL, "staff-public-url", env("STAFF_PUBLIC_URL", ""), "staff console origin for enrolment links (RESGUARDO_STAFF_PUBLIC_URL)")
	fs.StringVar(&c.Email, "email", "", "staff create/disable: the staff member's e-mail address")
	fs.StringVar(&c.Role, "role", "", "staff create: agent, lead, admin or auditor")
	fs.BoolVar(&c.StaffPasskeysRequired, "staff-passkeys-required", env("STAFF_PASSKEYS_REQUIRED", "") == "true", "serve: agents and leads must use a passkey as second factor; their TOTP codes are refused (RESGUARDO_STAFF_PASSKEYS_REQUIRED=true)")
	fs.IntVar(&c.RevealsPerHour, "reveals-per-hour", envInt(getenv, "REVEALS_PER_HOUR", 30), "personal values one staff member may reveal per hour (RESGUARDO_REVEALS_PER_HOUR)")
	fs.IntVar(&c.MailPerMinute, "mail-per-minute", envInt(getenv, "MAIL_PER_MINUTE", resguardo.DefaultMailPerMinute), "messages per minute the whole deployment may send; more wait in the outbox (RESGUARDO_MAIL_PER_MINUTE)")
	fs.BoolVar(&c.JSON, "json", false, "doctor, keys status, audit verify: print JSON")
	fs.BoolVar(&c.KEK, "kek", false, "keys rotate/retire: the key-encryption key")
	fs.BoolVar(&c.Index, "index", false, "keys rotate/retire: the blind-index key")
	fs.BoolVar(&c.Pepper, "pepper", false, "keys rotate/retire: the password pepper")
	fs.BoolVar(&c.Master, "master", false, "keys rotate: seal the key set under --new-master-key-file/-uri too; keys retire: withdraw --master-id")
	fs.UintVar(&c.KeyID, "key-id", 0, "keys retire: the key version to remove")
	fs.IntVar(&c.BatchSize, "batch-size", 500, "keys rotate: records per transaction")
	fs.DurationVar(&c.Settle, "settle", 5*time.Second, "keys rotate: wait after adding a key so running servers load it")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", env("MASTER_KEY_FILE", ""), "file holding the master key that opens the key set in the database; default <data-dir>/master.key (RESGUARDO_MASTER_KEY_FILE)")
	fs.StringVar(&c.MasterKeyURI, "master-key-uri", env("MASTER_KEY_URI", ""), "KMS URI of the master key, for a KMS client built in (RESGUARDO_MASTER_KEY_URI)")
	fs.StringVar(&c.NewMasterKeyFile, "new-master-key-file", "", "keys master add: file of the master key to add; created if it does not exist")
	fs.StringVar(&c.NewMasterKeyURI, "new-master-key-uri", "", "keys master add: KMS URI of the master key to add")
	fs.StringVar(&c.MasterID, "master-id", "", "keys master remove: id of the master key to withdraw (see keys status)")
	fs.StringVar(&c.Out, "out", "", "backup: file to write the copy of the database to (must not exist)")
	fs.StringVar(&c.In, "in", "", "restore: the backup file to load into an empty database")
	fs.BoolVar(&c.Demo, "demo", false, "serve: on an empty database, create demo customers and one staff member of each role and print their sign-ins; loopback listeners only")
	fs.BoolVar(&c.Migrate, "migrate", env("MIGRATE", "") == "true", "run database migrations at start (RESGUARDO_MIGRATE=true)")
	fs.StringVar(&logLevel, "log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error (RESGUARDO_LOG_LEVEL)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to let requests finish on shutdown")
	fs = onlyOwnFlags(fs, name, stderr)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	c.ACMEDomains = acmeDomains.names

	var problems []error
	switch {
	case database != "":
		c.Database, c.DatabaseFromFlag = Secret(database), true
	case databaseFile != "":
		b, err := os.ReadFile(databaseFile) // #nosec G304 -- the operator names this file
		if err != nil {
			problems = append(problems, fmt.Errorf("--database-file: %w", err))
		}
		c.Database = Secret(strings.TrimSpace(string(b)))
	default:
		c.Database = Secret(getenv("RESGUARDO_DATABASE"))
	}
	switch {
	case smtpURL != "":
		c.SMTPURL = Secret(smtpURL)
	case smtpURLFile != "":
		b, err := os.ReadFile(smtpURLFile) // #nosec G304 -- the operator names this file
		if err != nil {
			problems = append(problems, fmt.Errorf("--smtp-url-file: %w", err))
		}
		c.SMTPURL = Secret(strings.TrimSpace(string(b)))
	default:
		c.SMTPURL = Secret(getenv("RESGUARDO_SMTP_URL"))
	}
	c.MasterKey = Secret(getenv("RESGUARDO_MASTER_KEY"))
	c.CredentialsDir = getenv("CREDENTIALS_DIRECTORY")
	if c.MailDir == "" {
		c.MailDir = filepath.Join(c.DataDir, "mail")
	}
	if err := c.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		problems = append(problems, fmt.Errorf("--log-level: %q is not debug, info, warn or error", logLevel))
	}
	for _, s := range strings.Split(trusted, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			problems = append(problems, fmt.Errorf("--trusted-proxies: %q is not a CIDR", s))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}
	if len(problems) > 0 {
		return c, errors.Join(problems...)
	}
	return c, nil
}

// LetsEncryptDirectory is the default ACME CA.
const LetsEncryptDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// domainList is the value of --acme-domain: the variable's names until the
// flag is first given, then the flag's (repeated or comma-separated).
type domainList struct {
	names   []string
	fromCLI bool
}

func (d *domainList) String() string { return strings.Join(d.names, ",") }

func (d *domainList) Set(v string) error {
	if !d.fromCLI {
		d.names, d.fromCLI = nil, true
	}
	d.names = append(d.names, splitList(v)...)
	return nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// commonFlags are taken by every command: where the deployment is, the
// master key that opens it, and the log level.
var commonFlags = []string{"data-dir", "database", "database-file", "master-key-file", "master-key-uri", "log-level"}

// serveFlags configure a serving deployment; doctor checks the same
// configuration, so it takes them too.
var serveFlags = []string{"addr", "staff-addr", "metrics-addr", "tls-cert", "tls-key", "trusted-proxies",
	"public-url", "staff-public-url", "mail-dir", "smtp-url", "smtp-url-file", "mail-from",
	"session-idle", "session-absolute", "app-signin-absolute", "hash-concurrency",
	"reveals-per-hour", "mail-per-minute", "migrate",
	"acme-domain", "acme-directory", "acme-email", "acme-ca-bundle", "acme-http-addr"}

// ownFlags are the flags of each command beyond commonFlags: what its -h
// lists and all it accepts.
var ownFlags = map[string][]string{
	"serve":         append([]string{"demo", "shutdown-timeout", "staff-passkeys-required"}, serveFlags...),
	"doctor":        append([]string{"json"}, serveFlags...),
	"migrate":       nil,
	"backup":        {"out"},
	"restore":       {"in"},
	"staff create":  {"email", "role", "staff-public-url", "staff-addr", "tls-cert", "tls-key"},
	"staff list":    nil,
	"staff disable": {"email"},
	"keys init":     nil,
	"keys status":   {"json"},
	"keys rotate":   {"kek", "index", "pepper", "master", "new-master-key-file", "new-master-key-uri", "batch-size", "settle"},
	"keys retire":   {"kek", "index", "pepper", "master", "key-id", "master-id"},
	"audit verify":  {"from-checkpoint", "json"},
	"audit export":  nil,
}

// onlyOwnFlags returns a flag set with the flags of all that command name
// takes (sharing their values), so that its -h shows those alone and any
// other is refused as undefined. A name with no entry keeps them all.
func onlyOwnFlags(all *flag.FlagSet, name string, stderr io.Writer) *flag.FlagSet {
	own, ok := ownFlags[name]
	if !ok {
		return all
	}
	keep := map[string]bool{}
	for _, f := range append(slices.Clone(commonFlags), own...) {
		keep[f] = true
	}
	fs := flag.NewFlagSet("resguardo "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	all.VisitAll(func(f *flag.Flag) {
		if keep[f.Name] {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
	return fs
}

// envDuration reads a duration variable, or def when unset or invalid
// (flag parsing then reports nothing; Validate checks the result).
func envDuration(getenv func(string) string, key string, def time.Duration) time.Duration {
	if v := getenv("RESGUARDO_" + key); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func envInt(getenv func(string) string, key string, def int) int {
	if v := getenv("RESGUARDO_" + key); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

// SiteURL is the customer site's origin for links.
func (c Config) SiteURL() string {
	if c.PublicURL != "" {
		return strings.TrimSuffix(c.PublicURL, "/")
	}
	scheme := "http"
	if c.TLS() {
		scheme = "https"
	}
	return scheme + "://" + c.Addr
}

// StaffSiteURL is the staff console's origin, for links staff follow.
func (c Config) StaffSiteURL() string {
	if c.StaffURL != "" {
		return strings.TrimSuffix(c.StaffURL, "/")
	}
	scheme := "http"
	if c.TLS() {
		scheme = "https"
	}
	return scheme + "://" + c.StaffAddr
}

// TLS reports whether the listeners terminate TLS themselves, with a
// certificate from files or from an ACME CA.
func (c Config) TLS() bool { return c.TLSCert != "" || c.ACME() }

// ACME reports whether certificates come from an ACME CA.
func (c Config) ACME() bool { return len(c.ACMEDomains) > 0 }

// BehindProxy reports whether a trusted TLS-terminating proxy is configured.
func (c Config) BehindProxy() bool { return len(c.TrustedProxies) > 0 }

// SecureTransport reports whether clients reach the server over HTTPS, either
// directly or through the trusted proxy; cookies are then Secure and HSTS is
// sent.
func (c Config) SecureTransport() bool { return c.TLS() || c.BehindProxy() }

// Validate reports every problem of a serving configuration at once.
// minAppSigninAbsolute is the shortest app sign-in allowed: one access
// token's lifetime.
const minAppSigninAbsolute = 15 * time.Minute

func (c Config) Validate() error {
	var problems []error
	if (c.TLSCert == "") != (c.TLSKey == "") {
		problems = append(problems, errors.New("--tls-cert and --tls-key go together: give both or neither"))
	}
	problems = append(problems, c.validateACME()...)
	for _, l := range []struct{ flag, addr string }{{"--addr", c.Addr}, {"--staff-addr", c.StaffAddr}} {
		loopback, err := IsLoopbackAddr(l.addr)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s %q: %w", l.flag, l.addr, err))
			continue
		}
		if !loopback && !c.SecureTransport() {
			problems = append(problems, fmt.Errorf(
				"%s %s is not a loopback address and TLS is off: plain HTTP is allowed only on loopback; give --tls-cert and --tls-key, or --trusted-proxies for a TLS-terminating reverse proxy",
				l.flag, l.addr))
		}
	}
	if c.MetricsAddr != "" {
		// The series describe the deployment (routes, load, limits hit), so
		// they stay on the host: a scraper elsewhere reaches them through
		// an agent or tunnel the operator controls.
		if loopback, err := IsLoopbackAddr(c.MetricsAddr); err != nil {
			problems = append(problems, fmt.Errorf("--metrics-addr %q: %w", c.MetricsAddr, err))
		} else if !loopback {
			problems = append(problems, fmt.Errorf("--metrics-addr %s is not a loopback address: metrics are served on loopback only (e.g. 127.0.0.1:9090)", c.MetricsAddr))
		}
		if !strings.HasSuffix(c.MetricsAddr, ":0") && (c.MetricsAddr == c.Addr || c.MetricsAddr == c.StaffAddr) {
			problems = append(problems, errors.New("--metrics-addr must differ from --addr and --staff-addr: metrics have their own listener"))
		}
	}
	if c.Addr == c.StaffAddr && !strings.HasSuffix(c.Addr, ":0") { // :0 picks a free port each
		problems = append(problems, errors.New("--addr and --staff-addr must differ: the staff console has its own listener"))
	}
	if c.DatabaseFromFlag && hasPassword(c.Database.Reveal()) && c.production() {
		problems = append(problems, errors.New("--database carries a password on the command line, where other users can read it: use RESGUARDO_DATABASE or --database-file"))
	}
	if c.DataDir == "" {
		problems = append(problems, errors.New("--data-dir must not be empty"))
	}
	if c.Demo && c.production() {
		problems = append(problems, errors.New("--demo is refused unless every listener is on loopback: demo accounts with printed passwords must not be reachable from other machines"))
	}
	if c.PublicURL == "" && c.production() {
		problems = append(problems, errors.New("--public-url is required when a listener is not on loopback: mail links must name the public site"))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" {
			problems = append(problems, fmt.Errorf("--public-url %q must be an origin like https://cuenta.example.com", c.PublicURL))
		}
	}
	if c.SessionIdle <= 0 || c.SessionAbsolute < c.SessionIdle {
		problems = append(problems, errors.New("--session-idle must be positive and no longer than --session-absolute"))
	}
	if c.AppSigninAbsolute < minAppSigninAbsolute {
		problems = append(problems, fmt.Errorf("--app-signin-absolute must be at least %s (an access token's lifetime)", minAppSigninAbsolute))
	}
	if c.HashConcurrency < 1 {
		problems = append(problems, errors.New("--hash-concurrency must be at least 1"))
	}
	if c.MailPerMinute < 1 {
		problems = append(problems, errors.New("--mail-per-minute must be at least 1: with no budget no mail would ever be sent"))
	}
	return errors.Join(problems...)
}

// validateACME checks the --acme-* flags: names a public CA can issue for
// (no IP addresses, no wildcards: TLS-ALPN-01 and HTTP-01 cannot prove
// those), an https directory, and no certificate files besides.
func (c Config) validateACME() []error {
	var problems []error
	if !c.ACME() {
		if c.ACMEHTTPAddr != "" {
			problems = append(problems, errors.New("--acme-http-addr needs --acme-domain"))
		}
		return problems
	}
	if c.TLSCert != "" || c.TLSKey != "" {
		problems = append(problems, errors.New("--acme-domain and --tls-cert/--tls-key exclude each other: the certificate comes from one or the other"))
	}
	for _, d := range c.ACMEDomains {
		if _, err := netip.ParseAddr(d); err == nil || strings.ContainsAny(d, "*/: ") || !strings.Contains(strings.Trim(d, "."), ".") {
			problems = append(problems, fmt.Errorf("--acme-domain %q is not a host name a CA can issue for (a dotted name: no IP addresses, wildcards or single labels like localhost)", d))
		}
	}
	if u, err := url.Parse(c.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
		problems = append(problems, fmt.Errorf("--acme-directory %q must be an https URL", c.ACMEDirectory))
	}
	if c.ACMEHTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.ACMEHTTPAddr); err != nil {
			problems = append(problems, fmt.Errorf("--acme-http-addr %q is not a host:port address", c.ACMEHTTPAddr))
		}
	}
	return problems
}

// production reports whether any listener is reachable from off the machine.
func (c Config) production() bool {
	for _, a := range []string{c.Addr, c.StaffAddr} {
		if lb, err := IsLoopbackAddr(a); err != nil || !lb {
			return true
		}
	}
	return false
}

func hasPassword(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return false
	}
	_, ok := u.User.Password()
	return ok
}

// IsLoopbackAddr reports whether a host:port listens only on loopback. An
// empty host means every interface, which is not loopback.
func IsLoopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, errors.New("not a host:port address")
	}
	return IsLoopbackHost(host), nil
}

// IsLoopbackHost reports whether host names the loopback interface.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}
