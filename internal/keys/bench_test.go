package keys

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/testutil"
)

// benchCustomers is how many customers the rotation benchmarks seed
// (docs/contract.md §12 measures 100,000); RESGUARDO_BENCH_CUSTOMERS overrides it.
func benchCustomers(b *testing.B) int {
	if v := os.Getenv("RESGUARDO_BENCH_CUSTOMERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 100_000
}

// BenchmarkRotateKEK re-wraps every data key under a new KEK; the figure
// docs/contract.md §12 sets is customers per second (≥ 20,000 on SQLite). Run with
// -benchtime=1x: each iteration is a whole rotation.
func BenchmarkRotateKEK(b *testing.B) {
	for _, backend := range testutil.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			env := testutil.NewEnv(b, backend, nil)
			n := benchCustomers(b)
			testutil.SeedCustomers(b, env, n)
			r := &Rotator{DB: env.DB, Vault: env.Vault, Reindexer: env.Accounts, Log: env.Log, BatchSize: 1000}
			var total time.Duration
			for b.Loop() {
				start := time.Now()
				rep, err := r.RotateKEK(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				if rep.Changed != n {
					b.Fatalf("re-wrapped %d of %d", rep.Changed, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "customers/s")
		})
	}
}
