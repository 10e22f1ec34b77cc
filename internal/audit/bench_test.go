package audit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
	"github.com/resguardo/resguardo/internal/vault"
)

// benchEntriesEnv sets the size of the chain BenchmarkVerify builds
// (default 100000), e.g. RESGUARDO_BENCH_AUDIT_ENTRIES=1000000.
const benchEntriesEnv = "RESGUARDO_BENCH_AUDIT_ENTRIES"

func benchLog(b *testing.B, be testutil.Backend) (*sqlstore.DB, *audit.Log) {
	b.Helper()
	db, _, _ := be.Open(b)
	keys, err := vault.Open(b.TempDir())
	if err != nil {
		b.Fatalf("vault.Open: %v", err)
	}
	return db, audit.New(db, keys, slog.New(slog.NewTextHandler(io.Discard, nil)), 0, nil)
}

// BenchmarkAppend is Record (a transaction that inserts one entry with its
// leaf MAC) from several connections at once, as requests on several
// servers append, with the sequencer chaining behind them as in a server.
// appends/s should grow with the connections: no row is locked by every
// append. Run it on MariaDB with RESGUARDO_TEST_MYSQL_DSN set, e.g.
//
//	go test -run '^$' -bench BenchmarkAppend -benchtime 3000x ./internal/audit/
func BenchmarkAppend(b *testing.B) {
	for _, be := range testutil.Backends() {
		for _, conns := range []int{1, 2, 4, 8, 16} {
			b.Run(fmt.Sprintf("%s/conns=%d", be.Name, conns), func(b *testing.B) {
				_, l := benchLog(b, be)
				ctx := context.Background()
				runCtx, stop := context.WithCancel(ctx)
				defer stop()
				go l.Run(runCtx)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for range conns {
					wg.Go(func() {
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if err := l.Record(ctx, event(int(i))); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
				stop()
				// Everything appended is chained and verifies.
				if err := l.Close(ctx); err != nil {
					b.Fatal(err)
				}
				if rep, err := l.Verify(ctx, nil); err != nil || !rep.OK() || rep.Pending != 0 || rep.Entries != int64(b.N) {
					b.Fatalf("Verify = %+v, %v", rep, err)
				}
			})
		}
	}
}

// BenchmarkVerify times Verify over a chain whose size does not depend on
// b.N; building it is not timed.
func BenchmarkVerify(b *testing.B) {
	entries := 100000
	if s := os.Getenv(benchEntriesEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q is not a positive number", benchEntriesEnv, s)
		}
		entries = n
	}
	for _, be := range testutil.Backends() {
		b.Run(be.Name+"/"+strconv.Itoa(entries), func(b *testing.B) {
			db, l := benchLog(b, be)
			ctx := context.Background()
			const perTx = 5000
			start := time.Now()
			for done := 0; done < entries; {
				k := min(perTx, entries-done)
				err := db.Tx(ctx, func(c sqlstore.Conn) error {
					for i := done; i < done+k; i++ {
						if err := l.Append(ctx, c, event(i)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatalf("build chain at %d: %v", done, err)
				}
				done += k
			}
			build := time.Since(start)
			b.Logf("built %d entries in %v (%.0f appends/s batched)", entries, build.Round(time.Millisecond), float64(entries)/build.Seconds())

			var timed time.Duration
			runs := 0
			for b.Loop() {
				t0 := time.Now()
				rep, err := l.Verify(ctx, nil)
				timed += time.Since(t0)
				runs++
				if err != nil || !rep.OK() || rep.Entries != int64(entries) {
					b.Fatalf("Verify = %+v, %v", rep, err)
				}
			}
			b.ReportMetric(float64(entries)*float64(runs)/timed.Seconds(), "entries/s")
		})
	}
}
