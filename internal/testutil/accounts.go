package testutil

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/auth"
	resmail "github.com/resguardo/resguardo/internal/mail"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/vault"
)

// FastParams are argon2id parameters at the library's floor, so that suites
// of hundreds of sign-ins stay quick. Benchmarks use auth.DefaultParams.
var FastParams = auth.Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Clock is a settable clock for tests of timeouts and expiry.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at a fixed, recent time.
func NewClock() *Clock { return &Clock{now: time.Now().Truncate(time.Second)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Env is a customer side over a real database, a real key set, real
// argon2id and a real maildir.
type Env struct {
	DB       *sqlstore.DB
	DSN      string // "" for SQLite
	DataDir  string
	Vault    *vault.Vault
	Accounts *account.Service
	Audit    *audit.Log
	Clock    *Clock
	MailDir  string
	Sender   resmail.Sender
	Log      *slog.Logger
}

// NewEnv builds an Env on backend b.
func NewEnv(t testing.TB, b Backend, logTo io.Writer) *Env {
	t.Helper()
	db, dsn, dir := b.Open(t)
	if logTo == nil {
		logTo = io.Discard
	}
	log := slog.New(slog.NewJSONHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return envOver(t, db, dsn, dir, NewClock(), log)
}

// Peer is a second server's view of the same deployment: its own
// connections to the same database, the key set read again from the same
// data directory, the same clock and log, and its own customer side and
// audit trail writer. What one counts or writes, the other must see. With
// RESGUARDO_TEST_MYSQL_PEER_DSN set (another node of a Galera cluster),
// the peer reaches the same database through that node.
func (e *Env) Peer(t testing.TB) *Env {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), PeerDSN(t, e.DSN), e.DataDir)
	if err != nil {
		t.Fatalf("open the database again: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return envOver(t, db, e.DSN, e.DataDir, e.Clock, e.Log)
}

// NewLegacyEnv is an Env as an earlier release left a deployment: the key
// set in <data-dir>/keyset.json, none recorded in the database.
func NewLegacyEnv(t testing.TB, b Backend) *Env {
	t.Helper()
	db, dsn, dir := b.Open(t)
	v, err := vault.Open(dir)
	if err != nil {
		t.Fatalf("vault: %v", err)
	}
	return envWith(t, db, dsn, dir, NewClock(), slog.New(slog.DiscardHandler), v)
}

func envOver(t testing.TB, db *sqlstore.DB, dsn, dir string, clock *Clock, log *slog.Logger) *Env {
	t.Helper()
	return envWith(t, db, dsn, dir, clock, log, Keys(t, db, dir))
}

func envWith(t testing.TB, db *sqlstore.DB, dsn, dir string, clock *Clock, log *slog.Logger, v *vault.Vault) *Env {
	t.Helper()
	opts := account.DefaultOptions(SiteOrigin)
	opts.Now = clock.Now
	mailDir := filepath.Join(dir, "mail")
	sender, err := resmail.NewMaildir(mailDir, "resguardo <no-reply@localhost>", log)
	if err != nil {
		t.Fatalf("maildir: %v", err)
	}
	trail := audit.New(db, v, log, audit.DefaultCheckpointEvery, clock.Now)
	return &Env{DB: db, DSN: dsn, DataDir: dir, Vault: v, Clock: clock, MailDir: mailDir, Sender: sender, Log: log, Audit: trail,
		Accounts: account.New(db, v, auth.NewHasher(FastParams, v, 4), trail, log, opts)}
}

var linkRe = regexp.MustCompile(`https?://\S+[?&]token=([A-Za-z0-9_%-]+)`)

// Mail is a delivered message, decoded.
type Mail struct {
	To, Subject, Body string
}

// DeliverMail sends what the outbox holds and returns every message written
// so far to the maildir, oldest first.
func (e *Env) DeliverMail(t testing.TB) []Mail {
	t.Helper()
	e.Accounts.Wait() // mail queued after the answer (password reset)
	if _, err := e.Accounts.SendMail(t.Context(), e.Sender, 1000); err != nil {
		t.Fatalf("send mail: %v", err)
	}
	entries, _ := os.ReadDir(e.MailDir)
	var names []string
	for _, en := range entries {
		if filepath.Ext(en.Name()) == ".eml" {
			names = append(names, en.Name())
		}
	}
	sort.Strings(names)
	var out []Mail
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(e.MailDir, n)) // #nosec G304 -- the test's own maildir
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("parse %s: %v", n, err)
		}
		body, err := decodeBody(m)
		if err != nil {
			t.Fatalf("body of %s: %v", n, err)
		}
		subject, _ := new(mime2047).decode(m.Header.Get("Subject"))
		out = append(out, Mail{To: m.Header.Get("To"), Subject: subject, Body: body})
	}
	return out
}

// LinkToken returns the token of the last mailed link to addr whose body
// contains marker (e.g. "/verify-email").
func (e *Env) LinkToken(t testing.TB, addr, marker string) string {
	t.Helper()
	msgs := e.DeliverMail(t)
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if !bytes.Contains([]byte(m.To), []byte(addr)) || !bytes.Contains([]byte(m.Body), []byte(marker)) {
			continue
		}
		if sub := linkRe.FindStringSubmatch(m.Body); sub != nil {
			return unescape(sub[1])
		}
	}
	t.Fatalf("no mail to %s with a %s link among %d messages", addr, marker, len(msgs))
	return ""
}

// decodeBody reads a text/plain body in quoted-printable, base64 or 8bit.
func decodeBody(m *mail.Message) (string, error) {
	var r io.Reader = m.Body
	switch m.Header.Get("Content-Transfer-Encoding") {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

type mime2047 struct{ mime.WordDecoder }

func (d *mime2047) decode(s string) (string, error) { return d.DecodeHeader(s) }

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// Keys opens the deployment's key set kept in db, creating it (and the
// master key file <dir>/master.key, as the embedded default does) on first
// use: a second call for the same database opens the same keys, as a second
// server would.
func Keys(t testing.TB, db *sqlstore.DB, dir string) *vault.Vault {
	t.Helper()
	path := filepath.Join(dir, vault.MasterKeyFile)
	m, err := vault.ReadMasterFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		m, err = vault.WriteMasterFile(path)
	}
	if err != nil {
		t.Fatalf("master key: %v", err)
	}
	instance, err := db.InstanceID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.OpenStored(db.Keyring(), instance, []vault.Master{m})
	if errors.Is(err, vault.ErrNoKeySet) {
		v, err = vault.CreateStored(db.Keyring(), instance, m, nil)
	}
	if err != nil {
		t.Fatalf("vault: %v", err)
	}
	return v
}
