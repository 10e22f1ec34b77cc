package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"

	"github.com/resguardo/resguardo/internal/egress"
)

// transport is how the connection to the relay is protected.
type transport int

const (
	implicitTLS   transport = iota + 1 // smtps://: TLS from the first byte
	startTLS                           // smtp:// to a remote host: STARTTLS, mandatory
	plainLoopback                      // smtp:// to a loopback host: no TLS, never leaves the machine
)

func (t transport) String() string {
	switch t {
	case implicitTLS:
		return "implicit TLS"
	case startTLS:
		return "STARTTLS (required)"
	case plainLoopback:
		return "plain (loopback only)"
	}
	return "unknown"
}

const defaultSMTPTimeout = 20 * time.Second

// smtpSender is immutable after construction; each Send builds its own go-mail client and
// connection, so concurrent sends share nothing.
type smtpSender struct {
	host      string // host name or IP, without brackets
	port      int
	addr      string        // host:port, the only address ever dialled
	egress    egress.Dialer // the outbound allow-list every connection goes through
	transport transport
	user      string
	pass      string
	env       envelope
	log       *slog.Logger
	timeout   time.Duration  // per connection step (dial, handshake, each command)
	rootCAs   *x509.CertPool // nil: the system roots; tests set their own
}

// NewSMTP returns the production sender for an SMTP URL:
//
//	smtps://user:pass@host[:465]   implicit TLS
//	smtp://user:pass@host[:587]    STARTTLS required (never falls back to plain)
//	smtp://[user:pass@]host[:25]   no TLS; only when host is loopback (a local relay)
//
// TLS 1.2 minimum; the certificate is verified against the host name. smtp:// to a host that
// is not loopback always uses STARTTLS, and port 25 (the plain relay port) is refused there.
// User name and password are percent-decoded from the URL; give both or neither. No query,
// fragment or path is accepted, so nothing is silently ignored.
//
// allowedHosts is the outbound allow-list (an [egress.Dialer]): the URL's host must be in
// it (exact match, see [egress.Dialer.Allowed]), else an error; every connection goes
// through that dialer, and no other address is ever dialled. Construction never
// dials. Errors never include the password (nor the URL, which contains it).
func NewSMTP(rawURL, from string, allowedHosts []string, log *slog.Logger) (Sender, error) {
	s, err := parseSMTPURL(rawURL, allowedHosts)
	if err != nil {
		return nil, err
	}
	env, err := newEnvelope(from)
	if err != nil {
		return nil, err
	}
	s.env = env
	s.log = orDiscard(log)
	s.timeout = defaultSMTPTimeout
	return s, nil
}

func parseSMTPURL(rawURL string, allowedHosts []string) (*smtpSender, error) {
	// url.Parse errors quote the URL or parts of it (an invalid escape may be in the
	// password), so none of its text is passed on.
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		return nil, errors.New("mail: SMTP URL is not a valid URL (check the percent-encoding of user and password)")
	}
	var t transport
	switch u.Scheme {
	case "smtps":
		t = implicitTLS
	case "smtp":
		t = startTLS
	case "":
		return nil, errors.New("mail: SMTP URL has no scheme (use smtps:// or smtp://)")
	default:
		return nil, fmt.Errorf("mail: SMTP URL scheme %q is not supported (use smtps:// or smtp://)", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, errors.New("mail: SMTP URL must look like smtps://user:pass@host:port")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, errors.New("mail: SMTP URL must not have a path, query or fragment")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("mail: SMTP URL has no host")
	}
	out := egress.Dialer{Allowed: slices.Clone(allowedHosts)}
	if !out.Allows(host) {
		return nil, fmt.Errorf("mail: SMTP host %q is not in the outbound allow-list", host)
	}
	loopback := isLoopbackHost(host)
	if t == startTLS && loopback {
		t = plainLoopback
	}

	port := 0
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, errors.New("mail: SMTP URL port must be a number from 1 to 65535")
		}
		port = n
	}
	switch {
	case port == 0 && t == implicitTLS:
		port = 465
	case port == 0 && t == startTLS:
		port = 587
	case port == 0:
		port = 25
	case port == 25 && t == startTLS:
		return nil, fmt.Errorf("mail: SMTP host %q is not loopback: plain SMTP on port 25 is only allowed "+
			"to a local relay; use smtps://%s:465 (implicit TLS) or smtp://%s:587 (STARTTLS)", host, host, host)
	}

	s := &smtpSender{
		host:      host,
		port:      port,
		addr:      net.JoinHostPort(host, strconv.Itoa(port)),
		egress:    out,
		transport: t,
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
		if s.user == "" || s.pass == "" {
			return nil, errors.New("mail: SMTP URL must give both user and password, or neither")
		}
		for _, r := range s.user + s.pass {
			if unicode.IsControl(r) {
				return nil, errors.New("mail: SMTP user or password contains a control character")
			}
		}
	}
	return s, nil
}

// isLoopbackHost reports whether host names this machine: "localhost" or a loopback IP.
// The dialer checks the address it actually connects to as well (see requireLoopback).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// requireLoopback is a dialer Control function: it refuses, before connecting, any
// resolved address that is not loopback, so plain SMTP cannot leave the machine even when
// "localhost" resolves somewhere unexpected.
func requireLoopback(_, address string, _ syscall.RawConn) error {
	h, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("mail: refusing plain SMTP to non-loopback address %s", h)
	}
	return nil
}

