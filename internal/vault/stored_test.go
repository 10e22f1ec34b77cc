package vault_test

import (
	"testing"

	"github.com/resguardo/resguardo/internal/testutil"
	"github.com/resguardo/resguardo/internal/vault"
)

// Two processes sharing a database change the key set it keeps: the one
// whose view is stale is refused (compare-and-swap on the stored row)
// instead of overwriting the other's new key, and after a reload both hold
// every change.
func TestStoredKeySetChangesNeverLoseKeys(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		db, _, dir := b.Open(t)
		one := testutil.Keys(t, db, dir)
		two := testutil.Keys(t, db, dir)
		kek, err := one.Rotate(vault.PurposeKEK)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := two.Rotate(vault.PurposePepper); err == nil {
			t.Fatal("a rotation on a stale view of the key set was stored: it dropped the other process's new KEK")
		}
		if changed, err := two.Reload(); err != nil || !changed || two.Primary(vault.PurposeKEK) != kek {
			t.Fatalf("reload = %v, %v; primary KEK %d, want %d", changed, err, two.Primary(vault.PurposeKEK), kek)
		}
		pepper, err := two.Rotate(vault.PurposePepper)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := one.Reload(); err != nil {
			t.Fatal(err)
		}
		again := testutil.Keys(t, db, dir)
		for _, v := range []*vault.Vault{one, two, again} {
			if v.Primary(vault.PurposeKEK) != kek || v.Primary(vault.PurposePepper) != pepper {
				t.Errorf("a process lacks a change: kek %d pepper %d, want %d %d", v.Primary(vault.PurposeKEK), v.Primary(vault.PurposePepper), kek, pepper)
			}
		}
		// The binding names the keys, and the one stored matches them.
		st, err := db.KeyState(t.Context())
		if err != nil || !st.Recorded {
			t.Fatalf("key state %+v, %v", st, err)
		}
		if err := again.VerifyBinding(st.Binding); err != nil {
			t.Error(err)
		}
		if err := again.VerifyBinding(`{"instance":"x","check":"00"}`); err == nil {
			t.Error("a binding of another key set verified")
		}
	})
}
