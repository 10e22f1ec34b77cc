// Command coldstart measures resguardo's cold start: from exec of the binary
// with an empty data directory to the first 200 from /readyz. It talks only
// to loopback and stops by itself after -n runs.
//
//	go build -o bin/resguardo ./cmd/resguardo
//	go run ./tools/coldstart -bin bin/resguardo -n 30
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/resguardo", "resguardo binary")
	n := flag.Int("n", 30, "number of cold starts")
	flag.Parse()
	var runs []time.Duration
	for i := range *n {
		d, err := once(*bin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "run %d: %v\n", i, err)
			os.Exit(1)
		}
		runs = append(runs, d)
	}
	slices.Sort(runs)
	pct := func(p float64) time.Duration { return runs[int(p*float64(len(runs)-1))] }
	fmt.Printf("cold start to ready, %d runs: min %v  median %v  p95 %v  max %v\n",
		len(runs), runs[0].Round(time.Millisecond/10), pct(0.5).Round(time.Millisecond/10),
		pct(0.95).Round(time.Millisecond/10), runs[len(runs)-1].Round(time.Millisecond/10))
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func once(bin string) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "coldstart")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	site, err := freePort()
	if err != nil {
		return 0, err
	}
	staff, err := freePort()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// #nosec G204 -- the operator names the binary to measure
	cmd := exec.CommandContext(ctx, bin, "serve", "--data-dir", dir+"/data", "--addr", site, "--staff-addr", staff, "--log-level", "warn")
	client := &http.Client{Timeout: 100 * time.Millisecond}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	for ctx.Err() == nil {
		resp, err := client.Get("http://" + site + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		time.Sleep(500 * time.Microsecond)
	}
	return 0, fmt.Errorf("not ready within 10 s")
}
