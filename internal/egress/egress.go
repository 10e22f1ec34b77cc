// Package egress is the one way resguardo opens a connection to another
// machine: a dialer that refuses every host not named in configuration.
//
// Outbound traffic goes to the services the operator configured and to
// nothing else: the SMTP relay (--smtp-url, internal/mail), the ACME CA
// (--acme-directory, internal/app/tls.go) and, once it is
// wired, a KMS or HashiCorp Vault holding the key set's master key (see
// internal/vault). Those clients dial through [Dialer]; a client that speaks
// HTTP (Vault, cloud KMS) takes [Dialer.HTTPClient]. No address that comes
// from a request (a customer's or a staff member's input) is ever dialled or
// fetched: the allow-list is built from configuration at start only. A test
// in internal/assurance fails when non-test code outside this package opens a
// connection or an HTTP client of its own.
//
// The database connection is not outbound in this sense: database/sql dials
// only the address of the configured DSN, under the TLS rules of
// internal/sqlstore.
package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// ErrNotAllowed is the error of a dial to a host outside the allow-list.
var ErrNotAllowed = errors.New("egress: host is not in the outbound allow-list")

// Dialer dials only the hosts in Allowed. The zero value refuses everything.
type Dialer struct {
	// Allowed holds host names and IP literals, matched exactly: names
	// case-insensitively (no suffix or subdomain match), IPs by value
	// ("[::1]", "::1" and "0:0::1" are one address). A name does not
	// admit the addresses it resolves to, nor an IP literal a name.
	Allowed []string

	// Timeout bounds the connection set-up (resolution included); 0 is
	// 30 seconds.
	Timeout time.Duration

	// Control, if set, runs on every resolved address before the
	// connection is made (see net.Dialer.Control), for rules about the
	// address itself, such as "loopback only".
	Control func(network, address string, c syscall.RawConn) error

	// Resolver resolves allowed names; nil is net.DefaultResolver.
	Resolver *net.Resolver
}

const defaultTimeout = 30 * time.Second

// Allows reports whether host (a name or an IP literal, with or without
// brackets) is in the allow-list.
func (d Dialer) Allows(host string) bool {
	h := normalise(host)
	if h == "" {
		return false
	}
	hip := net.ParseIP(h)
	for _, a := range d.Allowed {
		a = normalise(a)
		if a == "" {
			continue
		}
		if hip != nil {
			if aip := net.ParseIP(a); aip != nil && aip.Equal(hip) {
				return true
			}
			continue
		}
		if net.ParseIP(a) == nil && a == h {
			return true
		}
	}
	return false
}

// normalise trims spaces and IPv6 brackets, lower-cases, and drops one
// trailing dot of a fully qualified name.
func normalise(host string) string {
	h := strings.TrimSpace(host)
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	h = strings.TrimSuffix(h, ".")
	return strings.ToLower(h)
}

// DialContext connects to address ("host:port") over TCP if host is in the
// allow-list. The check comes first: a refused host is neither resolved
// nor contacted.
func (d Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("egress: refusing to dial network %q", network)
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("egress: %w", err)
	}
	if !d.Allows(host) {
		return nil, fmt.Errorf("%w: %q", ErrNotAllowed, host)
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	nd := net.Dialer{Timeout: timeout, Control: d.Control, Resolver: d.Resolver}
	return nd.DialContext(ctx, network, address)
}

// HTTPClient returns an HTTP client for a KMS or Vault API that connects
// only through d: no proxy from the environment (a proxy would be another
// host), TLS 1.2 at least with the certificate verified (tlsConfig may add
// roots; nil uses the system's), and no redirects followed.
func (d Dialer) HTTPClient(tlsConfig *tls.Config) *http.Client {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if tlsConfig != nil {
		tc = tlsConfig.Clone()
		if tc.MinVersion < tls.VersionTLS12 {
			tc.MinVersion = tls.VersionTLS12
		}
	}
	tc.InsecureSkipVerify = false
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           d.DialContext,
			TLSClientConfig:       tc,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConns:          4,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		Timeout: 2 * timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
