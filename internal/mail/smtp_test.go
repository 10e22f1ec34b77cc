package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const testPassword = "s3cret-Pa55"

func loopbackSender(t *testing.T, rawURL string, log *slog.Logger) *smtpSender {
	t.Helper()
	s, err := NewSMTP(rawURL, testFrom, []string{"127.0.0.1", "localhost", "::1"}, log)
	if err != nil {
		t.Fatal(err)
	}
	ss := s.(*smtpSender)
	ss.timeout = 5 * time.Second
	return ss
}

func resetMessage(t *testing.T) Message {
	t.Helper()
	m, err := Compose(KindPasswordReset, "es", testTo, Data{Link: "https://shop.example/reset?token=abc123", Minutes: 30})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func decodedBody(t *testing.T, data []byte) (*netmail.Message, string) {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, data)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	return m, string(body)
}

func TestSMTPLoopbackDelivery(t *testing.T) {
	f := startFakeSMTP(t, &fakeSMTP{})
	var logBuf bytes.Buffer
	s := loopbackSender(t, fmt.Sprintf("smtp://127.0.0.1:%d", f.port()), slog.New(slog.NewJSONHandler(&logBuf, nil)))
	if s.transport != plainLoopback {
		t.Fatalf("transport = %v, want plain loopback", s.transport)
	}
	m := resetMessage(t)
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	_, cmds, auths, msgs := f.snapshot()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages (commands %v)", len(msgs), cmds)
	}
	got := msgs[0]
	if got.from != "FROM:<no-reply@shop.example>" || !slices.Equal(got.rcpt, []string{"TO:<" + testTo + ">"}) {
		t.Errorf("envelope: from %q rcpt %q", got.from, got.rcpt)
	}
	if len(auths) != 0 {
		t.Errorf("AUTH sent without credentials: %v", auths)
	}
	parsed, body := decodedBody(t, got.data)
	if !strings.Contains(body, "https://shop.example/reset?token=abc123") || !strings.Contains(body, "30 minutos") {
		t.Errorf("body did not arrive intact:\n%s", body)
	}
	if to, err := parsed.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != testTo {
		t.Errorf("To = %v (%v)", to, err)
	}
	logged := logBuf.String()
	if !strings.Contains(logged, "mail sent") || strings.Contains(logged, testTo) || strings.Contains(logged, "token") {
		t.Errorf("log line: %s", logged)
	}
}

func TestSMTPLoopbackAuth(t *testing.T) {
	f := startFakeSMTP(t, &fakeSMTP{user: "mailer", pass: testPassword})
	s := loopbackSender(t, fmt.Sprintf("smtp://mailer:%s@localhost:%d", testPassword, f.port()), nil)
	if err := s.Send(context.Background(), resetMessage(t)); err != nil {
		t.Fatal(err)
	}
	_, _, auths, msgs := f.snapshot()
	if len(auths) != 1 || auths[0].user != "mailer" || auths[0].pass != testPassword || len(msgs) != 1 {
		t.Errorf("auths %v, %d messages", auths, len(msgs))
	}
}

func TestSMTPIPv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	f := serveFakeSMTP(t, ln, &fakeSMTP{})
	s := loopbackSender(t, fmt.Sprintf("smtp://[::1]:%d", f.port()), nil)
	if err := s.Send(context.Background(), resetMessage(t)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, msgs := f.snapshot(); len(msgs) != 1 {
		t.Errorf("%d messages received", len(msgs))
	}
}

