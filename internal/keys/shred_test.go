package keys

import (
	"testing"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/testutil"
	"github.com/resguardo/resguardo/internal/vault"
)

type dumpedCustomer struct {
	id               string
	dataKey, emailCT []byte
}

// dump copies every customer's wrapped key and sealed address, as a backup
// of the database would hold them.
func dump(t *testing.T, f *fixture) map[string]dumpedCustomer {
	t.Helper()
	keys, err := f.env.DB.Conn().DataKeysAfter(t.Context(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dumpedCustomer{}
	for _, k := range keys {
		row, err := f.env.DB.Conn().CustomerByID(t.Context(), k.CustomerID)
		if err != nil {
			t.Fatal(err)
		}
		out[k.CustomerID] = dumpedCustomer{id: k.CustomerID, dataKey: k.DataKey, emailCT: row.EmailSealed}
	}
	return out
}

// opens reports whether a dumped customer's e-mail decrypts with the key
// set the database now holds, read again as another server would.
func opens(t *testing.T, f *fixture, d dumpedCustomer) bool {
	t.Helper()
	v := testutil.Keys(t, f.env.DB, f.env.DataDir)
	dk, err := v.DataKey(d.id, d.dataKey)
	if err != nil {
		return false
	}
	_, err = dk.Open(d.emailCT, "customers", "email_sealed", d.id)
	return err == nil
}

// Crypto-shredding reaches backups: after an erasure, a KEK rotation and
// the retirement of the old KEK version, a copy of the database taken
// before the erasure no longer decrypts for the erased customer with the
// current key set. (Before the retirement it still does: that step is what
// finishes the erasure for copies.)
func TestErasedCustomerUnreadableInOldCopiesAfterKEKRetirement(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		f := newFixture(t, b, 3)
		ctx := t.Context()
		erased, kept := f.ids[0], f.ids[1]
		backup := dump(t, f)
		if !opens(t, f, backup[erased]) {
			t.Fatal("the copy does not decrypt even before the erasure: the test proves nothing")
		}
		if _, err := f.env.Accounts.Erase(ctx, resguardo.CustomerActor(erased), account.Principal{CustomerID: erased}); err != nil {
			t.Fatal(err)
		}
		old := f.env.Vault.Primary(vault.PurposeKEK)
		r := f.rotator()
		if _, err := r.RotateKEK(ctx); err != nil {
			t.Fatal(err)
		}
		if !opens(t, f, backup[erased]) {
			t.Fatal("the old KEK version is still in the key set, yet the copy does not decrypt")
		}
		if err := r.Retire(ctx, vault.PurposeKEK, old); err != nil {
			t.Fatal(err)
		}
		if opens(t, f, backup[erased]) {
			t.Error("the erased customer's data in a copy taken before the erasure still decrypts")
		}
		// The customers who were not erased read from the live database.
		if !opens(t, f, dump(t, f)[kept]) {
			t.Error("a kept customer does not decrypt from the live database")
		}
		if _, err := f.env.Accounts.Profile(ctx, kept); err != nil {
			t.Error(err)
		}
	})
}
