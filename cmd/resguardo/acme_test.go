package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireTool returns the path of a program a test needs, or skips the test
// when it is absent, unless the variable named by requiredVar is "required"
// (CI sets it after installing the program), in which case the test fails.
func requireTool(t *testing.T, name, requiredVar, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	if os.Getenv(requiredVar) == "required" {
		t.Fatalf("%s is not installed and %s=required (apt-get install %s)", name, requiredVar, pkg)
	}
	t.Skipf("%s is not installed (apt-get install %s); set %s=required to make this a failure", name, pkg, requiredVar)
	return ""
}

// dialLoopback connects to the port of addr on 127.0.0.1, whatever its
// host name: test names resolve nowhere else.
func dialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// freePort returns a loopback TCP port nothing listens on now. Servers
// that must be told each other's ports in advance (pebble's validation
// ports) need this; the window before the port is taken again is small.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPebble runs Debian's pebble ACME test CA on loopback, validating
// TLS-ALPN-01 on tlsPort and HTTP-01 on httpPort, and returns its directory
// URL, the PEM file that certifies its own HTTPS endpoint, and the PEM of
// the root it issues under.
func startPebble(t *testing.T, tlsPort, httpPort int) (directory, caBundle string, issuingRoot []byte) {
	t.Helper()
	bin := requireTool(t, "pebble", "RESGUARDO_TEST_ACME", "pebble")
	certFile, keyFile := writeTestCert(t)
	listen, mgmt, dns := freePort(t), freePort(t), freePort(t)
	// autocert refuses single-label names such as localhost, so the test
	// uses acmeTestDomain, which pebble-challtestsrv (same package) resolves
	// to 127.0.0.1 as pebble's DNS server; the machine's resolver is untouched.
	dnsSrv := exec.Command(filepath.Join(filepath.Dir(bin), "pebble-challtestsrv"), // #nosec G204 -- the test's own DNS stub
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dns01", fmt.Sprintf("127.0.0.1:%d", dns), "-management", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"-http01", "", "-https01", "", "-tlsalpn01", "")
	var dnsOut strings.Builder
	dnsSrv.Stdout, dnsSrv.Stderr = &dnsOut, &dnsOut
	if err := dnsSrv.Start(); err != nil {
		t.Fatalf("start pebble-challtestsrv: %v", err)
	}
	t.Cleanup(func() {
		_ = dnsSrv.Process.Kill()
		_ = dnsSrv.Wait()
		if t.Failed() {
			t.Logf("pebble-challtestsrv output:\n%s", dnsOut.String())
		}
	})
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", listen),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", mgmt),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	b, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(t.TempDir(), "pebble.json")
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd := exec.Command(bin, "-config", confFile, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dns)) // #nosec G204 -- the test's own pebble
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pebble: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("pebble output:\n%s", out.String())
		}
	})

	pool := x509.NewCertPool()
	pem, err := os.ReadFile(certFile) // #nosec G304 -- written above
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	directory = fmt.Sprintf("https://127.0.0.1:%d/dir", listen)
	get := func(u string) ([]byte, error) {
		resp, err := client.Get(u)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		return io.ReadAll(resp.Body)
	}
	// Wait (bounded) until pebble answers: it starts in well under a second.
	for i := 0; ; i++ {
		if _, err = get(directory); err == nil {
			break
		}
		if i == 300 {
			t.Fatalf("pebble does not answer at %s: %v\n%s", directory, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	issuingRoot, err = get(fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmt))
	if err != nil {
		t.Fatal(err)
	}
	return directory, certFile, issuingRoot
}

// acmeTestDomain is the name the ACME test gets a certificate for.
const acmeTestDomain = "cuenta.resguardo.test"

// TestServeACMECertificateFromPebble gets a certificate from a real ACME CA
// (Debian's pebble, on loopback) and serves the site with it: a client that
// trusts only pebble's issuing root completes the handshake and reads
// /readyz. Once by TLS-ALPN-01 on the site listener itself (the default: no
// port 80), once by HTTP-01 on --acme-http-addr (pebble's TLS-ALPN-01
// validation then points at a port nobody listens on, so only HTTP-01 can
// succeed), which also redirects other plain-HTTP requests to HTTPS.
func TestServeACMECertificateFromPebble(t *testing.T) {
	for _, http01 := range []bool{false, true} {
		name := "TLS-ALPN-01"
		if http01 {
			name = "HTTP-01"
		}
		t.Run(name, func(t *testing.T) {
			sitePort, httpPort := freePort(t), freePort(t)
			pebbleTLSPort := sitePort
			if http01 {
				pebbleTLSPort = freePort(t) // nothing listens there
			}
			directory, caBundle, root := startPebble(t, pebbleTLSPort, httpPort)

			dataDir := filepath.Join(t.TempDir(), "data")
			args := []string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(sitePort), "--staff-addr", "127.0.0.1:0",
				"--acme-domain", acmeTestDomain, "--acme-directory", directory, "--acme-ca-bundle", caBundle,
				"--acme-email", "ops@example.com"}
			if http01 {
				args = append(args, "--acme-http-addr", "127.0.0.1:"+strconv.Itoa(httpPort))
			}
			ready, _ := startServe(t, map[string]string{"RESGUARDO_DATA_DIR": dataDir}, args)
			if !strings.HasPrefix(ready.Site, "https://") {
				t.Fatalf("site listener %s is not HTTPS", ready.Site)
			}

			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(root) {
				t.Fatalf("pebble's root is not PEM: %q", root)
			}
			// The first handshake makes the server ask pebble for the
			// certificate; it waits for validation and issuance.
			client := &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
				DialContext:     dialLoopback,
			}}
			resp, err := client.Get(fmt.Sprintf("https://%s:%d/readyz", acmeTestDomain, sitePort))
			if err != nil {
				t.Fatalf("GET /readyz with pebble's root trusted: %v", err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /readyz = %s", resp.Status)
			}
			leaf := resp.TLS.PeerCertificates[0]
			if err := leaf.VerifyHostname(acmeTestDomain); err != nil {
				t.Errorf("served certificate: %v", err)
			}
			if !strings.Contains(strings.ToLower(leaf.Issuer.CommonName), "pebble") {
				t.Errorf("served certificate issued by %q, want pebble's intermediate", leaf.Issuer.CommonName)
			}

			// A name outside --acme-domain gets no certificate (nothing is
			// asked of the CA for it): the handshake fails.
			other := &tls.Dialer{Config: &tls.Config{RootCAs: roots, ServerName: "other.resguardo.test", MinVersion: tls.VersionTLS12}}
			if conn, err := other.DialContext(t.Context(), "tcp", fmt.Sprintf("127.0.0.1:%d", sitePort)); err == nil {
				_ = conn.Close()
				t.Errorf("a handshake for a name outside --acme-domain succeeded")
			}

			// The account key and certificate are cached in the data
			// directory, readable by the service user only.
			cache := filepath.Join(dataDir, "acme")
			if fi, err := os.Stat(cache); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("certificate cache %s: %v, mode %v; want 0700", cache, err, fi.Mode().Perm())
			}
			if !fileExists(filepath.Join(cache, acmeTestDomain)) {
				entries, _ := os.ReadDir(cache)
				t.Errorf("no cached certificate for %s in %s: %v", acmeTestDomain, cache, entries)
			}

			if http01 {
				// Plain HTTP that is not a challenge goes to HTTPS.
				noFollow := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialLoopback},
					CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				resp, err := noFollow.Get(fmt.Sprintf("http://%s:%d/account", acmeTestDomain, httpPort))
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, "https://"+acmeTestDomain+"/account") {
					t.Errorf("plain HTTP /account = %s, Location %q; want a redirect to https://%s/account", resp.Status, loc, acmeTestDomain)
				}
			}
		})
	}
}
