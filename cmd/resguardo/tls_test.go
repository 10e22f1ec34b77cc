package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTestCert writes a self-signed RSA certificate for 127.0.0.1 and its
// key as PEM files, and returns their paths.
func writeTestCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// Both listeners speak TLS 1.2 only with ECDHE and an AEAD cipher: a client
// offering only a CBC-SHA1 suite (or only RSA key exchange) is refused in
// the handshake; one offering an AEAD suite, or TLS 1.3, connects.
func TestServeTLSOffersOnlyAEADSuitesWithForwardSecrecy(t *testing.T) {
	certFile, keyFile := writeTestCert(t)
	environ := map[string]string{"RESGUARDO_DATA_DIR": filepath.Join(t.TempDir(), "data")}
	ready, _ := startServe(t, environ, []string{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0",
		"--tls-cert", certFile, "--tls-key", keyFile})
	if !strings.HasPrefix(ready.Site, "https://") || !strings.HasPrefix(ready.Staff, "https://") {
		t.Fatalf("listeners %+v are not HTTPS", ready)
	}
	for _, listener := range []string{ready.Site, ready.Staff} {
		addr := strings.TrimPrefix(listener, "https://")
		for _, c := range []struct {
			name    string
			version uint16
			suite   uint16
			ok      bool
		}{
			{"ECDHE-RSA AES-128-CBC-SHA", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, false},
			{"ECDHE-RSA AES-256-CBC-SHA", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, false},
			{"RSA AES-128-GCM (no forward secrecy)", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_GCM_SHA256, false},
			{"ECDHE-RSA AES-128-GCM", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, true},
			{"ECDHE-RSA AES-256-GCM", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, true},
			{"ECDHE-RSA ChaCha20-Poly1305", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, true},
			{"TLS 1.3", tls.VersionTLS13, 0, true},
		} {
			t.Run(addr+" "+c.name, func(t *testing.T) {
				cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: c.version, MaxVersion: c.version} // #nosec G402 -- a test certificate; the suite is under test
				if c.suite != 0 {
					cfg.CipherSuites = []uint16{c.suite}
				}
				conn, err := tls.Dial("tcp", addr, cfg)
				if c.ok {
					if err != nil {
						t.Fatalf("handshake: %v", err)
					}
					if st := conn.ConnectionState(); c.suite != 0 && st.CipherSuite != c.suite {
						t.Errorf("negotiated %s", tls.CipherSuiteName(st.CipherSuite))
					}
					_ = conn.Close()
					return
				}
				if err == nil {
					_ = conn.Close()
					t.Fatalf("handshake with only %s succeeded", c.name)
				}
			})
		}
	}
}
