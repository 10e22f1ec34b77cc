// Command signins is the sign-in load run of issue 14: it registers N
// customers through the public API (each from its own loopback source
// address, so the per-network sign-up limit is not what is measured), then
// signs them in with the right password over C connections from one
// address for a while, rotating over all of them, and prints the answers
// by status code with the rate. A right password must never meet a wait:
// any 429 is reported, and the exit status is 1.
//
//	go run ./tools/load/signins -base http://127.0.0.1:18080 -customers 500 -conc 16 -duration 20s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

const password = "correct horse battery staple"

func main() {
	base := flag.String("base", "http://127.0.0.1:18080", "customer site (loopback)")
	customers := flag.Int("customers", 500, "customers to register and sign in")
	conc := flag.Int("conc", 16, "connections signing in at once, all from 127.0.0.1")
	duration := flag.Duration("duration", 20*time.Second, "how long to sign in")
	flag.Parse()
	if u, err := url.Parse(*base); err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) {
		fmt.Fprintln(os.Stderr, "signins: -base must be an http:// URL on a loopback address")
		os.Exit(2)
	}
	if *customers < 1 || *customers > 250*250 || *conc < 1 {
		fmt.Fprintln(os.Stderr, "signins: -customers must be 1 to 62500 (one source address each), -conc at least 1")
		os.Exit(2)
	}
	if err := run(*base, *customers, *conc, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "signins:", err)
		os.Exit(1)
	}
}

func isLoopback(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func client(src net.IP, conns int) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: src}}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: d.DialContext, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
}

func post(ctx context.Context, c *http.Client, url string, body any) (int, error) {
	js, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(js))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func email(i int) string { return fmt.Sprintf("signin-load-%04d@example.com", i) }

func run(base string, customers, conc int, duration time.Duration) error {
	ctx := context.Background()
	// Registration: 4 at a time, customer i from 127.20.(i/250).(i%250+1).
	start := time.Now()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= customers {
					return
				}
				c := client(net.ParseIP(fmt.Sprintf("127.20.%d.%d", i/250, i%250+1)), 1)
				code, err := post(ctx, c, base+"/api/v1/auth/register",
					map[string]string{"email": email(i), "password": password, "name": "Load Customer"})
				c.CloseIdleConnections()
				if err != nil || code != http.StatusAccepted {
					failed.Add(1)
					fmt.Fprintf(os.Stderr, "register %d: %d %v\n", i, code, err)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		return fmt.Errorf("%d of %d registrations failed", failed.Load(), customers)
	}
	fmt.Printf("registered %d customers in %.1f s\n", customers, time.Since(start).Seconds())

	// Sign-in: conc connections from one address, rotating over every customer.
	c := client(net.IPv4(127, 0, 0, 1), conc)
	var mu sync.Mutex
	codes := map[int]int{}
	errs := 0
	deadline := time.Now().Add(duration)
	start = time.Now()
	for w := range conc {
		wg.Go(func() {
			for i := w * customers / conc; time.Now().Before(deadline); i = (i + 1) % customers {
				code, err := post(ctx, c, base+"/api/v1/auth/login", map[string]string{"email": email(i), "password": password})
				mu.Lock()
				if err != nil {
					errs++
				} else {
					codes[code]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	total := errs
	keys := make([]int, 0, len(codes))
	for k, n := range codes {
		keys = append(keys, k)
		total += n
	}
	sort.Ints(keys)
	fmt.Printf("sign-ins: %d in %.1f s over %d connections, %.1f/s; by status:", total, el, conc, float64(codes[200])/el)
	for _, k := range keys {
		fmt.Printf(" %d=%d", k, codes[k])
	}
	fmt.Printf(" errors=%d\n", errs)
	if codes[http.StatusTooManyRequests] > 0 {
		return fmt.Errorf("%d right-password sign-ins were told to wait (429)", codes[http.StatusTooManyRequests])
	}
	return nil
}
