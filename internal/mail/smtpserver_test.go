package mail

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSMTP is a minimal SMTP server for tests: EHLO/HELO, STARTTLS, AUTH PLAIN, MAIL, RCPT,
// DATA, RSET, NOOP, QUIT; it records what it receives.
type fakeSMTP struct {
	ln       net.Listener
	tlsConf  *tls.Config // offered through STARTTLS, or used from the start when implicit
	implicit bool
	noTLS    bool // do not offer STARTTLS even when tlsConf is set
	user     string
	pass     string
	authFail string // reply to AUTH, overriding the check
	rcptFail string // reply to RCPT
	silent   bool   // accept connections but never greet

	mu       sync.Mutex
	conns    int
	cmds     []string
	authSeen []authRecord
	msgs     []received
	wg       sync.WaitGroup
}

type authRecord struct {
	user, pass string
	tls        bool
}

type received struct {
	from string
	rcpt []string
	data []byte
	tls  bool
}

func startFakeSMTP(t *testing.T, f *fakeSMTP) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveFakeSMTP(t, ln, f)
}

func serveFakeSMTP(t *testing.T, ln net.Listener, f *fakeSMTP) *fakeSMTP {
	t.Helper()
	f.ln = ln
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns++
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		f.wg.Wait()
	})
	return f
}

func (f *fakeSMTP) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

func (f *fakeSMTP) snapshot() (conns int, cmds []string, auths []authRecord, msgs []received) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns, append([]string(nil), f.cmds...), append([]authRecord(nil), f.authSeen...),
		append([]received(nil), f.msgs...)
}

func (f *fakeSMTP) serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if f.silent {
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}
	isTLS := false
	if f.implicit {
		c = tls.Server(c, f.tlsConf)
		isTLS = true
	}
	tp := textproto.NewConn(c)
	reply := func(lines ...string) {
		for _, l := range lines {
			if err := tp.PrintfLine("%s", l); err != nil {
				return
			}
		}
	}
	reply("220 fake.test ESMTP ready")
	var cur received
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		f.mu.Lock()
		f.cmds = append(f.cmds, verb)
		f.mu.Unlock()
		switch verb {
		case "EHLO":
			lines := []string{"250-fake.test"}
			if f.tlsConf != nil && !isTLS && !f.noTLS {
				lines = append(lines, "250-STARTTLS")
			}
			if f.user != "" || f.authFail != "" {
				lines = append(lines, "250-AUTH PLAIN")
			}
			reply(append(lines, "250 ENHANCEDSTATUSCODES")...)
		case "HELO":
			reply("250 fake.test")
		case "STARTTLS":
			if f.tlsConf == nil || isTLS || f.noTLS {
				reply("502 5.5.1 not available")
				continue
			}
			reply("220 2.0.0 go ahead")
			c = tls.Server(c, f.tlsConf)
			tp = textproto.NewConn(c)
			isTLS = true
			cur = received{}
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				reply("504 5.5.4 mechanism not supported")
				continue
			}
			if initial == "" {
				reply("334 ")
				if initial, err = tp.ReadLine(); err != nil {
					return
				}
			}
			raw, _ := base64.StdEncoding.DecodeString(initial)
			parts := strings.Split(string(raw), "\x00")
			rec := authRecord{tls: isTLS}
			if len(parts) == 3 {
				rec.user, rec.pass = parts[1], parts[2]
			}
			f.mu.Lock()
			f.authSeen = append(f.authSeen, rec)
			f.mu.Unlock()
			switch {
			case f.authFail != "":
				reply(f.authFail)
			case rec.user == f.user && rec.pass == f.pass:
				reply("235 2.7.0 authenticated")
			default:
				reply("535 5.7.8 authentication failed")
			}
		case "MAIL":
			cur = received{from: arg, tls: isTLS}
			reply("250 2.1.0 ok")
		case "RCPT":
			if f.rcptFail != "" {
				reply(f.rcptFail)
				continue
			}
			cur.rcpt = append(cur.rcpt, arg)
			reply("250 2.1.5 ok")
		case "DATA":
			reply("354 end with .")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			cur.data = data
			f.mu.Lock()
			f.msgs = append(f.msgs, cur)
			f.mu.Unlock()
			cur = received{}
			reply("250 2.0.0 queued")
		case "RSET":
			cur = received{}
			reply("250 2.0.0 ok")
		case "NOOP":
			reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("502 5.5.2 unknown command")
		}
	}
}

// testCert returns a self-signed server certificate for the given names and a pool trusting it.
func testCert(t *testing.T, names ...string) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fake smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	conf := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
	}
	return conf, pool
}
