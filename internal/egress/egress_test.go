package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// countingListener accepts on 127.0.0.1 and counts the connections made to it.
func countingListener(t *testing.T) (addr string, port string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return ln.Addr().String(), port, accepted
}

// countingResolver fails every lookup and counts them, to show when a
// name is resolved.
func countingResolver() (*net.Resolver, *atomic.Int32) {
	n := new(atomic.Int32)
	return &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			n.Add(1)
			return nil, errors.New("no DNS in this test")
		},
	}, n
}

func TestEgressRefusesHostNotInAllowList(t *testing.T) {
	addr, port, accepted := countingListener(t)
	resolver, lookups := countingResolver()
	d := Dialer{Allowed: []string{"localhost", "relay.example.com"}, Timeout: 2 * time.Second, Resolver: resolver}

	for _, target := range []string{
		addr,                                   // the listener's IP literal: only "localhost" is listed
		net.JoinHostPort("::1", port),          // another literal for this machine
		net.JoinHostPort("evil.example", port), // a name not listed
		net.JoinHostPort("relay.example.com.evil.example", port), // not a suffix match
		net.JoinHostPort("x.relay.example.com", port),            // nor a subdomain match
		net.JoinHostPort("169.254.169.254", "80"),                // cloud metadata
	} {
		c, err := d.DialContext(t.Context(), "tcp", target)
		if err == nil {
			_ = c.Close()
			t.Fatalf("dialled %s outside the allow-list", target)
		}
		if !errors.Is(err, ErrNotAllowed) {
			t.Errorf("dial %s: %v, want ErrNotAllowed", target, err)
		}
	}
	if _, err := d.DialContext(t.Context(), "udp", net.JoinHostPort("localhost", port)); err == nil || errors.Is(err, ErrNotAllowed) {
		t.Errorf("udp: %v, want a refusal of the network", err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Errorf("the listener got %d connections from refused dials", n)
	}
	if n := lookups.Load(); n != 0 {
		t.Errorf("%d DNS lookups for refused names: names must be checked before they are resolved", n)
	}

	// An allowed name is resolved (after the check): this resolver fails.
	if _, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort("relay.example.com", "25")); err == nil || errors.Is(err, ErrNotAllowed) {
		t.Errorf("allowed name: %v, want a resolution error", err)
	}
	if lookups.Load() == 0 {
		t.Error("an allowed name was not resolved")
	}
}

func TestEgressReachesAllowedHost(t *testing.T) {
	addr, port, accepted := countingListener(t)
	for _, allowed := range [][]string{{"127.0.0.1"}, {" [127.0.0.1] "}} {
		d := Dialer{Allowed: allowed}
		c, err := d.DialContext(t.Context(), "tcp", addr)
		if err != nil {
			t.Fatalf("allow-list %q: %v", allowed, err)
		}
		_ = c.Close()
	}
	// A name in the list is dialled by name.
	d := Dialer{Allowed: []string{"LOCALHOST."}}
	c, err := d.DialContext(t.Context(), "tcp4", net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	deadline := time.Now().Add(2 * time.Second)
	for accepted.Load() != 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := accepted.Load(); n != 3 {
		t.Errorf("listener accepted %d connections, want 3", n)
	}
}

func TestEgressControlSeesResolvedAddress(t *testing.T) {
	addr, _, accepted := countingListener(t)
	refuse := errors.New("refused by control")
	d := Dialer{Allowed: []string{"127.0.0.1"}, Control: func(string, string, syscall.RawConn) error { return refuse }}
	if _, err := d.DialContext(t.Context(), "tcp", addr); !errors.Is(err, refuse) {
		t.Fatalf("dial: %v, want the control's refusal", err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d connections made despite the control", n)
	}
}

func TestEgressAllows(t *testing.T) {
	d := Dialer{Allowed: []string{"Mail.Example.COM", "[::1]", "192.0.2.7", ""}}
	for host, want := range map[string]bool{
		"mail.example.com":  true,
		"MAIL.EXAMPLE.COM.": true,
		"mail.example.co":   false,
		"::1":               true,
		"[0:0::1]":          true,
		"192.0.2.7":         true,
		"192.0.2.8":         false,
		"":                  false,
		"localhost":         false,
	} {
		if got := d.Allows(host); got != want {
			t.Errorf("Allows(%q) = %v, want %v", host, got, want)
		}
	}
	if (Dialer{}).Allows("localhost") {
		t.Error("the zero Dialer allows a host")
	}
}

func TestEgressHTTPClientRefusesOtherHostsAndRedirects(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	client := Dialer{Allowed: []string{u.Hostname()}}.HTTPClient(nil)
	if tr := client.Transport.(*http.Transport); tr.Proxy != nil || tr.TLSClientConfig.MinVersion < tls.VersionTLS12 {
		t.Error("the client may use a proxy from the environment (another host) or TLS below 1.2")
	}
	res, err := client.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	res, err = client.Get(srv.URL + "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Errorf("redirect followed: status %d", res.StatusCode)
	}

	other := Dialer{Allowed: []string{"kms.example.com"}}.HTTPClient(nil)
	if _, err := other.Get(srv.URL + "/"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("client reached a host outside its allow-list: %v", err)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("server saw %d requests, want 2", n)
	}
}
