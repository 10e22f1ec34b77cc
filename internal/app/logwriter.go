package app

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resguardo/resguardo/internal/audit"
)

// logQueueLines bounds the lines waiting for the log's writer: about a
// megabyte of access-log lines, a few seconds of a busy server.
const logQueueLines = 4096

// dropReportEvery is how often, at most, the writer reports lines it had to
// drop; the final count is always reported when the log closes.
const dropReportEvery = 10 * time.Second

// asyncLog puts a bounded queue and one writer goroutine between slog and
// the process's log output, so that a request never waits for stderr (a
// slow terminal, a stalled pipe to a log collector). When the queue is
// full, ordinary lines are dropped and counted; lines that must not be lost
// (errors, audit checkpoints) wait for room instead.
type asyncLog struct {
	out   io.Writer
	queue chan *[]byte
	pool  sync.Pool // *[]byte line buffers, returned after writing
	// mu is held for reading by every write and for writing by Close, so
	// that no line is queued after the queue is closed.
	mu     sync.RWMutex
	closed bool
	// outMu orders the direct writes made after Close.
	outMu   sync.Mutex
	done    chan struct{}
	dropped atomic.Int64
	// waiting counts lines that must be kept and are waiting for room.
	waiting atomic.Int64
	// reported is the drop count last reported; only the writer goroutine
	// (and Close, after it ended) touches it.
	reported int64
	lastNote time.Time
}

func newAsyncLog(out io.Writer, lines int) *asyncLog {
	l := &asyncLog{out: out, queue: make(chan *[]byte, lines), done: make(chan struct{})}
	go l.run()
	return l
}

// lossy and keep are the two doors into the queue; slog's JSON handler
// writes each record with one Write call, which is one line.
type lossyWriter struct{ l *asyncLog }
type keepWriter struct{ l *asyncLog }

func (w lossyWriter) Write(p []byte) (int, error) { return w.l.write(p, false) }
func (w keepWriter) Write(p []byte) (int, error)  { return w.l.write(p, true) }

func (l *asyncLog) write(p []byte, keep bool) (int, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		// After Close the writer goroutine is gone: write directly.
		l.outMu.Lock()
		defer l.outMu.Unlock()
		return l.out.Write(p)
	}
	// The handler reuses p after Write returns: queue a copy.
	bp, _ := l.pool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	*bp = append((*bp)[:0], p...)
	if keep {
		select {
		case l.queue <- bp:
		default:
			l.waiting.Add(1)
			l.queue <- bp
			l.waiting.Add(-1)
		}
		return len(p), nil
	}
	select {
	case l.queue <- bp:
	default:
		l.dropped.Add(1)
		l.pool.Put(bp)
	}
	return len(p), nil
}

func (l *asyncLog) run() {
	defer close(l.done)
	for bp := range l.queue {
		// A failed write to stderr has nowhere better to be reported.
		_, _ = l.out.Write(*bp)
		if cap(*bp) <= 4096 { // do not keep a rare huge line (a stack) alive
			l.pool.Put(bp)
		}
		if n := l.dropped.Load(); n > l.reported && time.Since(l.lastNote) >= dropReportEvery {
			l.noteDrops(n)
		}
	}
}

// noteDrops writes one line saying how many log lines were dropped so far.
func (l *asyncLog) noteDrops(n int64) {
	l.reported, l.lastNote = n, time.Now()
	slog.New(slog.NewJSONHandler(l.out, nil)).LogAttrs(context.Background(), slog.LevelWarn,
		"log lines dropped: the log output was slower than the server", slog.Int64("dropped_total", n))
}

// Close writes every queued line, reports the lines dropped, and makes
// later writes synchronous. It waits for the output to accept the queue.
func (l *asyncLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	close(l.queue)
	<-l.done
	if n := l.dropped.Load(); n > l.reported {
		l.noteDrops(n)
	}
}

// mustKeep reports whether a record may never be dropped: errors, and the
// audit checkpoints an operator copies out of the log to check the trail.
func mustKeep(r slog.Record) bool {
	return r.Level >= slog.LevelError || r.Message == audit.CheckpointLogMessage
}

// splitHandler sends records that must be kept through one handler and the
// rest through another, both formatting the same way.
type splitHandler struct {
	lossy, keep slog.Handler
	queue       *asyncLog // where both write
}

func (h splitHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.lossy.Enabled(ctx, level)
}

func (h splitHandler) Handle(ctx context.Context, r slog.Record) error {
	if mustKeep(r) {
		return h.keep.Handle(ctx, r)
	}
	return h.lossy.Handle(ctx, r)
}

func (h splitHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return splitHandler{lossy: h.lossy.WithAttrs(as), keep: h.keep.WithAttrs(as), queue: h.queue}
}

func (h splitHandler) WithGroup(name string) slog.Handler {
	return splitHandler{lossy: h.lossy.WithGroup(name), keep: h.keep.WithGroup(name), queue: h.queue}
}

// NewServeLogger is NewLogger for the server: the same JSON lines, written
// by a goroutine of their own so that no request waits on the output.
// close flushes the queue; call it once the server has stopped.
func NewServeLogger(w io.Writer, level slog.Level) (log *slog.Logger, close func()) {
	return newServeLogger(w, level, logQueueLines)
}

func newServeLogger(w io.Writer, level slog.Level, lines int) (*slog.Logger, func()) {
	q := newAsyncLog(w, lines)
	opts := &slog.HandlerOptions{Level: level}
	h := splitHandler{lossy: slog.NewJSONHandler(lossyWriter{q}, opts), keep: slog.NewJSONHandler(keepWriter{q}, opts), queue: q}
	return slog.New(h), q.Close
}