func (s *smtpSender) tlsConfig() *tls.Config {
	return &tls.Config{
		ServerName: s.host,
		MinVersion: tls.VersionTLS12,
		RootCAs:    s.rootCAs,
	}
}

// Send delivers m over a new connection. ctx bounds the whole exchange: when it ends, the
// connection is closed and Send returns ctx's error.
func (s *smtpSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mail: smtp: %w", err)
	}
	msg, err := s.env.build(m, time.Now(), gomail.EncodingQP)
	if err != nil {
		return err
	}

	var (
		mu   sync.Mutex
		conn net.Conn
	)
	closeConn := func() {
		mu.Lock()
		defer mu.Unlock()
		if conn != nil {
			_ = conn.Close()
		}
	}
	track := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conn = c
	}
	stop := context.AfterFunc(ctx, closeConn)
	defer stop()
	defer closeConn() // go-mail leaves the connection open on some error paths

	client, err := gomail.NewClient(s.host, s.options(s.dialer(track))...)
	if err != nil {
		return s.sanitise(ctx, err, m.To)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return s.sanitise(ctx, err, m.To)
	}
	s.log.InfoContext(ctx, "mail sent", slog.String("smtp_host", s.host))
	return nil
}

func (s *smtpSender) options(dial gomail.DialContextFunc) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(s.tlsConfig()),
	}
	switch s.transport {
	case implicitTLS:
		// The dialer does the TLS handshake itself; this only stops go-mail from trying
		// STARTTLS inside the TLS session.
		opts = append(opts, gomail.WithSSL())
	case startTLS:
		// WithTLSPolicy, not WithTLSPortPolicy: the latter can add a plain fallback port.
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.user == "" {
		return append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthNoAuth))
	}
	opts = append(opts, gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	if s.transport == plainLoopback {
		// Loopback only (enforced by the dialer); go-mail otherwise refuses PLAIN without
		// TLS for any loopback name other than localhost, 127.0.0.1 and ::1.
		return append(opts, gomail.WithOpportunisticSMTPAuth(
			gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc))
	}
	// Over TLS. Preferred mechanisms first; PLAIN and LOGIN still refuse to run unless the
	// session is encrypted.
	return append(opts, gomail.WithOpportunisticSMTPAuth(
		gomail.SMTPAuthSCRAMSHA256PLUS, gomail.SMTPAuthSCRAMSHA256,
		gomail.SMTPAuthPlain, gomail.SMTPAuthLogin))
}

// dialer returns the only dial function go-mail gets: it ignores the address go-mail asks for
// and always dials s.addr (go-mail formats IPv6 addresses without brackets) through the
// egress allow-list, checks that plain connections stay on loopback, and performs the
// implicit-TLS handshake.
func (s *smtpSender) dialer(track func(net.Conn)) gomail.DialContextFunc {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		if network != "tcp" {
			return nil, fmt.Errorf("mail: smtp: refusing to dial network %q", network)
		}
		d := s.egress
		d.Timeout = s.timeout
		if s.transport == plainLoopback {
			d.Control = requireLoopback
		}
		raw, err := d.DialContext(ctx, "tcp", s.addr)
		if err != nil {
			return nil, err
		}
		if s.transport != implicitTLS {
			track(raw)
			return raw, nil
		}
		tc := tls.Client(raw, s.tlsConfig())
		track(tc)
		hctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			_ = raw.Close()
			return nil, err
		}
		return tc, nil
	}
}

// sanitise turns a go-mail error into one that names no recipient and no password, keeps the
// SMTP reply code, and wraps ErrRejected for permanent (5xx) replies. Server reply texts are
// dropped from delivery errors because servers echo recipient addresses in them.
func (s *smtpSender) sanitise(ctx context.Context, err error, to string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("mail: smtp %s: %w", s.host, ctxErr)
	}
	code := 0
	var tpErr *textproto.Error
	if errors.As(err, &tpErr) {
		code = tpErr.Code
	}
	var sendErr *gomail.SendError
	if errors.As(err, &sendErr) {
		if c := sendErr.ErrorCode(); c != 0 {
			code = c
		}
		detail := sendErr.Reason.String()
		if code != 0 {
			detail += fmt.Sprintf(": reply %d", code)
			if esc := sendErr.EnhancedStatusCode(); esc != "" {
				detail += " " + esc
			}
		}
		return s.classify(code, detail)
	}
	// Connection, TLS and AUTH errors: useful as they are, minus anything secret.
	text := err.Error()
	if s.pass != "" {
		text = strings.ReplaceAll(text, s.pass, "[redacted]")
	}
	if to != "" {
		text = strings.ReplaceAll(text, to, "[recipient]")
	}
	return s.classify(code, text)
}

func (s *smtpSender) classify(code int, detail string) error {
	if code >= 500 && code < 600 {
		return fmt.Errorf("%w: %s (%s): %s", ErrRejected, s.host, s.transport, detail)
	}
	return fmt.Errorf("mail: smtp %s (%s): %s", s.host, s.transport, detail)
}