func TestSMTPStartTLS(t *testing.T) {
	tlsConf, pool := testCert(t, "127.0.0.1")
	wrongConf, wrongPool := testCert(t, "mail.example.com")

	tests := []struct {
		name      string
		server    *fakeSMTP
		pool      bool // trust the test CA
		wantErr   bool
		wantInErr string
	}{
		{"upgrades, then authenticates and sends", &fakeSMTP{tlsConf: tlsConf, user: "mailer", pass: testPassword}, true, false, ""},
		{"server without STARTTLS is refused, no fallback", &fakeSMTP{user: "mailer", pass: testPassword}, true, true, "STARTTLS"},
		{"server hiding STARTTLS is refused", &fakeSMTP{tlsConf: tlsConf, noTLS: true, user: "mailer", pass: testPassword}, true, true, "STARTTLS"},
		{"certificate for another name is refused", &fakeSMTP{tlsConf: wrongConf, user: "mailer", pass: testPassword}, true, true, "certificate"},
		{"untrusted certificate is refused", &fakeSMTP{tlsConf: tlsConf, user: "mailer", pass: testPassword}, false, true, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFakeSMTP(t, tt.server)
			s := loopbackSender(t, fmt.Sprintf("smtp://mailer:%s@127.0.0.1:%d", testPassword, f.port()), nil)
			// Loopback would be plain; force what a remote host gets.
			s.transport = startTLS
			if tt.pool {
				s.rootCAs = pool
				if tt.server.tlsConf == wrongConf {
					s.rootCAs = wrongPool
				}
			}
			err := s.Send(context.Background(), resetMessage(t))
			_, cmds, auths, msgs := f.snapshot()
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				if len(auths) != 1 || !auths[0].tls || len(msgs) != 1 || !msgs[0].tls {
					t.Errorf("auth %v / messages %d: not over TLS", auths, len(msgs))
				}
				return
			}
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantInErr)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error contains the password: %v", err)
			}
			if len(auths) != 0 || slices.Contains(cmds, "AUTH") || slices.Contains(cmds, "MAIL") || len(msgs) != 0 {
				t.Errorf("credentials or mail sent despite missing TLS: commands %v", cmds)
			}
		})
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	tlsConf, pool := testCert(t, "127.0.0.1")

	t.Run("delivers over TLS", func(t *testing.T) {
		f := startFakeSMTP(t, &fakeSMTP{tlsConf: tlsConf, implicit: true, user: "mailer", pass: testPassword})
		s := loopbackSender(t, fmt.Sprintf("smtps://mailer:%s@127.0.0.1:%d", testPassword, f.port()), nil)
		if s.transport != implicitTLS {
			t.Fatalf("transport = %v", s.transport)
		}
		s.rootCAs = pool
		if err := s.Send(context.Background(), resetMessage(t)); err != nil {
			t.Fatal(err)
		}
		_, cmds, auths, msgs := f.snapshot()
		if slices.Contains(cmds, "STARTTLS") {
			t.Errorf("STARTTLS inside implicit TLS: %v", cmds)
		}
		if len(auths) != 1 || !auths[0].tls || auths[0].pass != testPassword || len(msgs) != 1 {
			t.Fatalf("auths %v, %d messages", auths, len(msgs))
		}
		if _, body := decodedBody(t, msgs[0].data); !strings.Contains(body, "https://shop.example/reset?token=abc123") {
			t.Errorf("body:\n%s", body)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		f := startFakeSMTP(t, &fakeSMTP{tlsConf: tlsConf, implicit: true, user: "mailer", pass: testPassword})
		s := loopbackSender(t, fmt.Sprintf("smtps://mailer:%s@127.0.0.1:%d", testPassword, f.port()), nil)
		err := s.Send(context.Background(), resetMessage(t))
		if err == nil || !strings.Contains(err.Error(), "certificate") || strings.Contains(err.Error(), testPassword) {
			t.Fatalf("Send = %v", err)
		}
		if _, _, auths, _ := f.snapshot(); len(auths) != 0 {
			t.Errorf("credentials sent to an unverified server")
		}
	})
}

