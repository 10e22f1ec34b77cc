package app

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/server"
	"github.com/resguardo/resguardo/internal/testutil"
)

// stalledOutput is a log output that blocks every write until released,
// like a pipe to a log collector that stopped reading. entered is closed
// when the first write arrives.
type stalledOutput struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	buf     bytes.Buffer
}

func newStalledOutput() *stalledOutput {
	return &stalledOutput{entered: make(chan struct{}), release: make(chan struct{})}
}

func (o *stalledOutput) Write(p []byte) (int, error) {
	o.once.Do(func() { close(o.entered) })
	<-o.release
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// lines are the JSON lines written, by message.
func (o *stalledOutput) lines(t *testing.T) map[string][]map[string]any {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string][]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(o.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		msg, _ := m["msg"].(string)
		out[msg] = append(out[msg], m)
	}
	return out
}

const dropMessage = "log lines dropped: the log output was slower than the server"

// With the log output stalled, requests still complete: their access-log
// lines wait in the queue or are dropped and counted, and what was queued
// is written, with the drop count, when the log closes.
func TestServeLogDoesNotBlockRequests(t *testing.T) {
	const queue = 8
	out := newStalledOutput()
	log, closeLog := newServeLogger(out, slog.LevelInfo, queue)
	log.Info("first line") // taken by the writer, which then waits on out
	<-out.entered

	env := testutil.NewEnv(t, testutil.Backends()[0], io.Discard)
	srv, err := server.New(server.Options{Logger: log, DB: env.DB, Accounts: env.Accounts})
	if err != nil {
		t.Fatal(err)
	}
	const requests = queue + 20
	for range requests {
		w := httptest.NewRecorder()
		srv.Site().ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
		if w.Code != http.StatusOK {
			t.Fatalf("GET /healthz = %d", w.Code)
		}
	}

	close(out.release)
	closeLog()
	lines := out.lines(t)
	if n := len(lines["request"]); n != queue {
		t.Errorf("%d access-log lines written, want the %d that fitted in the queue", n, queue)
	}
	drops := lines[dropMessage]
	if len(drops) != 1 || drops[0]["dropped_total"] != float64(requests-queue) || drops[0]["level"] != "WARN" {
		t.Errorf("drop report = %v, want one WARN line with dropped_total %d", drops, requests-queue)
	}
}

// Errors and audit checkpoints are never dropped: with the queue full they
// wait for room, and are written.
func TestServeLogKeepsErrorsAndCheckpoints(t *testing.T) {
	tests := []struct {
		name, msg string
		log       func(*slog.Logger)
	}{
		{"error", "disk on fire", func(l *slog.Logger) { l.Error("disk on fire", "err", "boom") }},
		{"audit checkpoint", audit.CheckpointLogMessage, func(l *slog.Logger) {
			l.Info(audit.CheckpointLogMessage, "seq", 7, "checkpoint", "7:abc")
		}},
		{"audit checkpoint with attributes", audit.CheckpointLogMessage, func(l *slog.Logger) {
			l.With("component", "audit").WithGroup("g").Info(audit.CheckpointLogMessage, "seq", 8)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const queue = 4
			out := newStalledOutput()
			log, closeLog := newServeLogger(out, slog.LevelInfo, queue)
			log.Info("first line")
			<-out.entered
			for range queue + 3 {
				log.Info("ordinary")
			}
			q := queueOf(t, log)
			if got := q.dropped.Load(); got != 3 {
				t.Fatalf("dropped %d ordinary lines, want 3", got)
			}
			var wg sync.WaitGroup
			wg.Go(func() { tt.log(log) })
			// Wait until the line either waits for room or is dropped; only
			// the first is what a working writer does.
			for q.waiting.Load() == 0 && q.dropped.Load() == 3 {
				runtime.Gosched()
			}
			if got := q.dropped.Load(); got != 3 {
				t.Fatalf("the line was dropped (dropped = %d)", got)
			}
			close(out.release)
			wg.Wait()
			closeLog()
			lines := out.lines(t)
			if len(lines[tt.msg]) != 1 {
				t.Errorf("%q written %d times, want once", tt.msg, len(lines[tt.msg]))
			}
			if n := len(lines["ordinary"]); n != queue {
				t.Errorf("%d ordinary lines written, want %d", n, queue)
			}
			if d := lines[dropMessage]; len(d) != 1 || d[0]["dropped_total"] != float64(3) {
				t.Errorf("drop report = %v, want dropped_total 3", d)
			}
			// After close, lines are written directly.
			log.Info("after close")
			if len(out.lines(t)["after close"]) != 1 {
				t.Error("a line logged after close was not written")
			}
		})
	}
}

// queueOf is the asyncLog behind a logger from newServeLogger.
func queueOf(t *testing.T, log *slog.Logger) *asyncLog {
	t.Helper()
	h, ok := log.Handler().(splitHandler)
	if !ok {
		t.Fatalf("handler %T is not the split handler", log.Handler())
	}
	return h.queue
}
