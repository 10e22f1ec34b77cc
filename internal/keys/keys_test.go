package keys

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/testutil"
	"github.com/resguardo/resguardo/internal/vault"
)

const password = "correct horse battery staple"

var client = netip.MustParseAddr("192.0.2.1")

type fixture struct {
	env *testutil.Env
	ids []string
}

// newFixture registers n customers, each with a phone number.
func newFixture(t *testing.T, b testutil.Backend, n int) *fixture {
	t.Helper()
	env := testutil.NewEnv(t, b, nil)
	f := &fixture{env: env}
	ctx := t.Context()
	for i := range n {
		email := fmt.Sprintf("c%03d@example.com", i)
		if err := env.Accounts.Register(ctx, account.RegisterInput{Email: email, Password: password, Name: "Cliente Número " + fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		id, _, err := env.Accounts.Login(ctx, account.SignIn{Email: email, Password: password, Client: client})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Accounts.AddPhone(ctx, resguardo.CustomerActor(id), id, "móvil", fmt.Sprintf("+3461234%04d", i)); err != nil {
			t.Fatal(err)
		}
		f.ids = append(f.ids, id)
	}
	return f
}

func (f *fixture) rotator() *Rotator {
	return &Rotator{DB: f.env.DB, Vault: f.env.Vault, Reindexer: f.env.Accounts, Log: f.env.Log, BatchSize: 4}
}

// allReadable opens every customer's profile with a cold key cache.
func (f *fixture) allReadable(t *testing.T) {
	t.Helper()
	for i, id := range f.ids {
		f.env.Vault.Forget(id)
		c, err := f.env.Accounts.Profile(t.Context(), id)
		if err != nil {
			t.Fatalf("customer %d not readable: %v", i, err)
		}
		if len(c.Phones) != 1 || c.Name != "Cliente Número "+fmt.Sprint(i) {
			t.Fatalf("customer %d reads wrong: %+v", i, c)
		}
	}
}

func uses(t *testing.T, r *Rotator, p vault.Purpose) map[uint32]int {
	t.Helper()
	st, err := r.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32]int{}
	for _, ps := range st {
		if ps.Purpose == p {
			for _, k := range ps.Keys {
				out[k.KeyID] = k.Uses
			}
		}
	}
	return out
}

var errKilled = errors.New("killed")

// A KEK rotation stopped after two batches leaves every record readable;
// run again, it resumes and finishes; the old KEK version can then be
// retired — and not before.
func TestKEKRotationResumesAfterInterruption(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b, 18)
		old := f.env.Vault.Primary(vault.PurposeKEK)
		r := f.rotator()
		r.AfterBatch = func(n int) error {
			if n == 2 {
				return errKilled
			}
			return nil
		}
		if _, err := r.RotateKEK(t.Context()); !errors.Is(err, errKilled) {
			t.Fatalf("interrupted rotation: %v", err)
		}
		next := f.env.Vault.Primary(vault.PurposeKEK)
		if u := uses(t, r, vault.PurposeKEK); u[next] != 8 || u[old] != 10 {
			t.Fatalf("after 2 batches of 4: %v (new key %d, old %d)", u, next, old)
		}
		f.allReadable(t)
		if err := r.Retire(t.Context(), vault.PurposeKEK, old); !errors.Is(err, ErrInUse) {
			t.Fatalf("retired a KEK version while a rotation is unfinished: %v", err)
		}

		rep, err := f.rotator().RotateKEK(t.Context())
		if err != nil || !rep.Resumed || rep.KeyID != next || rep.Changed != 10 {
			t.Fatalf("resumed rotation: %+v, %v", rep, err)
		}
		if u := uses(t, r, vault.PurposeKEK); u[next] != 18 || u[old] != 0 {
			t.Fatalf("after finishing: %v", u)
		}
		f.allReadable(t)
		if err := r.Retire(t.Context(), vault.PurposeKEK, next); err == nil {
			t.Fatal("retired the primary KEK")
		}
		if err := r.Retire(t.Context(), vault.PurposeKEK, old); err != nil {
			t.Fatal(err)
		}
		f.allReadable(t)
	})
}