func TestSMTPErrorsHideSecrets(t *testing.T) {
	t.Run("authentication failure echoing the password", func(t *testing.T) {
		f := startFakeSMTP(t, &fakeSMTP{authFail: "535 5.7.8 bad credentials for mailer/" + testPassword})
		s := loopbackSender(t, fmt.Sprintf("smtp://mailer:%s@127.0.0.1:%d", testPassword, f.port()), nil)
		err := s.Send(context.Background(), resetMessage(t))
		if err == nil {
			t.Fatal("Send succeeded")
		}
		if strings.Contains(err.Error(), testPassword) {
			t.Errorf("error contains the password: %v", err)
		}
		if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "535") {
			t.Errorf("error %v: want ErrRejected with the reply code", err)
		}
	})
	t.Run("recipient refused with the address echoed", func(t *testing.T) {
		f := startFakeSMTP(t, &fakeSMTP{rcptFail: "550 5.1.1 <" + testTo + ">: no such user"})
		s := loopbackSender(t, fmt.Sprintf("smtp://127.0.0.1:%d", f.port()), nil)
		err := s.Send(context.Background(), resetMessage(t))
		if err == nil {
			t.Fatal("Send succeeded")
		}
		if strings.Contains(err.Error(), testTo) || strings.Contains(err.Error(), "ana.garcia") {
			t.Errorf("error contains the recipient: %v", err)
		}
		if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "5.1.1") {
			t.Errorf("error %v: want ErrRejected with reply 550 5.1.1", err)
		}
	})
	t.Run("temporary failure is not a rejection", func(t *testing.T) {
		f := startFakeSMTP(t, &fakeSMTP{rcptFail: "451 4.3.0 try later"})
		s := loopbackSender(t, fmt.Sprintf("smtp://127.0.0.1:%d", f.port()), nil)
		err := s.Send(context.Background(), resetMessage(t))
		if err == nil || errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "451") {
			t.Errorf("Send = %v, want a non-permanent error with 451", err)
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		s := loopbackSender(t, fmt.Sprintf("smtp://mailer:%s@127.0.0.1:%d", testPassword, port), nil)
		err = s.Send(context.Background(), resetMessage(t))
		if err == nil || strings.Contains(err.Error(), testPassword) || errors.Is(err, ErrRejected) {
			t.Errorf("Send = %v", err)
		}
	})
}

func TestSMTPContextEndsTheSession(t *testing.T) {
	f := startFakeSMTP(t, &fakeSMTP{silent: true}) // accepts, never greets
	s := loopbackSender(t, fmt.Sprintf("smtp://127.0.0.1:%d", f.port()), nil)
	s.timeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, resetMessage(t))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Send took %v after the context ended", d)
	}
}

func TestSMTPConcurrentSends(t *testing.T) {
	f := startFakeSMTP(t, &fakeSMTP{user: "mailer", pass: testPassword})
	s := loopbackSender(t, fmt.Sprintf("smtp://mailer:%s@127.0.0.1:%d", testPassword, f.port()), nil)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- s.Send(context.Background(), Message{To: testTo, Subject: fmt.Sprint("n", i), Text: "hello\n"})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if _, _, _, msgs := f.snapshot(); len(msgs) != n {
		t.Errorf("%d messages received, want %d", len(msgs), n)
	}
}

func TestSMTPRefusesInvalidMessage(t *testing.T) {
	f := startFakeSMTP(t, &fakeSMTP{})
	s := loopbackSender(t, fmt.Sprintf("smtp://127.0.0.1:%d", f.port()), nil)
	err := s.Send(context.Background(), Message{To: testTo, Subject: "Hi\r\nBcc: victim@example.com", Text: "x"})
	if !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Send = %v, want ErrInvalidMessage", err)
	}
	if conns, _, _, _ := f.snapshot(); conns != 0 {
		t.Errorf("invalid message caused %d connections", conns)
	}
}

