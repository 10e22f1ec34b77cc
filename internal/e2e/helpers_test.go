package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/resguardo/resguardo/internal/app"
	"github.com/resguardo/resguardo/internal/config"
	"github.com/resguardo/resguardo/internal/testutil"
)

// timeout bounds every wait on the server or the browser, so that a hung
// Chromium fails the test instead of stalling it until go test's own limit.
const timeout = 30 * time.Second

// browserEnv set to "required" turns a missing Chromium from a skip into a
// failure.
const browserEnv = "RESGUARDO_TEST_BROWSER"

// chromiumPaths is where the browser is looked for, Debian's package first.
var chromiumPaths = []string{"/usr/bin/chromium", "chromium", "chromium-browser"}

// server is a running resguardo, reachable over loopback.
type server struct {
	SiteURL  string // customer site, e.g. http://127.0.0.1:40123
	StaffURL string // staff console
	Config   config.Config
}

// startApp runs the real server through app.Serve, the same path as
// `resguardo serve`, on ephemeral loopback ports with a fresh SQLite database.
// The server stops when the test ends; its log is printed only if the test
// failed, since every request adds a line.
// Extra args are appended to the command line (a flag given twice takes
// the later value).
func startApp(t *testing.T, args ...string) server {
	t.Helper()
	// An empty environment keeps a developer's RESGUARDO_* variables (a
	// MySQL URL, another data directory) out of the test.
	noEnv := func(string) string { return "" }
	// The staff listener is named localhost rather than 127.0.0.1 only
	// because Validate compares the two addresses as strings and rejects
	// equal ones, port 0 included. Go listens on 127.0.0.1 for localhost.
	cfg, err := config.Load("serve", append([]string{
		"--addr", "127.0.0.1:0",
		"--staff-addr", "127.0.0.1:0",
		"--data-dir", t.TempDir(),
	}, args...), noEnv, io.Discard)
	if err != nil {
		t.Fatalf("config: %v", err)
	}

	logs := &testutil.SyncBuffer{}
	type addrs struct{ site, staff net.Addr }
	ready := make(chan addrs, 1)
	done := make(chan struct{})
	var serveErr error
	go func() {
		defer close(done)
		// t.Context is cancelled just before cleanups run, which is what
		// starts the graceful shutdown.
		serveErr = app.Serve(t.Context(), cfg, app.NewLogger(logs, slog.LevelDebug),
			func(site, staff net.Addr) { ready <- addrs{site, staff} })
	}()
	t.Cleanup(func() {
		<-done
		if serveErr != nil {
			t.Errorf("app.Serve: %v", serveErr)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})

	select {
	case a := <-ready:
		return server{SiteURL: "http://" + a.site.String(), StaffURL: "http://" + a.staff.String(), Config: cfg}
	case <-done:
		t.Fatalf("app.Serve returned before it was ready: %v", serveErr)
	case <-time.After(timeout):
		t.Fatalf("server not ready after %v", timeout)
	}
	return server{} // not reached: Fatalf stops the test
}

// findChromium returns the browser's path, or skips the test when there is
// none (fails it when RESGUARDO_TEST_BROWSER=required).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, p := range chromiumPaths {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv(browserEnv) == "required" {
		t.Fatalf("no Chromium found (looked for %q) and %s=required", chromiumPaths, browserEnv)
	}
	t.Skipf("no Chromium found (looked for %q); set %s=required to fail instead", chromiumPaths, browserEnv)
	return ""
}

// setup starts the server and a browser for one test. The order matters:
// Chromium is looked for first, so that a skip starts nothing; the browser
// starts after the server, so that cleanup closes it first and the server's
// graceful shutdown is not left waiting on the browser's open sockets.
func setup(t *testing.T) (server, context.Context) {
	t.Helper()
	exe := findChromium(t)
	srv := startApp(t)
	return srv, startBrowser(t, exe)
}

// startBrowser starts the headless Chromium at exe for the test and returns
// its chromedp context; open pages with newTab. The browser is stopped, and
// its profile removed, when the test ends.
func startBrowser(t *testing.T, exe string) context.Context {
	t.Helper()
	output := &testutil.SyncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.CombinedOutput(output),
		chromedp.Headless,
		// Test machines run as root in containers, where Chromium's sandbox
		// cannot start; the browser only ever loads our own loopback pages.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// The network is closed except for loopback: keep Chromium from
		// reaching out (and from stalling on it) for updates, sync, QUIC
		// probes and the like.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// No UserDataDir option: the allocator then makes a fresh temporary
		// profile per browser and removes it after killing any leftover
		// child processes, which t.TempDir's cleanup could not do.
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc() // waits for the process to exit
		if t.Failed() {
			t.Logf("Chromium output:\n%s", output)
		}
	})
	start(t, browser, cancelBrowser, "Chromium")
	return browser
}

// newTab opens a new tab in the browser. It closes when the calling test or
// subtest ends.
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	start(t, tab, cancel, "browser tab")
	return tab
}

// start runs the first, empty action on a chromedp context, which starts the
// browser or opens the tab. chromedp ties the browser's or tab's life to the
// context of that first call, so it cannot carry a timeout; the wait is
// bounded from outside instead, cancelling the context when time is up.
func start(t *testing.T, ctx context.Context, cancel context.CancelFunc, what string) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- chromedp.Do(ctx) }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("start %s: %v", what, err)
		}
	case <-timer.C:
		cancel()
		t.Fatalf("%s did not start within %v", what, timeout)
	}
}