// A KEK version still wrapping some data key cannot be retired.
func TestRetireRefusesKEKInUse(t *testing.T) {
	f := newFixture(t, testutil.Backends()[0], 3)
	old := f.env.Vault.Primary(vault.PurposeKEK)
	if _, err := f.env.Vault.Rotate(vault.PurposeKEK); err != nil { // a new key, nothing re-wrapped
		t.Fatal(err)
	}
	err := f.rotator().Retire(t.Context(), vault.PurposeKEK, old)
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("Retire = %v, want ErrInUse", err)
	}
	f.allReadable(t)
}

// A blind-index rotation interrupted half-way still finds every customer by
// e-mail (lookups try every key version); resumed, it moves every index to
// the new key, and the old key can then be retired.
func TestIndexRotationResumesAndLookupsKeepWorking(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b, 10)
		ctx := t.Context()
		old := f.env.Vault.Primary(vault.PurposeBlindIndex)
		r := f.rotator()
		r.AfterBatch = func(n int) error {
			if n == 1 {
				return errKilled
			}
			return nil
		}
		if _, err := r.RotateIndex(ctx); !errors.Is(err, errKilled) {
			t.Fatalf("interrupted rotation: %v", err)
		}
		signInAll := func() {
			t.Helper()
			for i, id := range f.ids {
				got, _, err := f.env.Accounts.Login(ctx, account.SignIn{Email: fmt.Sprintf("c%03d@example.com", i), Password: password, Client: client})
				if err != nil || got != id {
					t.Fatalf("customer %d cannot sign in: %q, %v", i, got, err)
				}
			}
		}
		signInAll()
		if err := r.Retire(ctx, vault.PurposeBlindIndex, old); !errors.Is(err, ErrInUse) {
			t.Fatalf("retired the index key while a rotation is unfinished: %v", err)
		}
		rep, err := f.rotator().RotateIndex(ctx)
		if err != nil || !rep.Resumed || rep.Changed != 6*2 {
			t.Fatalf("resumed rotation: %+v, %v", rep, err)
		}
		// Every row is now found by the new primary index alone.
		for i, id := range f.ids {
			idx, _ := f.env.Vault.BlindIndex("email", fmt.Sprintf("c%03d@example.com", i))
			row, err := f.env.DB.Conn().CustomerByEmailIndex(ctx, idx)
			if err != nil || row.ID != id {
				t.Fatalf("customer %d not under the new index: %v", i, err)
			}
		}
		if err := r.Retire(ctx, vault.PurposeBlindIndex, old); err != nil {
			t.Fatal(err)
		}
		signInAll()
		f.allReadable(t)
	})
}

// After a pepper rotation old hashes still verify; each moves to the new
// key at its owner's next sign-in, and the old key is retired only when no
// hash uses it.
func TestPepperRotationRetiresOnlyWhenUnused(t *testing.T) {
	f := newFixture(t, testutil.Backends()[0], 2)
	ctx := t.Context()
	r := f.rotator()
	old := f.env.Vault.Primary(vault.PurposePepper)
	rep, err := r.RotatePepper(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u := uses(t, r, vault.PurposePepper); u[old] != 2 || u[rep.KeyID] != 0 {
		t.Fatalf("after rotation: %v", u)
	}
	signIn := func(i int) {
		t.Helper()
		if _, _, err := f.env.Accounts.Login(ctx, account.SignIn{Email: fmt.Sprintf("c%03d@example.com", i), Password: password, Client: client}); err != nil {
			t.Fatalf("sign-in %d after pepper rotation: %v", i, err)
		}
	}
	signIn(0)
	if err := r.Retire(ctx, vault.PurposePepper, old); !errors.Is(err, ErrInUse) {
		t.Fatalf("retired a pepper key one hash still uses: %v", err)
	}
	signIn(1)
	if u := uses(t, r, vault.PurposePepper); u[old] != 0 || u[rep.KeyID] != 2 {
		t.Fatalf("after both signed in: %v", u)
	}
	if err := r.Retire(ctx, vault.PurposePepper, old); err != nil {
		t.Fatal(err)
	}
	signIn(0)
	if err := r.Retire(ctx, vault.PurposeAudit, f.env.Vault.Primary(vault.PurposeAudit)); err == nil {
		t.Error("an audit key was retired")
	}
}