func TestNewSMTPURL(t *testing.T) {
	remote := []string{"mail.example.com", "127.0.0.1", "localhost", "::1"}
	accepted := []struct {
		url       string
		allowed   []string
		port      int
		transport transport
		user      string
	}{
		{"smtps://mailer:" + testPassword + "@mail.example.com:465", remote, 465, implicitTLS, "mailer"},
		{"smtps://mailer:" + testPassword + "@mail.example.com", remote, 465, implicitTLS, "mailer"},
		{"smtp://mailer:" + testPassword + "@mail.example.com:587", remote, 587, startTLS, "mailer"},
		{"smtp://mail.example.com", remote, 587, startTLS, ""},
		{"smtp://mail.example.com:2525", remote, 2525, startTLS, ""},
		{"SMTP://Mail.Example.COM:587/", []string{"MAIL.example.com"}, 587, startTLS, ""},
		{"smtp://localhost", remote, 25, plainLoopback, ""},
		{"smtp://127.0.0.1:25", remote, 25, plainLoopback, ""},
		{"smtp://[::1]:2525", []string{"[::1]"}, 2525, plainLoopback, ""},
		{"smtps://localhost", remote, 465, implicitTLS, ""},
		{"smtp://user%40corp:p%40ss%2Fw@mail.example.com", remote, 587, startTLS, "user@corp"},
		{"smtps://mailer:" + testPassword + "@mail.invalid", []string{"mail.invalid"}, 465, implicitTLS, "mailer"}, // never resolved
	}
	for _, tt := range accepted {
		t.Run("accepts "+tt.url, func(t *testing.T) {
			s, err := NewSMTP(tt.url, testFrom, tt.allowed, nil)
			if err != nil {
				t.Fatal(err)
			}
			ss := s.(*smtpSender)
			if ss.port != tt.port || ss.transport != tt.transport || ss.user != tt.user {
				t.Errorf("port %d transport %v user %q; want %d %v %q", ss.port, ss.transport, ss.user, tt.port, tt.transport, tt.user)
			}
			if ss.timeout <= 0 {
				t.Error("no timeout")
			}
			if c := ss.tlsConfig(); c.MinVersion < 0x0303 || c.ServerName != ss.host || c.InsecureSkipVerify {
				t.Errorf("TLS config %+v", c)
			}
		})
	}

	refused := []struct {
		name, url string
		allowed   []string
		want      string
	}{
		{"non-loopback without TLS", "smtp://mailer:" + testPassword + "@mail.example.com:25", remote, "not loopback"},
		{"non-loopback without TLS, no credentials", "smtp://mail.example.com:25", remote, "not loopback"},
		{"unknown scheme", "http://mailer:" + testPassword + "@mail.example.com", remote, "scheme"},
		{"submission scheme", "submission://mail.example.com", remote, "scheme"},
		{"no scheme", "mail.example.com:587", remote, ""},
		{"host outside allow-list", "smtps://mailer:" + testPassword + "@evil.example.net", remote, "allow-list"},
		{"allow-list is exact, not a suffix", "smtps://mail.example.com.evil.net", remote, "allow-list"},
		{"allow-list is exact, not a subdomain", "smtps://x.mail.example.com", remote, "allow-list"},
		{"empty allow-list", "smtps://mail.example.com", nil, "allow-list"},
		{"loopback also needs the allow-list", "smtp://localhost", []string{"mail.example.com"}, "allow-list"},
		{"no host", "smtps://mailer:" + testPassword + "@:465", remote, "host"},
		{"bad port", "smtps://mailer:" + testPassword + "@mail.example.com:99999", remote, "port"},
		{"non-numeric port", "smtps://mailer:" + testPassword + "@mail.example.com:abc", remote, ""},
		{"bad escape in the password", "smtps://mailer:" + testPassword + "%zz@mail.example.com", remote, "percent-encoding"},
		{"space in the password", "smtps://mailer:" + testPassword + " x@mail.example.com", remote, ""},
		{"user without password", "smtps://mailer@mail.example.com", remote, "both"},
		{"password without user", "smtps://:" + testPassword + "@mail.example.com", remote, "both"},
		{"NUL in the user", "smtps://a%00b:" + testPassword + "@mail.example.com", remote, "control"},
		{"query", "smtps://mailer:" + testPassword + "@mail.example.com?tls=off", remote, "query"},
		{"path", "smtps://mailer:" + testPassword + "@mail.example.com/x", remote, "path"},
		{"fragment", "smtps://mailer:" + testPassword + "@mail.example.com#x", remote, "fragment"},
		{"opaque", "smtps:mailer:" + testPassword + "@mail.example.com", remote, ""},
		{"empty", "", remote, ""},
	}
	for _, tt := range refused {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			s, err := NewSMTP(tt.url, testFrom, tt.allowed, nil)
			if err == nil {
				t.Fatalf("NewSMTP accepted %q: %+v", tt.url, s)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), "Pa55") {
				t.Errorf("error contains the password: %v", err)
			}
		})
	}

	t.Run("refuses a bad sender address", func(t *testing.T) {
		if _, err := NewSMTP("smtps://mail.example.com", "nobody", remote, nil); err == nil {
			t.Error("accepted")
		}
	})
}

