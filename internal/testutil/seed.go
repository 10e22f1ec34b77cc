package testutil

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// SeedEmail and SeedPhone are the address and number of the i-th seeded
// customer.
func SeedEmail(i int) string { return fmt.Sprintf("bench%07d@example.com", i) }

// SeedPhone is a valid Spanish mobile number, distinct for each i < 10^7.
func SeedPhone(i int) string { return fmt.Sprintf("+346%08d", i) }

// SeedCustomers writes n customers straight to the store, as registration
// would but without password hashing (benchmarks of rotation and search
// never touch it): each with its own wrapped data key, sealed address and
// name, and a phone number with its blind index.
func SeedCustomers(tb testing.TB, env *Env, n int) {
	tb.Helper()
	ctx := tb.Context()
	const hash = "$argon2id$v=19$m=19456,t=2,p=1,keyid=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	start := time.Now()
	for done := 0; done < n; {
		err := env.DB.Tx(ctx, func(c sqlstore.Conn) error {
			for i := 0; i < 1000 && done < n; i, done = i+1, done+1 {
				if err := seedOne(ctx, env, c, done, hash); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	tb.Logf("seeded %d customers in %s", n, time.Since(start).Round(time.Millisecond))
}

func seedOne(ctx context.Context, env *Env, c sqlstore.Conn, i int, hash string) error {
	id := rand.Text()
	wrapped, err := env.Vault.NewDataKey(id)
	if err != nil {
		return err
	}
	dk, err := env.Vault.DataKey(id, wrapped)
	if err != nil {
		return err
	}
	defer env.Vault.Forget(id)
	email := SeedEmail(i)
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
	now := time.Now().Unix()
	if err := c.InsertCustomer(ctx, sqlstore.CustomerRow{ID: id, DataKey: wrapped, EmailIndex: index, EmailSealed: es,
		NameSealed: ns, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}); err != nil {
		return err
	}
	number := SeedPhone(i)
	phoneIndex, err := env.Vault.BlindIndex("phone", number)
	if err != nil {
		return err
	}
	phoneID := rand.Text()
	b, err := json.Marshal(resguardo.Phone{Label: "móvil", Number: number}) // as the account package seals phones
	if err != nil {
		return err
	}
	ps, err := dk.Seal(b, "customer_phones", "sealed", phoneID)
	if err != nil {
		return err
	}
	return c.InsertPhone(ctx, sqlstore.PhoneRow{ID: phoneID, CustomerID: id, NumberIndex: phoneIndex, Sealed: ps, CreatedAt: now})
}
