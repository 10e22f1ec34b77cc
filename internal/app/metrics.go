package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/resguardo/resguardo/internal/config"
	keyrotation "github.com/resguardo/resguardo/internal/keys"
	"github.com/resguardo/resguardo/internal/metrics"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// metricsListener opens the metrics listener when --metrics-addr is set
// (Validate has checked it is loopback): a listener of its own, serving
// /metrics and nothing else, so that neither customers nor staff can reach
// the series. It returns nil, nil when metrics are off.
func metricsListener(cfg config.Config, db *sqlstore.DB, log *slog.Logger) (net.Listener, *http.Server, error) {
	if cfg.MetricsAddr == "" {
		return nil, nil, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics listener: %w", err)
	}
	metrics.WatchPool(db.Stats)
	metrics.WatchAuditBacklog(func(ctx context.Context) (int64, time.Time, error) {
		b, err := db.Conn().PendingBacklog(ctx)
		return b.Pending, b.Oldest, err
	})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler())
	// Plain HTTP: the listener is loopback only, where a scraper on the
	// same host (or an agent forwarding it) reads it.
	return ln, newHTTPServer(mux, nil, log), nil
}

// rotationEvery is how often the server re-reads the stored state of key
// rotations for the metrics.
const rotationEvery = 15 * time.Second

// watchRotations keeps the rotation series current: the state keys rotate
// stores (from any host) is read at start and every rotationEvery.
func watchRotations(ctx context.Context, db *sqlstore.DB, log *slog.Logger) {
	read := func() {
		rs, err := keyrotation.Rotations(ctx, db)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("reading key rotation state for metrics", "err", err)
			}
			return
		}
		for _, r := range rs {
			metrics.Rotation(string(r.Purpose), r.Active, r.Done)
		}
	}
	read()
	every(ctx, rotationEvery, read)
}
