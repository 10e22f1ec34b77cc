package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/testutil"
)

// The names the proxy test serves; they resolve nowhere: the test's
// clients dial 127.0.0.1 whatever the name (dialLoopback).
const (
	proxySiteName  = "cuenta.resguardo.test"
	proxyStaffName = "staff.resguardo.test"
)

// writeTestCA writes a fresh CA and a server certificate it issues for
// names, as PEM files; it returns the CA pool for clients and the paths of
// the certificate chain and key for the server.
func writeTestCA(t *testing.T, names ...string) (*x509.CertPool, string, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "resguardo test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	chain := filepath.Join(dir, "fullchain.pem")
	keyFile := filepath.Join(dir, "key.pem")
	chainPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	if err := os.WriteFile(chain, chainPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, chain, keyFile
}

// startNginx runs real nginx with deploy/nginx/resguardo.conf, changed
// only where a test must: names, loopback ports, certificate paths, and no
// IPv6 listeners.
func startNginx(t *testing.T, httpPort, httpsPort, sitePort, staffPort int, chain, key string) {
	t.Helper()
	bin := requireTool(t, "nginx", "RESGUARDO_TEST_PROXY", "nginx")
	example, err := os.ReadFile("../../deploy/nginx/resguardo.conf")
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(example), "\n") {
		if !strings.Contains(line, "[::]") {
			kept = append(kept, line)
		}
	}
	conf := strings.NewReplacer(
		"https://cuenta.example.com", fmt.Sprintf("https://%s:%d", proxySiteName, httpsPort),
		"https://staff.example.com", fmt.Sprintf("https://%s:%d", proxyStaffName, httpsPort),
		"cuenta.example.com", proxySiteName,
		"staff.example.com", proxyStaffName,
		"listen 80", fmt.Sprintf("listen 127.0.0.1:%d", httpPort),
		"listen 443", fmt.Sprintf("listen 127.0.0.1:%d", httpsPort),
		"127.0.0.1:8080", fmt.Sprintf("127.0.0.1:%d", sitePort),
		"127.0.0.1:8081", fmt.Sprintf("127.0.0.1:%d", staffPort),
	).Replace(strings.Join(kept, "\n"))
	// The certificate paths contain the names, so they are rewritten after
	// the names.
	conf = strings.NewReplacer(
		"/etc/ssl/resguardo/"+proxySiteName+".fullchain.pem", chain,
		"/etc/ssl/resguardo/"+proxyStaffName+".fullchain.pem", chain,
		"/etc/ssl/resguardo/"+proxySiteName+".key", key,
		"/etc/ssl/resguardo/"+proxyStaffName+".key", key,
	).Replace(conf)
	// A setting added to the example that the test does not rewrite would
	// point nginx at the host's files or names: refuse rather than test
	// something else.
	for _, line := range strings.Split(conf, "\n") {
		if l := strings.TrimSpace(line); !strings.HasPrefix(l, "#") && (strings.Contains(l, "/etc/") || strings.Contains(l, "example.com")) {
			t.Fatalf("deploy/nginx/resguardo.conf line not adapted for the test: %s", l)
		}
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "resguardo.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers read the test's 0700 temp directories
	}
	main := fmt.Sprintf(`%s
daemon off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 64; }
http {
    access_log %[2]s/access.log;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[2]s/resguardo.conf;
}
`, user, dir)
	mainConf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(mainConf, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", mainConf) // #nosec G204 -- the test's own nginx
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log")) // #nosec G304 -- the test's own file
			t.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), errLog)
		}
	})
	for i := 0; ; i++ {
		select {
		case err := <-exited:
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log")) // #nosec G304 -- the test's own file
			t.Fatalf("nginx exited: %v\n%s\n%s", err, out.String(), errLog)
		default:
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort))
		if err == nil {
			_ = c.Close()
			return
		}
		if i == 300 {
			t.Fatalf("nginx does not listen on %d: %v", httpsPort, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServeBehindNginx runs deploy/nginx/resguardo.conf in real nginx in
// front of a real server with --trusted-proxies, and checks through the
// proxy what direct TLS guarantees: the server sees the real client's
// address (and believes X-Forwarded-For only from the proxy), cookies are
// Secure with the __Host- prefix, HSTS is sent, redirects stay on https
// and the public names, and same-origin posts pass the cross-origin check.
func TestServeBehindNginx(t *testing.T) {
	requireTool(t, "nginx", "RESGUARDO_TEST_PROXY", "nginx")
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		roots, chain, key := writeTestCA(t, proxySiteName, proxyStaffName)
		httpPort, httpsPort, sitePort, staffPort := freePort(t), freePort(t), freePort(t), freePort(t)
		siteOrigin := fmt.Sprintf("https://%s:%d", proxySiteName, httpsPort)
		staffOrigin := fmt.Sprintf("https://%s:%d", proxyStaffName, httpsPort)

		dataDir := filepath.Join(t.TempDir(), "data")
		environ := map[string]string{"RESGUARDO_DATA_DIR": dataDir}
		args := []string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(sitePort), "--staff-addr", "127.0.0.1:" + strconv.Itoa(staffPort),
			"--trusted-proxies", "127.0.0.1/32", "--public-url", siteOrigin, "--staff-public-url", staffOrigin}
		if b.Name == "mysql" {
			environ["RESGUARDO_DATABASE"] = testutil.MySQLDatabase(t)
			args = append(args, "--migrate")
			keysInit(t, dataDir, environ["RESGUARDO_DATABASE"])
		}
		var serverLog testutil.SyncBuffer
		startServeLog(t, environ, args, &serverLog)
		startNginx(t, httpPort, httpsPort, sitePort, staffPort, chain, key)

		// The client connects from 127.9.9.9, a loopback address that is
		// neither the proxy's nor in --trusted-proxies, so the server can
		// tell the two apart.
		const clientAddr, clientNet = "127.9.9.9", "127.9.9.0/24"
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientAddr)}}
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		}
		client := &http.Client{Timeout: 30 * time.Second,
			Transport:     &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		do := func(method, u string, header map[string]string, body string) *http.Response {
			t.Helper()
			req, err := http.NewRequest(method, u, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range header {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, u, err)
			}
			_ = resp.Body.Close()
			return resp
		}
		// seenClient is the client network the server logged for a request.
		seenClient := func(resp *http.Response) string {
			t.Helper()
			id := resp.Header.Get("X-Request-Id")
			if id == "" {
				t.Fatalf("%s: no X-Request-Id", resp.Request.URL)
			}
			// Access lines are written off the request path: wait (bounded)
			// for this request's line.
			for i := 0; i < 200; i++ {
				for _, line := range strings.Split(serverLog.String(), "\n") {
					var m map[string]any
					if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" && m["request_id"] == id {
						s, _ := m["client"].(string)
						return s
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatalf("no access log line for request %s", id)
			return ""
		}

		t.Run("client address", func(t *testing.T) {
			resp := do("GET", siteOrigin+"/readyz", nil, "")
			if got := seenClient(resp); got != clientNet {
				t.Errorf("through the proxy the server saw client %q, want %q", got, clientNet)
			}
			// A forged X-Forwarded-For sent to nginx is replaced, not believed.
			resp = do("GET", siteOrigin+"/readyz", map[string]string{"X-Forwarded-For": "198.51.100.7"}, "")
			if got := seenClient(resp); got != clientNet {
				t.Errorf("with a forged X-Forwarded-For through the proxy the server saw %q, want %q", got, clientNet)
			}
			// Straight to the server from an untrusted peer: the header is ignored.
			resp = do("GET", fmt.Sprintf("http://127.0.0.1:%d/readyz", sitePort), map[string]string{"X-Forwarded-For": "198.51.100.7"}, "")
			if got := seenClient(resp); got != clientNet {
				t.Errorf("an untrusted peer's X-Forwarded-For was believed: server saw %q, want %q", got, clientNet)
			}
		})

		t.Run("HSTS and Secure cookies", func(t *testing.T) {
			for _, u := range []string{siteOrigin + "/login", staffOrigin + "/login"} {
				resp := do("GET", u, nil, "")
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s = %s", u, resp.Status)
				}
				if hsts := resp.Header.Values("Strict-Transport-Security"); len(hsts) != 1 || !strings.Contains(hsts[0], "max-age=") {
					t.Errorf("GET %s: Strict-Transport-Security %q, want exactly one with max-age", u, hsts)
				}
				cookies := resp.Cookies()
				if len(cookies) == 0 {
					t.Errorf("GET %s set no cookie (expected the form's pre-session cookie)", u)
				}
				for _, c := range cookies {
					if !c.Secure || !strings.HasPrefix(c.Name, "__Host-") {
						t.Errorf("GET %s: cookie %s Secure=%v, want Secure with the __Host- prefix", u, c.Name, c.Secure)
					}
				}
			}
		})

		t.Run("redirects stay on https and the public names", func(t *testing.T) {
			for _, c := range []struct{ from, wantPrefix string }{
				{siteOrigin + "/account", siteOrigin + "/"},
				{staffOrigin + "/", staffOrigin + "/"},
				{fmt.Sprintf("http://%s:%d/account?x=1", proxySiteName, httpPort), siteOrigin + "/account?x=1"},
				{fmt.Sprintf("http://%s:%d/customers", proxyStaffName, httpPort), staffOrigin + "/customers"},
			} {
				resp := do("GET", c.from, nil, "")
				loc, err := resp.Location()
				if resp.StatusCode/100 != 3 || err != nil {
					t.Errorf("GET %s = %s, Location %v", c.from, resp.Status, err)
					continue
				}
				if !strings.HasPrefix(loc.String(), c.wantPrefix) {
					t.Errorf("GET %s redirects to %s, want %s…", c.from, loc, c.wantPrefix)
				}
			}
		})

		t.Run("same-origin post passes, cross-origin is refused", func(t *testing.T) {
			login := `{"email":"nobody@example.com","password":"not the password at all"}`
			resp := do("POST", siteOrigin+"/api/v1/auth/login", map[string]string{"Origin": siteOrigin, "Content-Type": "application/json"}, login)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("same-origin sign-in through the proxy = %s, want 401 (wrong password), not a cross-origin refusal", resp.Status)
			}
			resp = do("POST", siteOrigin+"/api/v1/auth/login", map[string]string{"Origin": "https://evil.example", "Content-Type": "application/json"}, login)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("cross-origin sign-in through the proxy = %s, want 403", resp.Status)
			}
		})

		t.Run("unknown names are refused by the proxy", func(t *testing.T) {
			bad := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial,
				TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, ServerName: "other.resguardo.test"}}}
			u := (&url.URL{Scheme: "https", Host: fmt.Sprintf("other.resguardo.test:%d", httpsPort), Path: "/readyz"}).String()
			if resp, err := bad.Get(u); err == nil {
				_ = resp.Body.Close()
				t.Errorf("GET %s through the proxy = %s, want the handshake refused", u, resp.Status)
			}
		})
	})
}
