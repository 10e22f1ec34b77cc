// Package doctor is `resguardo doctor`: a security self-check of a
// deployment. Each check inspects one promise of docs/contract.md §1, §6 and §10 (TLS on
// public listeners and to MySQL, a least-privilege database user, a private
// key set, a current schema, no personal data in clear, an intact audit
// chain) and reports pass, fail with the fix, or not applicable.
//
// Doctor only reads: it never migrates, creates keys or repairs what it
// finds, so that what it reports is the deployment as it is.
package doctor

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/config"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/vault"
)

// Status is the outcome of one check.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	NA   Status = "n/a" // not applicable to this deployment
)

// Check is one line of the report. Detail and Fix never hold personal data
// or secrets: they name tables, columns, row ids, paths and settings only.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

// Report is every check, in a fixed order.
type Report struct {
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
}

// Check names, as the report prints them.
const (
	NameListenerTLS  = "listener-tls"
	NameDatabaseTLS  = "database-tls"
	NameKeySet       = "keyset"
	NameKeyProtect   = "keyset-protection"
	NamePrivileges   = "database-privileges"
	NameMigrations   = "migrations"
	NamePersonalData = "personal-data"
	NameAuditChain   = "audit-chain"
)

const (
	// DefaultSample is how many values of each sealed column are checked.
	DefaultSample    = 200
	maxNamedFailures = 10 // failing rows named in one line
	// The key set may be read by its owner only; its directory may be
	// written by its owner only (else the file could be swapped).
	keysetPermMask    = 0o077
	keysetDirPermMask = 0o022
)

// Deployment is what doctor inspects, as configured.
type Deployment struct {
	Addr, StaffAddr string // the two listeners
	TLSCert, TLSKey string
	// ACMEDomains are the names whose certificates come from an ACME CA,
	// cached in <DataDir>/acme.
	ACMEDomains    []string
	TrustedProxies []netip.Prefix
	// DatabaseURL is a mysql:// URL or "" for the embedded SQLite file. It
	// may carry a password: it is parsed, never printed.
	DatabaseURL string
	DataDir     string // holds the embedded database and, by default, its master key
	// MasterKeyWhere says where the master key comes from ("" when none is
	// configured); MasterKeyFile is its path when it is a file.
	MasterKeyWhere string
	MasterKeyFile  string
	MailDir        string // development mail, a directory others may be given
	// WorkDir is the server's working directory: static, public or www
	// folders there are where a web server beside it would serve files.
	WorkDir string
	Sample  int // values sampled per sealed column; DefaultSample when 0
	Now     func() time.Time
}

// Handles are the opened database and key set. Either may be missing, with
// the reason; the checks that need it then fail as "not checked".
type Handles struct {
	DB       *sqlstore.DB
	DBErr    error
	Vault    *vault.Vault
	VaultErr error
}

// Production reports whether a listener is reachable from off the machine:
// the production-only checks apply then.
func (d Deployment) Production() bool {
	for _, a := range []string{d.Addr, d.StaffAddr} {
		if lb, err := config.IsLoopbackAddr(a); err != nil || !lb {
			return true
		}
	}
	return false
}

// Run runs every check. The file checks run before open is called, because
// opening the embedded database tightens the data directory's mode, and
// doctor must report the directory as it found it.
func Run(ctx context.Context, d Deployment, open func(context.Context) Handles) Report {
	checks := []Check{checkListeners(d), checkDatabaseTLS(d), checkKeySet(d), checkKeySetProtection(d)}
	h := open(ctx)
	checks = append(checks,
		checkPrivileges(ctx, d, h),
		checkMigrations(ctx, h),
		checkPersonalData(ctx, d, h),
		checkAuditChain(ctx, h),
	)
	rep := Report{OK: true, Checks: checks}
	for i := range rep.Checks {
		c := &rep.Checks[i]
		c.Detail, c.Fix = oneLine(c.Detail), oneLine(c.Fix)
		if c.Status == Fail {
			rep.OK = false
		}
	}
	return rep
}

