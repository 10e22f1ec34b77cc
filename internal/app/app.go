// Package app wires resguardo together: config → logger → store → server,
// and runs the listeners until the context ends.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"time"

	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/config"
	keyrotation "github.com/resguardo/resguardo/internal/keys"
	"github.com/resguardo/resguardo/internal/mail"
	"github.com/resguardo/resguardo/internal/metrics"
	"github.com/resguardo/resguardo/internal/server"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/staff"
	"github.com/resguardo/resguardo/internal/vault"
)

// NewLogger returns the JSON logger every component writes to.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// Serve runs both listeners until ctx ends, then shuts them down gracefully.
// ready, if not nil, is called with the bound addresses once both listen.
func Serve(ctx context.Context, cfg config.Config, log *slog.Logger, ready func(site, staff net.Addr)) error {
	return ServeTo(ctx, cfg, log, io.Discard, ready)
}

// ServeTo is Serve with the terminal (stdout) it may print to: `serve
// --demo` prints the demo sign-ins there, never in the log.
func ServeTo(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer, ready func(site, staff net.Addr)) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("refusing to start:\n%w", err)
	}
	// The data directory holds the key set and development mail whatever the
	// database, so it is created (0700) for every deployment.
	if err := sqlstore.EnsureDataDir(cfg.DataDir); err != nil {
		return err
	}
	tlsConfig, acmeHTTP, err := listenerTLS(cfg, log)
	if err != nil {
		return err
	}
	// The key set is checked against the database before anything is
	// written to it (openDeployment).
	db, keys, err := openDeployment(ctx, cfg, log, cfg.Migrate, keysForEmpty)
	if err != nil {
		return err
	}
	defer db.Close()
	instance, err := db.InstanceID(ctx)
	if err != nil {
		return err
	}
	sender, err := newSender(cfg, log)
	if err != nil {
		return err
	}
	accountOpts := account.DefaultOptions(cfg.SiteURL())
	accountOpts.SessionIdle, accountOpts.SessionAbsolute = cfg.SessionIdle, cfg.SessionAbsolute
	accountOpts.MailPerMinute = cfg.MailPerMinute
	accountOpts.AppSigninAbsolute = cfg.AppSigninAbsolute
	trail := audit.New(db, keys, log, audit.DefaultCheckpointEvery, nil)
	hasher := auth.NewHasher(auth.DefaultParams, keys, cfg.HashConcurrency)
	accounts := account.New(db, keys, hasher, trail, log, accountOpts)
	// The back office acts on the same customer side, with the same hasher
	// (one bound on concurrent password hashing) and the same audit trail.
	staffSvc := staff.New(db, keys, hasher, trail, accounts, log, staffOptions(cfg))
	mailCtx, stopMail := context.WithCancel(ctx)
	defer stopMail()
	defer accounts.Wait() // work answered before it was done finishes first
	go accounts.RunMail(mailCtx, sender, 2*time.Second, staffSvc.SendMail)
	// Chains audit entries while this server holds the sequencer lease.
	go trail.Run(mailCtx)
	go every(mailCtx, account.ActivityFlushEvery, func() { // last-seen times, off the request path
		if err := accounts.FlushActivity(mailCtx); err != nil && mailCtx.Err() == nil {
			log.Error("activity not written", "err", err)
		}
	})
	go every(mailCtx, 5*time.Second, func() { hasher.ReturnMemory(debug.FreeOSMemory) })
	go reloadKeys(mailCtx, keys, log)
	go keyRecoveryCodes(mailCtx, accounts, log)
	// Last: chain what is pending, a checkpoint of everything chained, and
	// the sequencer lease handed on at once.
	defer func() {
		if err := trail.Close(context.WithoutCancel(ctx)); err != nil {
			log.Error("audit sequencer at shutdown", "err", err)
		}
	}()

	var demo []demoAccount
	if cfg.Demo {
		if demo, err = seedDemo(ctx, db, accounts, staffSvc, stdout); err != nil {
			return err
		}
	}

	srv, err := server.New(server.Options{
		Logger: log, DB: db, Accounts: accounts, Staff: staffSvc,
		SecureTransport: cfg.SecureTransport(), TrustedProxies: cfg.TrustedProxies,
	})
	if err != nil {
		return err
	}
	siteLn, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("customer site listener: %w", err)
	}
	staffLn, err := net.Listen("tcp", cfg.StaffAddr)
	if err != nil {
		_ = siteLn.Close()
		return fmt.Errorf("staff console listener: %w", err)
	}
	// Each listener gets its own copy of the TLS configuration: ServeTLS
	// adds the HTTP/2 protocol to the one it is given, and two servers
	// starting at once would otherwise write the same value concurrently.
	servers := []*http.Server{newHTTPServer(srv.Site(), tlsConfig.Clone(), log), newHTTPServer(srv.Staff(), tlsConfig.Clone(), log)}
	listeners := []net.Listener{siteLn, staffLn}
	if acmeHTTP != nil {
		ln, err := net.Listen("tcp", cfg.ACMEHTTPAddr)
		if err != nil {
			_, _ = siteLn.Close(), staffLn.Close()
			return fmt.Errorf("ACME HTTP-01 listener: %w", err)
		}
		servers = append(servers, newHTTPServer(acmeHTTP, nil, log))
		listeners = append(listeners, ln)
		log.Info("ACME HTTP-01 listener", "addr", ln.Addr().String())
	}
	metricsLn, metricsSrv, err := metricsListener(cfg, db, log)
	if err != nil {
		for _, ln := range listeners {
			_ = ln.Close()
		}
		return err
	}
	readyAttrs := []any{"instance", instance, "database", db.Where}
	if metricsLn != nil {
		servers, listeners = append(servers, metricsSrv), append(listeners, metricsLn)
		go watchRotations(mailCtx, db, log)
		readyAttrs = append(readyAttrs, "metrics", "http://"+metricsLn.Addr().String()+"/metrics")
	}

	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() {
			var err error
			if hs.TLSConfig != nil {
				err = hs.ServeTLS(listeners[i], "", "")
			} else {
				err = hs.Serve(listeners[i])
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	if len(demo) > 0 {
		if err := printDemo(stdout, demo, scheme+"://"+siteLn.Addr().String(), scheme+"://"+staffLn.Addr().String()); err != nil {
			log.Error("printing the demo sign-ins", "err", err)
		}
	}
	log.Info("ready", append(readyAttrs,
		"site", scheme+"://"+siteLn.Addr().String(), "staff", scheme+"://"+staffLn.Addr().String())...)
	if ready != nil {
		ready(siteLn.Addr(), staffLn.Addr())
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	for _, hs := range servers {
		if err := hs.Shutdown(shutdownCtx); err != nil {
			serveErr = errors.Join(serveErr, fmt.Errorf("shutdown: %w", err))
		}
	}
	return serveErr
}

// reloadKeys follows the key set kept in the database, so that keys added
// by `keys rotate` in another process, on any host, are used here within
// keys.ReloadEvery.
func reloadKeys(ctx context.Context, v *vault.Vault, log *slog.Logger) {
	every(ctx, keyrotation.ReloadEvery, func() {
		changed, err := v.Reload()
		metrics.KeyReload(changed, err)
		if err != nil {
			log.Error("key set reload", "err", err)
		} else if changed {
			log.Info("key set reloaded", "kek", v.Primary(vault.PurposeKEK), "blind_index", v.Primary(vault.PurposeBlindIndex), "pepper", v.Primary(vault.PurposePepper))
		}
	})
}

// keyRecoveryCodes converts recovery codes still stored as a bare digest
// (written before codes were keyed) to their MAC under the pepper, once at
// start, in the background: codes keep working meanwhile.
func keyRecoveryCodes(ctx context.Context, accounts *account.Service, log *slog.Logger) {
	n, err := accounts.KeyLegacyRecoveryCodes(ctx)
	if err != nil && ctx.Err() == nil {
		log.Error("keying recovery codes", "err", err, "converted", n)
	} else if n > 0 {
		log.Info("recovery codes keyed under the pepper", "converted", n)
	}
}

// every runs fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// newSender is the SMTP relay when one is configured, else the development
// maildir under the data directory.
func newSender(cfg config.Config, log *slog.Logger) (mail.Sender, error) {
	if u := cfg.SMTPURL.Reveal(); u != "" {
		parsed, err := url.Parse(u)
		if err != nil {
			return nil, errors.New("--smtp-url is not a valid URL")
		}
		// The configured relay is the only mail host ever dialled.
		return mail.NewSMTP(u, cfg.MailFrom, []string{parsed.Hostname()}, log)
	}
	return mail.NewMaildir(cfg.MailDir, cfg.MailFrom, log)
}

// serverTLS is the TLS configuration of both listeners: TLS 1.2 or 1.3, and
// under TLS 1.2 only the ECDHE suites with an AEAD cipher (AES-GCM,
// ChaCha20-Poly1305), so every connection has forward secrecy and none uses
// CBC with HMAC-SHA1 (Lucky Thirteen) or RSA key exchange. TLS 1.3 suites
// are all AEAD with forward secrecy and are not configurable in Go.
func serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// newHTTPServer sets the timeouts that keep slow or idle clients from
// holding connections open.
func newHTTPServer(h http.Handler, tc *tls.Config, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tc,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Migrate applies pending migrations to the configured database, after
// checking that the key set given belongs to it. On an empty embedded
// database it also creates the key set; an empty MySQL database gets one
// only if a master key is given (else from `keys init` or the first serve).
func Migrate(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	db, err := sqlstore.Open(ctx, cfg.Database.Reveal(), cfg.DataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	before, _, err := db.SchemaVersion(ctx)
	if err != nil {
		before = 0 // no version table yet: a new database
	}
	if _, err := openKeys(ctx, cfg, log, db, true, keysIfMaster); err != nil {
		return err
	}
	current, want, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s: applied %d migration(s); schema at version %d\n", db.Where, max(current-before, 0), want)
	return err
}
