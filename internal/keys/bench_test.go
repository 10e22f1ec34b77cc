package keys

import (
	"crypto/rand"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
)

// benchCustomers is how many customers the rotation benchmarks seed
// (SPEC §12 measures 100,000); RESGUARDO_BENCH_CUSTOMERS overrides it.
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

// seed writes n customers straight to the store, each with its own wrapped
// data key and a sealed address and name, as registration would (without
// the password hashing, which rotation never touches).
func seed(b *testing.B, env *testutil.Env, n int) {
	b.Helper()
	ctx := b.Context()
	const hash = "$argon2id$v=19$m=19456,t=2,p=1,keyid=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	start := time.Now()
	for done := 0; done < n; {
		err := env.DB.Tx(ctx, func(c sqlstore.Conn) error {
			for i := 0; i < 1000 && done < n; i, done = i+1, done+1 {
				id := rand.Text()
				wrapped, err := env.Vault.NewDataKey(id)
				if err != nil {
					return err
				}
				dk, err := env.Vault.DataKey(id, wrapped)
				if err != nil {
					return err
				}
				email := fmt.Sprintf("bench%07d@example.com", done)
				index, err := env.Vault.BlindIndex("email", email)
				if err != nil {
					return err
				}
				es, err := dk.Seal([]byte(email), "customers", "email_sealed", id)
				if err != nil {
					return err
				}
				ns, err := dk.Seal([]byte("Cliente de Prueba"), "customers", "name_sealed", id)
				if err != nil {
					return err
				}
				env.Vault.Forget(id)
				now := time.Now().Unix()
				if err := c.InsertCustomer(ctx, sqlstore.CustomerRow{ID: id, DataKey: wrapped, EmailIndex: index, EmailSealed: es,
					NameSealed: ns, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d customers in %s", n, time.Since(start).Round(time.Millisecond))
}

// BenchmarkRotateKEK re-wraps every data key under a new KEK; the figure
// SPEC §12 sets is customers per second (≥ 20,000 on SQLite). Run with
// -benchtime=1x: each iteration is a whole rotation.
func BenchmarkRotateKEK(b *testing.B) {
	for _, backend := range testutil.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			env := testutil.NewEnv(b, backend, nil)
			n := benchCustomers(b)
			seed(b, env, n)
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
