package staff

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/testutil"
)

// BenchmarkSearch is docs/contract.md §12's staff search: a lead finds one customer by
// exact phone or exact e-mail among RESGUARDO_BENCH_CUSTOMERS (default
// 1,000,000) seeded customers. Each search is the whole service call: blind
// index lookup, reading and decrypting the masked view, and the committed
// audit entry of the view. It reports p50, p90, p99 and maximum latencies.
// Run with -benchtime=3000x.
func BenchmarkSearch(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("RESGUARDO_BENCH_CUSTOMERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	for _, backend := range testutil.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			f := newFixture(b, backend)
			testutil.SeedCustomers(b, f.env, n)
			lead := f.signIn("lead@corp.example", f.enrol("lead@corp.example", resguardo.RoleLead))
			for _, by := range []string{"phone", "email"} {
				b.Run(by, func(b *testing.B) {
					var lat []time.Duration
					i := 0
					for b.Loop() {
						k := (i * 7919) % n // spread over the table
						q := testutil.SeedEmail(k)
						if by == "phone" {
							q = testutil.SeedPhone(k)
						}
						start := time.Now()
						found, err := f.staff.Search(b.Context(), lead, q)
						lat = append(lat, time.Since(start))
						if err != nil || len(found) != 1 {
							b.Fatalf("search %q: %d found, %v", q, len(found), err)
						}
						i++
					}
					slices.Sort(lat)
					ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
					b.ReportMetric(ms(0.50), "p50-ms")
					b.ReportMetric(ms(0.90), "p90-ms")
					b.ReportMetric(ms(0.99), "p99-ms")
					b.ReportMetric(ms(1), "max-ms")
				})
			}
		})
	}
}