// Failed names the checks that failed.
func (r Report) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c.Name)
		}
	}
	return out
}

// WriteText writes one line per check: "PASS  name  detail",
// "FAIL  name  detail — fix: …" or "N/A   name  why".
func (r Report) WriteText(w io.Writer) error {
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	var b strings.Builder
	for _, c := range r.Checks {
		label := map[Status]string{Pass: "PASS", Fail: "FAIL", NA: "N/A"}[c.Status]
		fmt.Fprintf(&b, "%-4s  %-*s  %s", label, width, c.Name, c.Detail)
		if c.Status == Fail && c.Fix != "" {
			b.WriteString(" — fix: " + c.Fix)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one JSON object, for machines.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// oneLine keeps a report line on one line whatever an error message holds.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func pass(name, detail string) Check { return Check{Name: name, Status: Pass, Detail: detail} }
func na(name, why string) Check      { return Check{Name: name, Status: NA, Detail: why} }
func fail(name, detail, fix string) Check {
	return Check{Name: name, Status: Fail, Detail: detail, Fix: fix}
}

// notChecked is the failure of a check that could not run: a check that
// cannot prove its point does not pass.
func notChecked(name, what string, err error) Check {
	return fail(name, fmt.Sprintf("not checked: %s: %v", what, err), fmt.Sprintf("fix the %s problem and run doctor again", what))
}

// checkListeners: plain HTTP only on loopback (docs/contract.md §1).
func checkListeners(d Deployment) Check {
	if !d.Production() {
		return na(NameListenerTLS, fmt.Sprintf("both listeners are on loopback (%s, %s): plain HTTP is allowed there; applies in production", d.Addr, d.StaffAddr))
	}
	var public []string
	for _, l := range []struct{ flag, addr string }{{"--addr", d.Addr}, {"--staff-addr", d.StaffAddr}} {
		if lb, err := config.IsLoopbackAddr(l.addr); err != nil || !lb {
			public = append(public, l.flag+" "+l.addr)
		}
	}
	where := strings.Join(public, " and ")
	switch {
	case d.TLSCert != "" || d.TLSKey != "":
		return checkCertificate(d, where)
	case len(d.ACMEDomains) > 0:
		return checkACMECache(d, where)
	case len(d.TrustedProxies) > 0:
		return pass(NameListenerTLS, fmt.Sprintf("plain HTTP on %s only behind the trusted TLS-terminating proxy %v", where, d.TrustedProxies))
	default:
		verb := "is"
		if len(public) > 1 {
			verb = "are"
		}
		return fail(NameListenerTLS, fmt.Sprintf("%s %s not on loopback and TLS is off: clients and their passwords travel in clear", where, verb),
			"give --tls-cert and --tls-key, or --trusted-proxies for a TLS-terminating reverse proxy, or bind the listener to 127.0.0.1")
	}
}

// checkCertificate: the listeners' certificate loads and is valid now.
func checkCertificate(d Deployment, where string) Check {
	if d.TLSCert == "" || d.TLSKey == "" {
		return fail(NameListenerTLS, "only one of --tls-cert and --tls-key is set", "give both --tls-cert and --tls-key")
	}
	cert, err := tls.LoadX509KeyPair(d.TLSCert, d.TLSKey)
	if err != nil {
		return fail(NameListenerTLS, fmt.Sprintf("%s: the TLS certificate does not load: %v", where, err),
			"give a PEM certificate chain and its matching private key")
	}
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	leaf := cert.Leaf // parsed by LoadX509KeyPair
	switch {
	case leaf == nil:
		return fail(NameListenerTLS, "the TLS certificate could not be parsed", "give a PEM certificate chain")
	case now.After(leaf.NotAfter):
		return fail(NameListenerTLS, fmt.Sprintf("%s: the TLS certificate expired on %s", where, leaf.NotAfter.UTC().Format(time.DateOnly)),
			"renew the certificate and restart the server")
	case now.Before(leaf.NotBefore):
		return fail(NameListenerTLS, fmt.Sprintf("%s: the TLS certificate is not valid before %s", where, leaf.NotBefore.UTC().Format(time.DateOnly)),
			"check the certificate and the machine's clock")
	}
	return pass(NameListenerTLS, fmt.Sprintf("TLS (1.2 minimum) on %s; certificate valid until %s", where, leaf.NotAfter.UTC().Format(time.DateOnly)))
}

// checkACMECache: the ACME certificate cache (account key, certificates and
// their private keys) is readable by the service user only, and no cached
// certificate has expired (autocert renews 30 days ahead: an expired one
// means renewal has been failing).
func checkACMECache(d Deployment, where string) Check {
	cache := filepath.Join(d.DataDir, "acme")
	st, err := os.Stat(cache)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return pass(NameListenerTLS, fmt.Sprintf("TLS (1.2 minimum) on %s with certificates from ACME for %s, obtained at the first connection", where, strings.Join(d.ACMEDomains, ", ")))
	case err != nil:
		return notChecked(NameListenerTLS, "ACME certificate cache", err)
	case st.Mode().Perm()&keysetPermMask != 0:
		return fail(NameListenerTLS, fmt.Sprintf("the ACME certificate cache %s (private keys) has mode %v", cache, st.Mode().Perm()),
			"chmod 700 "+cache)
	}
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	var valid []string
	for _, name := range d.ACMEDomains {
		b, err := os.ReadFile(filepath.Join(cache, name)) // #nosec G304 -- a configured name inside the data directory
		if errors.Is(err, fs.ErrNotExist) {
			continue // not obtained yet
		} else if err != nil {
			return notChecked(NameListenerTLS, "ACME certificate cache", err)
		}
		for rest := b; ; {
			var block *pem.Block
			if block, rest = pem.Decode(rest); block == nil {
				break
			}
			if block.Type != "CERTIFICATE" {
				continue
			}
			leaf, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return fail(NameListenerTLS, fmt.Sprintf("the cached ACME certificate for %s does not parse", name), "remove it from "+cache+"; the server asks the CA again")
			}
			if now.After(leaf.NotAfter) {
				return fail(NameListenerTLS, fmt.Sprintf("%s: the ACME certificate for %s expired on %s: renewal is failing", where, name, leaf.NotAfter.UTC().Format(time.DateOnly)),
					"check the server's log for ACME errors (the CA must reach port 443, or 80 with --acme-http-addr)")
			}
			valid = append(valid, fmt.Sprintf("%s until %s", name, leaf.NotAfter.UTC().Format(time.DateOnly)))
			break // the leaf comes first
		}
	}
	cached := "none yet"
	if len(valid) > 0 {
		cached = strings.Join(valid, ", ")
	}
	return pass(NameListenerTLS, fmt.Sprintf("TLS (1.2 minimum) on %s with certificates from ACME for %s; cached: %s", where, strings.Join(d.ACMEDomains, ", "), cached))
}

// checkDatabaseTLS: a MySQL connection that leaves the machine uses verified
// TLS (docs/contract.md §1, §6).
func checkDatabaseTLS(d Deployment) Check {
	if d.DatabaseURL == "" {
		return na(NameDatabaseTLS, "embedded SQLite file: no database connection leaves the process")
	}
	cfg, err := sqlstore.MySQLConfig(d.DatabaseURL) // its errors never quote the password
	if err != nil {
		return fail(NameDatabaseTLS, fmt.Sprintf("database URL refused: %v", err),
			"use mysql://user@host:3306/db?tls=true (verified TLS, optionally &ca=FILE), a loopback host, or ?socket=PATH")
	}
	if cfg.Net == "unix" {
		return pass(NameDatabaseTLS, "unix socket: the connection does not leave the machine")
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	switch {
	case cfg.TLS != nil && !cfg.TLS.InsecureSkipVerify:
		return pass(NameDatabaseTLS, fmt.Sprintf("verified TLS (1.2 minimum) to %s", cfg.Addr))
	case config.IsLoopbackHost(host):
		return pass(NameDatabaseTLS, fmt.Sprintf("loopback host %s: the connection does not leave the machine", cfg.Addr))
	default:
		return fail(NameDatabaseTLS, fmt.Sprintf("the connection to %s is not verified TLS", cfg.Addr),
			"add ?tls=true (optionally &ca=FILE) to the database URL")
	}
}

// checkKeySet: the key set is kept in the database, sealed under a master
// key; when the master key is a file, it is a private regular file of the
// server's user, in a directory others cannot write, and not where files
// are served. A key set file of an earlier release left in the data
// directory (every key in clear) fails too.
func checkKeySet(d Deployment) Check {
	if d.MasterKeyWhere == "" {
		return fail(NameKeySet, fmt.Sprintf("no master key: none is configured and there is no %s in %s", vault.MasterKeyFile, d.DataDir),
			"give the deployment's master key (--master-key-file, RESGUARDO_MASTER_KEY, the systemd credential resguardo-master-key or --master-key-uri), "+
				"or point --data-dir at the deployment's data directory; without it no personal data can be read")
	}
	var problems, fixes []string
	add := func(problem, fix string) { problems, fixes = append(problems, problem), append(fixes, fix) }
	legacy := filepath.Join(d.DataDir, vault.KeysetFile)
	if _, err := os.Lstat(legacy); err == nil {
		add(fmt.Sprintf("the key set file %s of an earlier release is still there, every key in clear", legacy),
			fmt.Sprintf("once the database (which now holds the key set) is backed up, delete %s", legacy))
	}
	path := d.MasterKeyFile
	if path == "" {
		if len(problems) > 0 {
			return fail(NameKeySet, strings.Join(problems, "; "), strings.Join(fixes, "; "))
		}
		return pass(NameKeySet, "key set kept in the database, sealed under the master key from "+d.MasterKeyWhere)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(NameKeySet, fmt.Sprintf("master key %s: %v", path, err), "make the master key file readable by the server's user only")
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		add("is a symbolic link", "replace the link with the file itself, mode 0600")
	case !fi.Mode().IsRegular():
		add("is not a regular file", "restore the master key as a regular file, mode 0600")
	}
	// A link's own mode and owner say nothing about the key: only a
	// regular file's are checked. Windows has no Unix permission bits; its
	// ACLs are not checked here.
	perm := fi.Mode().Perm()
	if fi.Mode().IsRegular() && perm&keysetPermMask != 0 && runtime.GOOS != "windows" {
		add(fmt.Sprintf("has mode %04o, so other users may read it", perm),
			fmt.Sprintf("chmod 600 %s, then consider the master key copied: replace it (resguardo keys master add, then keys master remove)", path))
	}
	uid, known := fileOwner(fi)
	if fi.Mode().IsRegular() && known && uid != os.Getuid() {
		add(fmt.Sprintf("is owned by uid %d, not by this user (uid %d)", uid, os.Getuid()),
			"chown the master key to the user the server runs as (and run doctor as that user)")
	}
	dir := filepath.Dir(path)
	if di, err := os.Stat(dir); err == nil && di.Mode().Perm()&keysetDirPermMask != 0 && runtime.GOOS != "windows" {
		add(fmt.Sprintf("is in %s, mode %04o, where other users may replace it", dir, di.Mode().Perm()),
			fmt.Sprintf("chmod 700 %s", dir))
	}
	served := servedDirs(d)
	var checked []string
	for _, s := range served {
		checked = append(checked, fmt.Sprintf("%s (%s)", s.label, s.path))
		if within(path, s.path) {
			add(fmt.Sprintf("is inside %s (%s)", s.label, s.path),
				"move the master key (and --data-dir) out of any directory whose files are served or mailed")
		}
	}
	if len(problems) > 0 {
		return fail(NameKeySet, fmt.Sprintf("master key %s %s", path, strings.Join(problems, "; ")), strings.Join(fixes, "; "))
	}
	if len(served) == 1 && d.WorkDir != "" {
		checked = append(checked, "no ./static, ./public or ./www in "+d.WorkDir)
	}
	owner := ""
	if known {
		owner = fmt.Sprintf(", owned by uid %d", uid)
	}
	return pass(NameKeySet, fmt.Sprintf("key set kept in the database; master key %s: regular file, mode %04o%s, directory not writable by others; not inside %s",
		path, perm, owner, strings.Join(checked, ", ")))
}

// checkKeySetProtection: with a public listener, the embedded database and
// its master key must not sit together in the data directory: whoever
// copies that directory (a backup, a snapshot of the disk, a path traversal
// elsewhere on the host) would hold the sealed key set and the key that
// opens it. On loopback it is the development default.
func checkKeySetProtection(d Deployment) Check {
	if !d.Production() {
		return na(NameKeyProtect, "both listeners are on loopback: the master key beside the embedded database is the development default; applies in production")
	}
	if d.MasterKeyWhere == "" {
		return notChecked(NameKeyProtect, "master key", errors.New("none configured"))
	}
	if d.MasterKeyFile != "" && d.DatabaseURL == "" && within(d.MasterKeyFile, d.DataDir) {
		return fail(NameKeyProtect, fmt.Sprintf("the master key %s is kept in clear beside the embedded database in %s while a listener is public: a copy of that directory opens every personal field", d.MasterKeyFile, d.DataDir),
			"keep the master key out of the data directory and out of its backups: a systemd credential (LoadCredential=resguardo-master-key:FILE), "+
				"RESGUARDO_MASTER_KEY from a secret store, --master-key-file on another disk, or a KMS (--master-key-uri); see docs/keys.md")
	}
	return pass(NameKeyProtect, "the key set is sealed under the master key from "+d.MasterKeyWhere+", which is not kept beside the database")
}

type servedDir struct{ label, path string }

// servedDirs are the places a key set must not be: the mail directory
// (its files are handed to people and tools) and the working directory's
// static, public and www folders when they exist (a web server beside
// resguardo would publish them; resguardo itself serves only embedded
// assets).
func servedDirs(d Deployment) []servedDir {
	out := []servedDir{{"the mail directory", d.MailDir}}
	if d.WorkDir == "" {
		return out
	}
	for _, name := range []string{"static", "public", "www"} {
		p := filepath.Join(d.WorkDir, name)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			out = append(out, servedDir{"./" + name, p})
		}
	}
	return out
}

// within reports whether path lies inside dir, after resolving symbolic
// links, so that a link cannot hide the key set's real place.
func within(path, dir string) bool {
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(resolve(dir), resolve(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func resolve(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		return real
	}
	return p
}

// excessive are the privileges a runtime database user must not hold:
// administration, files on the server, and schema changes (DDL), which
// belong to the separate user that runs migrations.
var excessive = []string{"ALL PRIVILEGES", "SUPER", "FILE", "GRANT OPTION", "CREATE", "DROP", "ALTER", "INDEX",
	"CREATE USER", "RELOAD", "SHUTDOWN", "PROCESS"}

// checkPrivileges: in production the MySQL user cannot administer the
// server or change the schema, so a stolen connection does less.
func checkPrivileges(ctx context.Context, d Deployment, h Handles) Check {
	switch {
	case d.DatabaseURL == "":
		return na(NamePrivileges, "embedded SQLite has no database users")
	case !d.Production():
		return na(NamePrivileges, "development setup (listeners on loopback); applies in production")
	case h.DB == nil:
		return notChecked(NamePrivileges, "database", h.DBErr)
	}
	grants, err := h.DB.Conn().Grants(ctx)
	if err != nil {
		return notChecked(NamePrivileges, "grants", err)
	}
	held, roles := privileges(grants)
	var bad []string
	for _, p := range excessive {
		if held[p] {
			bad = append(bad, p)
		}
	}
	fix := "run the server as a user with only SELECT, INSERT, UPDATE, DELETE on its database, and run migrations (resguardo migrate) as a separate user"
	switch {
	case len(bad) > 0:
		return fail(NamePrivileges, "the database user holds "+strings.Join(bad, ", ")+": a stolen connection could read server files, change the schema or administer the server", fix)
	case roles > 0:
		return fail(NamePrivileges, fmt.Sprintf("the database user has %d role(s), whose privileges doctor cannot see", roles),
			"grant the runtime user its privileges directly instead of through roles; "+fix)
	}
	return pass(NamePrivileges, "the database user holds no administrative, file or schema-changing privilege")
}

var grantRe = regexp.MustCompile(`(?is)^GRANT\s+(.*?)\s+ON\s`)

// privileges reads SHOW GRANTS lines into the set of privilege names held,
// and counts role grants ("GRANT role TO user"). Only names leave this
// function: a line may carry a password hash.
func privileges(grants []string) (held map[string]bool, roles int) {
	held = map[string]bool{}
	for _, g := range grants {
		g = strings.TrimSpace(g)
		if !strings.HasPrefix(strings.ToUpper(g), "GRANT ") {
			continue // e.g. MariaDB's SET DEFAULT ROLE
		}
		m := grantRe.FindStringSubmatch(g)
		if m == nil {
			roles++
			continue
		}
		for _, p := range splitPrivileges(m[1]) {
			if p == "ALL" {
				p = "ALL PRIVILEGES"
			}
			held[p] = true
		}
		if strings.Contains(strings.ToUpper(g), " WITH GRANT OPTION") {
			held["GRANT OPTION"] = true
		}
	}
	return held, roles
}

// splitPrivileges splits "SELECT (a, b), INSERT, CREATE USER" into
// upper-case privilege names, dropping column lists.
func splitPrivileges(list string) []string {
	var out []string
	depth, cur := 0, strings.Builder{}
	flush := func() {
		if name := strings.Join(strings.Fields(strings.ToUpper(cur.String())), " "); name != "" {
			out = append(out, name)
		}
		cur.Reset()
	}
	for _, r := range list {
		switch {
		case r == '(':
			depth++
		case r == ')':
			depth--
		case depth > 0:
		case r == ',':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return out
}

// checkMigrations: the schema is the one this binary was built for. It
// reads the version only: doctor never migrates, and asks the migrator only
// once its version table is known to exist (the migrator creates it
// otherwise).
func checkMigrations(ctx context.Context, h Handles) Check {
	if h.DB == nil {
		return notChecked(NameMigrations, "database", h.DBErr)
	}
	migrated, err := h.DB.Conn().Migrated(ctx)
	switch {
	case err != nil:
		return notChecked(NameMigrations, "schema", err)
	case !migrated:
		return fail(NameMigrations, "the database has never been migrated (no schema version table)",
			"run 'resguardo migrate' (as the migration user)")
	}
	current, want, err := h.DB.SchemaVersion(ctx)
	switch {
	case err != nil:
		return notChecked(NameMigrations, "schema version", err)
	case current < want:
		return fail(NameMigrations, fmt.Sprintf("schema at version %d, this binary needs %d", current, want),
			"run 'resguardo migrate' (as the migration user)")
	case current > want:
		return fail(NameMigrations, fmt.Sprintf("schema at version %d, newer than this binary's %d", current, want),
			"upgrade resguardo to the version that migrated the database")
	}
	return pass(NameMigrations, fmt.Sprintf("schema at version %d, as this binary expects", current))
}

// checkPersonalData: every sampled value of every sealed column opens with
// its owner's data key for its own table, column and row (docs/contract.md §6: a dump
// holds no personal data in clear). A value that does not open is
// plaintext, corrupt, or moved from another row; it is named by table,
// column and row id, never by its content.
func checkPersonalData(ctx context.Context, d Deployment, h Handles) Check {
	switch {
	case h.DB == nil:
		return notChecked(NamePersonalData, "database", h.DBErr)
	case h.Vault == nil:
		return notChecked(NamePersonalData, "key set", h.VaultErr)
	}
	sample := d.Sample
	if sample <= 0 {
		sample = DefaultSample
	}
	conn := h.DB.Conn()
	var bad, unread []string
	total := 0
	for _, col := range sqlstore.SealedColumns {
		values, err := conn.SampleSealed(ctx, col, rand.Text(), sample)
		if err != nil {
			unread = append(unread, err.Error())
			continue
		}
		total += len(values)
		for _, v := range values {
			if problem := openProblem(h.Vault, col, v); problem != "" {
				bad = append(bad, fmt.Sprintf("%s row %s%s", col.Name(), v.RowID, problem))
			}
		}
	}
	if len(unread) > 0 {
		return notChecked(NamePersonalData, "sealed columns", errors.New(strings.Join(unread, "; ")))
	}
	if len(bad) > 0 {
		named := bad[:min(len(bad), maxNamedFailures)]
		more := ""
		if len(bad) > len(named) {
			more = fmt.Sprintf(" and %d more", len(bad)-len(named))
		}
		return fail(NamePersonalData,
			fmt.Sprintf("%d of %d sampled values do not open as ciphertext for their row: %s%s", len(bad), total, strings.Join(named, ", "), more),
			"each is plaintext, corrupt or copied from another row: find what wrote it around the vault, then have the value entered again through resguardo, or erase it")
	}
	return pass(NamePersonalData, fmt.Sprintf("%d values sampled from %d sealed columns (up to %d each) all open as ciphertext for their row",
		total, len(sqlstore.SealedColumns), sample))
}

// openProblem is why a stored value does not open, or "". The plaintext of
// a value that opens is dropped at once.
func openProblem(v *vault.Vault, col sqlstore.SealedColumn, sv sqlstore.SealedValue) string {
	dk, err := v.DataKey(sv.CustomerID, sv.DataKey)
	if err != nil {
		return " (the owner's data key does not unwrap)"
	}
	if _, err := dk.Open(sv.Sealed, col.Table, col.Column, sv.RowID); err != nil {
		return " (not ciphertext for this row)"
	}
	return ""
}

// checkAuditChain: the hash chain verifies as `resguardo audit verify`
// checks it (docs/contract.md §10).
func checkAuditChain(ctx context.Context, h Handles) Check {
	switch {
	case h.DB == nil:
		return notChecked(NameAuditChain, "database", h.DBErr)
	case h.Vault == nil:
		return notChecked(NameAuditChain, "key set", h.VaultErr)
	}
	trail := audit.New(h.DB, h.Vault, slog.New(slog.DiscardHandler), audit.DefaultCheckpointEvery, nil)
	rep, err := trail.Verify(ctx, nil)
	if err != nil {
		return notChecked(NameAuditChain, "audit trail", err)
	}
	if !rep.OK() {
		p := rep.Problems[0]
		more := ""
		if len(rep.Problems) > 1 {
			more = fmt.Sprintf(" (and %d more problems)", len(rep.Problems)-1)
		}
		return fail(NameAuditChain, fmt.Sprintf("the audit chain does not verify: %s: %s%s", p.Where(), p.Reason, more),
			"entries were changed, removed or reordered outside resguardo: keep the database as evidence, run 'resguardo audit verify' with an external checkpoint, and find who had write access")
	}
	return pass(NameAuditChain, fmt.Sprintf("the audit chain verifies: %d entries, last %d, %d pending", rep.Entries, rep.LastSeq, rep.Pending))
}