func TestNewSMTPNeverDialsOutsideAllowList(t *testing.T) {
	f := startFakeSMTP(t, &fakeSMTP{})
	// The server is on 127.0.0.1; only "localhost" is allowed, and the match is by name.
	if _, err := NewSMTP(fmt.Sprintf("smtp://127.0.0.1:%d", f.port()), testFrom, []string{"localhost"}, nil); err == nil {
		t.Fatal("NewSMTP accepted a host outside the allow-list")
	}
	// Construction of an allowed sender does not dial either.
	if _, err := NewSMTP(fmt.Sprintf("smtp://127.0.0.1:%d", f.port()), testFrom, []string{"127.0.0.1"}, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if conns, _, _, _ := f.snapshot(); conns != 0 {
		t.Errorf("%d connections made at construction", conns)
	}
}

func TestSMTPDialerOnlyDialsConfiguredAddress(t *testing.T) {
	f := startFakeSMTP(t, &fakeSMTP{})
	other := startFakeSMTP(t, &fakeSMTP{})
	s := loopbackSender(t, fmt.Sprintf("smtp://127.0.0.1:%d", f.port()), nil)
	dial := s.dialer(func(net.Conn) {})
	c, err := dial(context.Background(), "tcp", fmt.Sprintf("127.0.0.1:%d", other.port()))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if _, err := dial(context.Background(), "udp", "127.0.0.1:53"); err == nil {
		t.Error("dialer accepted udp")
	}
	time.Sleep(50 * time.Millisecond)
	if conns, _, _, _ := other.snapshot(); conns != 0 {
		t.Error("dialer connected to an address other than the configured one")
	}
	if conns, _, _, _ := f.snapshot(); conns != 1 {
		t.Errorf("configured server got %d connections, want 1", conns)
	}
}

// The sender's connections go through the egress dialer: with its allow-list
// emptied, a send fails naming the allow-list and nothing is dialled.
func TestSMTPDialsThroughEgress(t *testing.T) {
	f := startFakeSMTP(t, &fakeSMTP{})
	s := loopbackSender(t, fmt.Sprintf("smtp://127.0.0.1:%d", f.port()), nil)
	s.egress.Allowed = nil
	err := s.Send(t.Context(), resetMessage(t))
	if err == nil || !strings.Contains(err.Error(), "allow-list") {
		t.Fatalf("Send = %v, want a refusal by the outbound allow-list", err)
	}
	time.Sleep(50 * time.Millisecond)
	if conns, _, _, _ := f.snapshot(); conns != 0 {
		t.Errorf("%d connections made by a sender whose allow-list refuses its relay", conns)
	}
}

func TestRequireLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:25": true, "127.1.2.3:25": true, "[::1]:25": true,
		"192.0.2.10:25": false, "[2001:db8::1]:25": false, "10.0.0.1:25": false,
	} {
		if err := requireLoopback("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("requireLoopback(%s) = %v", addr, err)
		}
	}
}
