package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/resguardo/resguardo/internal/config"
	"github.com/resguardo/resguardo/internal/egress"
)

// listenerTLS is the TLS configuration of both listeners, nil for plain
// HTTP (loopback or behind a trusted proxy). With --acme-domain it also
// returns the handler of the HTTP-01 listener (nil without
// --acme-http-addr).
func listenerTLS(cfg config.Config, log *slog.Logger) (*tls.Config, http.Handler, error) {
	switch {
	case cfg.ACME():
		m, err := acmeManager(cfg, log)
		if err != nil {
			return nil, nil, err
		}
		tc := serverTLS()
		tc.GetCertificate = m.GetCertificate
		// acme-tls/1 lets the CA validate TLS-ALPN-01 on this very listener
		// (autocert answers it in GetCertificate), so no port 80 is needed.
		tc.NextProtos = []string{"h2", "http/1.1", acme.ALPNProto}
		var httpHandler http.Handler
		if cfg.ACMEHTTPAddr != "" {
			// HTTP-01 answers; any other request is redirected to HTTPS on
			// the default port. The host policy is checked against the
			// name without a port (a CA always asks on port 80, which a
			// Host header omits; anything else is a test or a proxy).
			h := m.HTTPHandler(nil)
			httpHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if host, _, err := net.SplitHostPort(r.Host); err == nil {
					r.Host = host
				}
				h.ServeHTTP(w, r)
			})
		}
		return tc, httpHandler, nil
	case cfg.TLS():
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		tc := serverTLS()
		tc.Certificates = []tls.Certificate{cert}
		return tc, nil, nil
	}
	return nil, nil, nil
}

// acmeManager gets and renews certificates for cfg.ACMEDomains from the
// configured CA, caching account key and certificates in <data-dir>/acme
// (0700, files 0600), so restarts do not ask the CA again.
func acmeManager(cfg config.Config, log *slog.Logger) (*autocert.Manager, error) {
	cache := filepath.Join(cfg.DataDir, "acme")
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return nil, fmt.Errorf("ACME certificate cache: %w", err)
	}
	if st, err := os.Stat(cache); err != nil {
		return nil, fmt.Errorf("ACME certificate cache: %w", err)
	} else if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("ACME certificate cache %s is readable by others (mode %v): it holds private keys; chmod 700 it", cache, st.Mode().Perm())
	}
	// The CA is reached only through the egress dialer, with its directory's
	// host as the one allowed host (CAs serve every ACME endpoint from it).
	dir, err := url.Parse(cfg.ACMEDirectory)
	if err != nil {
		return nil, fmt.Errorf("--acme-directory: %w", err)
	}
	var tc *tls.Config
	if cfg.ACMECABundle != "" {
		pem, err := os.ReadFile(cfg.ACMECABundle) // #nosec G304 -- the operator names this file
		if err != nil {
			return nil, fmt.Errorf("--acme-ca-bundle: %w", err)
		}
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--acme-ca-bundle %s holds no PEM certificate", cfg.ACMECABundle)
		}
		tc = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	}
	client := &acme.Client{DirectoryURL: cfg.ACMEDirectory, UserAgent: "resguardo",
		HTTPClient: egress.Dialer{Allowed: []string{dir.Hostname()}}.HTTPClient(tc)}
	log.Info("certificates from ACME", "directory", cfg.ACMEDirectory, "domains", cfg.ACMEDomains, "http01", cfg.ACMEHTTPAddr != "")
	return &autocert.Manager{
		// Giving --acme-domain is the operator's acceptance of the CA's
		// terms of service (docs say so).
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(cache),
		HostPolicy: autocert.HostWhitelist(cfg.ACMEDomains...),
		Client:     client,
		Email:      cfg.ACMEEmail,
	}, nil
}
