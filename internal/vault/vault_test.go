package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

func newVault(t testing.TB) *Vault {
	t.Helper()
	v, err := Open(t.TempDir())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return v
}

// newMaster returns a local Tink AEAD standing in for a KMS master key.
func newMaster(t testing.TB) tink.AEAD {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newDataKey(t testing.TB, v *Vault, customerID string) ([]byte, *DataKey) {
	t.Helper()
	wrapped, err := v.NewDataKey(customerID)
	if err != nil {
		t.Fatalf("NewDataKey: %v", err)
	}
	k, err := v.DataKey(customerID, wrapped)
	if err != nil {
		t.Fatalf("DataKey: %v", err)
	}
	return wrapped, k
}

func seal(t testing.TB, k *DataKey, pt, table, column, row string) []byte {
	t.Helper()
	ct, err := k.Seal([]byte(pt), table, column, row)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return ct
}

func blindIndex(t testing.TB, v *Vault, kind, value string) []byte {
	t.Helper()
	b, err := v.BlindIndex(kind, value)
	if err != nil {
		t.Fatalf("BlindIndex: %v", err)
	}
	return b
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestOpenCreatesPrivateFileAndReloadsSameKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // does not exist yet
	v1, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("data directory mode = %04o, want 0700", got)
	}
	if got := mode(t, filepath.Join(dir, KeysetFile)); got != 0o600 {
		t.Errorf("key set file mode = %04o, want 0600", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data directory holds %d entries, want only %s (no temporary files left)", len(entries), KeysetFile)
	}

	wrapped, k := newDataKey(t, v1, "cust-1")
	ct := seal(t, k, "maría@example.com", "customers", "email", "cust-1")
	idx := blindIndex(t, v1, "email", "maría@example.com")
	pepperID, pepper, err := v1.PepperMAC([]byte("correct horse battery"))
	if err != nil {
		t.Fatal(err)
	}
	auditID, tag, err := v1.AuditMAC([]byte("entry 1"))
	if err != nil {
		t.Fatal(err)
	}

	v2, err := Open(dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	k2, err := v2.DataKey("cust-1", wrapped)
	if err != nil {
		t.Fatalf("DataKey after reopen: %v", err)
	}
	pt, err := k2.Open(ct, "customers", "email", "cust-1")
	if err != nil || string(pt) != "maría@example.com" {
		t.Errorf("Open after reopen = %q, %v", pt, err)
	}
	if got := blindIndex(t, v2, "email", "maría@example.com"); !bytes.Equal(got, idx) {
		t.Error("blind index changed across reopen")
	}
	if id, mac, _ := v2.PepperMAC([]byte("correct horse battery")); id != pepperID || !bytes.Equal(mac, pepper) {
		t.Error("pepper MAC changed across reopen")
	}
	if id, got, _ := v2.AuditMAC([]byte("entry 1")); id != auditID || !bytes.Equal(got, tag) {
		t.Error("audit MAC changed across reopen")
	}
}

func TestOpenRefusesKeysetFileOthersCanAccess(t *testing.T) {
	for _, perm := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606} {
		t.Run(fmt.Sprintf("%04o", perm), func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Open(dir); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, KeysetFile)
			if err := os.Chmod(path, perm); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir)
			if err == nil {
				t.Fatal("Open accepted a key set file other users can access")
			}
			if !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("error %q does not name the fix", err)
			}
		})
	}
	t.Run("0400 is fine", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := Open(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, KeysetFile), 0o400); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir); err != nil {
			t.Errorf("Open of a 0400 key set file: %v", err)
		}
	})
}

func TestOpenRefusesDamagedKeysetFile(t *testing.T) {
	tests := []struct {
		name string
		edit func(kf map[string]any)
	}{
		{"missing keyset", func(kf map[string]any) { delete(kf["keysets"].(map[string]any), "pepper") }},
		{"unknown format", func(kf map[string]any) { kf["format"] = "resguardo-keyset/99" }},
		{"unknown protection", func(kf map[string]any) { kf["protection"] = "rot13" }},
		{"unknown field", func(kf map[string]any) { kf["extra"] = true }},
		{"corrupt key value", func(kf map[string]any) {
			ks := kf["keysets"].(map[string]any)
			kek := ks["kek"].(map[string]any)
			key := kek["key"].([]any)[0].(map[string]any)
			key["keyData"].(map[string]any)["value"] = "SECRETKEYBYTES$$"
		}},
		{"aead keyset in a prf slot", func(kf map[string]any) {
			ks := kf["keysets"].(map[string]any)
			ks["audit"] = ks["kek"]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Open(dir); err != nil {
				t.Fatal(err)
			}
			editKeysetFile(t, dir, tt.edit)
			_, err := Open(dir)
			if err == nil {
				t.Fatal("Open accepted a damaged key set file")
			}
			if strings.Contains(err.Error(), "SECRETKEYBYTES") {
				t.Errorf("error quotes key material: %v", err)
			}
		})
	}
}

func editKeysetFile(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, KeysetFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kf map[string]any
	if err := json.Unmarshal(data, &kf); err != nil {
		t.Fatal(err)
	}
	edit(kf)
	if data, err = json.Marshal(kf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSealedFieldOpensOnlyInItsPlace(t *testing.T) {
	v := newVault(t)
	_, k := newDataKey(t, v, "cust-1")
	ct := seal(t, k, "+34600000012", "phones", "number", "ph-1")

	if pt, err := k.Open(ct, "phones", "number", "ph-1"); err != nil || string(pt) != "+34600000012" {
		t.Fatalf("Open in place = %q, %v", pt, err)
	}
	tests := []struct {
		name                 string
		table, column, rowID string
	}{
		{"another row", "phones", "number", "ph-2"},
		{"another column", "phones", "label", "ph-1"},
		{"another table", "addresses", "number", "ph-1"},
		{"boundary shifted between table and column", "phone", "snumber", "ph-1"},
		{"boundary shifted between column and row", "phones", "numberp", "h-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := k.Open(ct, tt.table, tt.column, tt.rowID)
			if err == nil || pt != nil {
				t.Errorf("Open = %q, %v; want no data and an error", pt, err)
			}
		})
	}
}

func TestSealRefusesEmptyPlace(t *testing.T) {
	v := newVault(t)
	_, k := newDataKey(t, v, "cust-1")
	for _, place := range [][3]string{{"", "c", "r"}, {"t", "", "r"}, {"t", "c", ""}} {
		if _, err := k.Seal([]byte("x"), place[0], place[1], place[2]); err == nil {
			t.Errorf("Seal with place %q succeeded", place)
		}
	}
}

func TestSealedFieldOfAnotherCustomerDoesNotOpen(t *testing.T) {
	v := newVault(t)
	_, a := newDataKey(t, v, "cust-a")
	_, b := newDataKey(t, v, "cust-b")
	ct := seal(t, a, "secret", "customers", "name", "row-1")
	if _, err := b.Open(ct, "customers", "name", "row-1"); err == nil {
		t.Error("customer B's key opened customer A's field")
	}
}

func TestWrappedDataKeyIsBoundToItsCustomer(t *testing.T) {
	v := newVault(t)
	wrappedA, _ := newDataKey(t, v, "cust-a") // also puts A's key in the cache
	if _, err := v.DataKey("cust-b", wrappedA); err == nil {
		t.Error("customer A's wrapped key unwrapped as customer B")
	}
	if _, err := v.Rewrap("cust-b", wrappedA); err == nil {
		t.Error("customer A's wrapped key re-wrapped as customer B")
	}
	// Nor does a fresh vault, without A's key cached.
	v2, err := Open(v.dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v2.DataKey("cust-b", wrappedA); err == nil {
		t.Error("customer A's wrapped key unwrapped as customer B (cold cache)")
	}
	if _, err := v.DataKey("", wrappedA); err == nil {
		t.Error("unwrapped with an empty customer id")
	}
}

func TestWrappedDataKeyHidesKeyMaterial(t *testing.T) {
	v := newVault(t)
	wrapped, err := v.NewDataKey("cust-1")
	if err != nil {
		t.Fatal(err)
	}
	h, err := v.unwrap("cust-1", wrapped)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range keyValues(t, h) {
		if bytes.Contains(wrapped, secret) {
			t.Fatal("wrapped data key contains the data key in clear")
		}
	}
}

func TestTamperedCiphertextFails(t *testing.T) {
	v := newVault(t)
	_, k := newDataKey(t, v, "cust-1")
	ct := seal(t, k, "Calle Mayor 1", "addresses", "line1", "ad-1")

	positions := map[string]int{
		"tink prefix": 0, "key id": 3, "nonce": 8,
		"body": 5 + 12 + 2, "tag": len(ct) - 1,
	}
	for name, i := range positions {
		t.Run(name, func(t *testing.T) {
			bad := bytes.Clone(ct)
			bad[i] ^= 0x01
			if pt, err := k.Open(bad, "addresses", "line1", "ad-1"); err == nil || pt != nil {
				t.Errorf("Open of tampered ciphertext = %q, %v", pt, err)
			}
		})
	}
	for name, bad := range map[string][]byte{"truncated": ct[:len(ct)-1], "empty": nil, "extended": append(bytes.Clone(ct), 0)} {
		t.Run(name, func(t *testing.T) {
			if _, err := k.Open(bad, "addresses", "line1", "ad-1"); err == nil {
				t.Error("Open succeeded")
			}
		})
	}
}

func TestTamperedWrappedKeyFails(t *testing.T) {
	v := newVault(t)
	wrapped, err := v.NewDataKey("cust-1")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := v.Rewrap("cust-1", wrapped) // warm nothing; just a second copy
	if err != nil {
		t.Fatal(err)
	}
	refKey, err := v.DataKey("cust-1", ref)
	if err != nil {
		t.Fatal(err)
	}
	ct := seal(t, refKey, "x", "t", "c", "r")
	for i := range wrapped {
		bad := bytes.Clone(wrapped)
		bad[i] ^= 0x80
		// A flip in the encrypted key must fail. The wrapped form also carries
		// Tink's unauthenticated key-info metadata; a flip there may pass, but
		// must still yield exactly the original key.
		if k, err := v.DataKey("cust-1", bad); err == nil {
			if _, err := k.Open(ct, "t", "c", "r"); err != nil {
				t.Errorf("byte %d: tampered wrapped key unwrapped to a different key", i)
			}
		}
	}
}

func TestDataKeyCacheAndForget(t *testing.T) {
	v := newVault(t)
	wrapped, k1 := newDataKey(t, v, "cust-1")
	k2, err := v.DataKey("cust-1", wrapped)
	if err != nil {
		t.Fatal(err)
	}
	if k1 != k2 {
		t.Error("second DataKey was not served from the cache")
	}
	v.Forget("cust-1")
	if n := v.cache.len(); n != 0 {
		t.Errorf("cache holds %d entries after Forget, want 0", n)
	}
	k3, err := v.DataKey("cust-1", wrapped)
	if err != nil {
		t.Fatal(err)
	}
	if k3 == k1 {
		t.Error("DataKey after Forget returned the forgotten instance")
	}

	// A new wrapped key for the same customer replaces the cached one.
	wrapped2, err := v.NewDataKey("cust-1")
	if err != nil {
		t.Fatal(err)
	}
	k4, err := v.DataKey("cust-1", wrapped2)
	if err != nil {
		t.Fatal(err)
	}
	ct := seal(t, k4, "x", "t", "c", "r")
	if _, err := k3.Open(ct, "t", "c", "r"); err == nil {
		t.Error("cache served the old key for a new wrapped key")
	}
}

func TestCacheIsBoundedLRU(t *testing.T) {
	c := newCache(2)
	keys := map[string]*DataKey{"a": {}, "b": {}, "c": {}}
	sum := [32]byte{1}
	_, gen := c.get("a", sum)
	c.put("a", sum, keys["a"], gen)
	c.put("b", sum, keys["b"], gen)
	c.get("a", sum) // a is now more recent than b
	c.put("c", sum, keys["c"], gen)
	if c.len() != 2 {
		t.Fatalf("len = %d, want 2", c.len())
	}
	if k, _ := c.get("b", sum); k != nil {
		t.Error("least recently used entry was not evicted")
	}
	if k, _ := c.get("a", sum); k != keys["a"] {
		t.Error("recently used entry was evicted")
	}
	if k, _ := c.get("a", [32]byte{2}); k != nil {
		t.Error("entry served for different wrapped bytes")
	}

	// A key unwrapped while a Forget ran is not cached.
	_, gen = c.get("d", sum)
	c.remove("d")
	c.put("d", sum, &DataKey{}, gen)
	if k, _ := c.get("d", sum); k != nil {
		t.Error("key cached across a concurrent Forget")
	}
}

func TestBlindIndex(t *testing.T) {
	v := newVault(t)
	a := blindIndex(t, v, "email", "maria@example.com")
	if len(a) != 32 {
		t.Errorf("len = %d, want 32", len(a))
	}
	if b := blindIndex(t, v, "email", "maria@example.com"); !bytes.Equal(a, b) {
		t.Error("same input gave different indexes")
	}
	if b := blindIndex(t, v, "email", "mario@example.com"); bytes.Equal(a, b) {
		t.Error("different values gave the same index")
	}
	if b := blindIndex(t, v, "phone", "maria@example.com"); bytes.Equal(a, b) {
		t.Error("different kinds gave the same index")
	}
	if b := blindIndex(t, newVault(t), "email", "maria@example.com"); bytes.Equal(a, b) {
		t.Error("two vaults with different key sets gave the same index")
	}
	// Kind and value are length-prefixed, not concatenated.
	if x, y := blindIndex(t, v, "ab", "c"), blindIndex(t, v, "a", "bc"); bytes.Equal(x, y) {
		t.Error("kind/value boundary is ambiguous")
	}
	for _, in := range [][2]string{{"", "x"}, {"email", ""}} {
		if _, err := v.BlindIndex(in[0], in[1]); err == nil {
			t.Errorf("BlindIndex(%q, %q) succeeded", in[0], in[1])
		}
	}
}

func TestPepperRotationKeepsOldHashesVerifiable(t *testing.T) {
	v := newVault(t)
	password := []byte("correct horse battery staple")
	oldID, oldMAC, err := v.PepperMAC(password)
	if err != nil {
		t.Fatal(err)
	}
	if len(oldMAC) != 32 {
		t.Errorf("len = %d, want 32", len(oldMAC))
	}

	newID, err := v.Rotate(PurposePepper)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	gotID, newMAC, err := v.PepperMAC(password)
	if err != nil {
		t.Fatal(err)
	}
	if gotID != newID || newID == oldID {
		t.Errorf("PepperMAC key id = %d, want the new primary %d (old %d)", gotID, newID, oldID)
	}
	if bytes.Equal(newMAC, oldMAC) {
		t.Error("new pepper key gave the same MAC")
	}

	// The rotation is on disk: a restarted server verifies both generations.
	reopened, err := Open(v.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, vv := range []*Vault{v, reopened} {
		if mac, err := vv.PepperMACWith(oldID, password); err != nil || !bytes.Equal(mac, oldMAC) {
			t.Errorf("PepperMACWith(old id) = %x, %v; want the original MAC", mac, err)
		}
		if mac, err := vv.PepperMACWith(newID, password); err != nil || !bytes.Equal(mac, newMAC) {
			t.Errorf("PepperMACWith(new id) = %x, %v", mac, err)
		}
	}
	if _, err := v.PepperMACWith(oldID^newID^1, password); err == nil {
		t.Error("PepperMACWith accepted an unknown key id")
	}
	// Pepper and audit keys are separate keysets: rotating one leaves the other.
	if st := v.Status(); len(st[2].KeyIDs) != 2 || len(st[3].KeyIDs) != 1 {
		t.Errorf("Status after pepper rotation = %+v", st)
	}
}

func TestAuditMAC(t *testing.T) {
	v := newVault(t)
	msg := []byte("prev-hash|2026-01-01T00:00:00Z|staff-7|reveal|customers.email")
	id, tag, err := v.AuditMAC(msg)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.AuditMACWith(id, msg); err != nil || !bytes.Equal(got, tag) {
		t.Errorf("AuditMACWith = %x, %v", got, err)
	}
	if got, _ := v.AuditMACWith(id, append(bytes.Clone(msg), '!')); bytes.Equal(got, tag) {
		t.Error("different message, same tag")
	}
	// The audit MAC and the pepper never coincide, even on the same input.
	_, pepper, _ := v.PepperMAC(msg)
	if bytes.Equal(pepper, tag) {
		t.Error("audit MAC equals pepper MAC")
	}
	if _, err := v.Rotate(PurposeAudit); err != nil {
		t.Fatal(err)
	}
	if got, err := v.AuditMACWith(id, msg); err != nil || !bytes.Equal(got, tag) {
		t.Errorf("AuditMACWith(old id) after rotation = %x, %v", got, err)
	}
	if _, err := v.AuditMACWith(0, msg); err == nil {
		t.Error("AuditMACWith accepted an unknown key id")
	}
}

func TestKEKRotationAndRewrap(t *testing.T) {
	v := newVault(t)
	wrapped, k := newDataKey(t, v, "cust-1")
	ct := seal(t, k, "María García", "customers", "name", "cust-1")

	if _, err := v.Rotate(PurposeKEK); err != nil {
		t.Fatal(err)
	}
	v.Forget("cust-1")
	if _, err := v.DataKey("cust-1", wrapped); err != nil {
		t.Fatalf("key wrapped under the old KEK no longer unwraps: %v", err)
	}
	rewrapped, err := v.Rewrap("cust-1", wrapped)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(rewrapped, wrapped) {
		t.Fatal("Rewrap returned the same bytes")
	}
	reopened, err := Open(v.dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := reopened.DataKey("cust-1", rewrapped)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k2.Open(ct, "customers", "name", "cust-1"); err != nil || string(pt) != "María García" {
		t.Errorf("field sealed before rotation = %q, %v", pt, err)
	}
}

func TestBlindIndexRotationChangesIndex(t *testing.T) {
	v := newVault(t)
	before := blindIndex(t, v, "phone", "+34600000012")
	if _, err := v.Rotate(PurposeBlindIndex); err != nil {
		t.Fatal(err)
	}
	if after := blindIndex(t, v, "phone", "+34600000012"); bytes.Equal(before, after) {
		t.Error("blind index unchanged after rotating its key")
	}
	if _, err := v.Rotate("nonsense"); err == nil {
		t.Error("Rotate accepted an unknown purpose")
	}
}

func TestRotateRefusesFileChangedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	server, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cliID, err := cli.Rotate(PurposeKEK)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Rotate(PurposeKEK); err == nil {
		t.Fatal("Rotate overwrote a key set file another process had rotated")
	}
	reopened, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := reopened.Status()[0].Primary; got != cliID {
		t.Errorf("KEK primary on disk = %d, want the other process's new key %d", got, cliID)
	}
}

func TestMasterKey(t *testing.T) {
	dir := t.TempDir()
	master := newMaster(t)
	v, err := OpenWithMasterKey(dir, master)
	if err != nil {
		t.Fatalf("OpenWithMasterKey: %v", err)
	}
	wrapped, k := newDataKey(t, v, "cust-1")
	ct := seal(t, k, "secret", "customers", "email", "cust-1")
	idx := blindIndex(t, v, "email", "a@example.com")

	path := filepath.Join(dir, KeysetFile)
	if got := mode(t, path); got != 0o600 {
		t.Errorf("key set file mode = %04o, want 0600", got)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(file, []byte(`"master-key"`)) {
		t.Error("file does not record master-key protection")
	}
	for _, p := range purposes {
		for _, secret := range keyValues(t, v.keys.Load().handles[p]) {
			if bytes.Contains(file, secret) || bytes.Contains(file, []byte(base64.StdEncoding.EncodeToString(secret))) {
				t.Errorf("%s key material appears in the encrypted key set file", p)
			}
		}
	}

	t.Run("round trip", func(t *testing.T) {
		v2, err := OpenWithMasterKey(dir, master)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := v2.DataKey("cust-1", wrapped)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := k2.Open(ct, "customers", "email", "cust-1"); err != nil || string(pt) != "secret" {
			t.Errorf("Open = %q, %v", pt, err)
		}
		if !bytes.Equal(blindIndex(t, v2, "email", "a@example.com"), idx) {
			t.Error("blind index changed")
		}
	})
	t.Run("rotation stays encrypted", func(t *testing.T) {
		if _, err := v.Rotate(PurposePepper); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenWithMasterKey(dir, master); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir); err == nil {
			t.Error("rotation wrote the key set in cleartext")
		}
	})
	t.Run("without the master key", func(t *testing.T) {
		_, err := Open(dir)
		if err == nil || !strings.Contains(err.Error(), "master key") {
			t.Errorf("Open of an encrypted key set file: %v", err)
		}
	})
	t.Run("with another master key", func(t *testing.T) {
		if _, err := OpenWithMasterKey(dir, newMaster(t)); err == nil {
			t.Error("opened with the wrong master key")
		}
	})
	t.Run("keysets swapped between slots", func(t *testing.T) {
		swapped := t.TempDir()
		if err := os.WriteFile(filepath.Join(swapped, KeysetFile), file, 0o600); err != nil {
			t.Fatal(err)
		}
		editKeysetFile(t, swapped, func(kf map[string]any) {
			ks := kf["keysets"].(map[string]any)
			ks["blind_index"], ks["pepper"] = ks["pepper"], ks["blind_index"]
		})
		if _, err := OpenWithMasterKey(swapped, master); err == nil {
			t.Error("accepted keysets swapped between slots")
		}
	})
	t.Run("nil master key", func(t *testing.T) {
		if _, err := OpenWithMasterKey(t.TempDir(), nil); err == nil {
			t.Error("accepted a nil master key")
		}
	})
}

func TestMasterKeyRefusesCleartextFileUntilProtected(t *testing.T) {
	dir := t.TempDir()
	v, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeysetFile)
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The detection used in TestMasterKey works: cleartext files do show keys.
	found := false
	for _, secret := range keyValues(t, v.keys.Load().handles[PurposeKEK]) {
		found = found || bytes.Contains(file, []byte(base64.StdEncoding.EncodeToString(secret)))
	}
	if !found {
		t.Fatal("test cannot find key material even in the cleartext file")
	}

	master := newMaster(t)
	if _, err := OpenWithMasterKey(dir, master); err == nil {
		t.Fatal("OpenWithMasterKey adopted a cleartext key set file")
	}
	idx := blindIndex(t, v, "email", "a@example.com")
	if err := v.ProtectWithMasterKey(master); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, path); got != 0o600 {
		t.Errorf("key set file mode = %04o, want 0600", got)
	}
	v2, err := OpenWithMasterKey(dir, master)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(blindIndex(t, v2, "email", "a@example.com"), idx) {
		t.Error("keys changed when protecting the file")
	}
}

// keyValues returns the serialized key material of every key in h, as Tink's
// cleartext formats would store it.
func keyValues(t testing.TB, h *keyset.Handle) [][]byte {
	t.Helper()
	var out [][]byte
	for _, k := range insecurecleartextkeyset.KeysetMaterial(h).GetKey() {
		out = append(out, k.GetKeyData().GetValue())
	}
	if len(out) == 0 {
		t.Fatal("no keys")
	}
	return out
}

func TestConcurrentOpenOfEmptyDirAgreesOnKeys(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	idx := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := Open(dir)
			if err != nil {
				t.Error(err)
				return
			}
			idx[i], _ = v.BlindIndex("email", "a@example.com")
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if !bytes.Equal(idx[i], idx[0]) {
			t.Fatal("concurrent first opens generated different key sets")
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	v := newVault(t)
	const customers = 16
	wrapped := make([][]byte, customers)
	for i := range customers {
		var err error
		if wrapped[i], err = v.NewDataKey(fmt.Sprint("cust-", i)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				c := (g + i) % customers
				id := fmt.Sprint("cust-", c)
				k, err := v.DataKey(id, wrapped[c])
				if err != nil {
					t.Error(err)
					return
				}
				row := fmt.Sprint("row-", g, "-", i)
				ct, err := k.Seal([]byte(row), "t", "c", row)
				if err != nil {
					t.Error(err)
					return
				}
				if pt, err := k.Open(ct, "t", "c", row); err != nil || string(pt) != row {
					t.Errorf("Open = %q, %v", pt, err)
					return
				}
				if _, err := v.BlindIndex("email", row); err != nil {
					t.Error(err)
				}
				if id, mac, err := v.PepperMAC([]byte(row)); err != nil {
					t.Error(err)
				} else if again, err := v.PepperMACWith(id, []byte(row)); err != nil || !bytes.Equal(again, mac) {
					t.Error("PepperMACWith disagrees with PepperMAC", err)
				}
				if i%50 == 0 {
					v.Forget(id)
				}
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if _, err := v.Rotate(PurposePepper); err != nil {
				t.Error(err)
			}
			if _, err := v.Rotate(PurposeKEK); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
}

func TestStatus(t *testing.T) {
	v := newVault(t)
	want := []Purpose{PurposeKEK, PurposeBlindIndex, PurposePepper, PurposeAudit}
	var got []Purpose
	for _, s := range v.Status() {
		got = append(got, s.Purpose)
		if len(s.KeyIDs) != 1 || s.KeyIDs[0] != s.Primary {
			t.Errorf("%s: %+v, want one key that is primary", s.Purpose, s)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Status purposes (-want +got):\n%s", diff)
	}
}

func BenchmarkSealOpen(b *testing.B) {
	v := newVault(b)
	_, k := newDataKey(b, v, "cust-1")
	pt := []byte("maria.garcia@example.com")
	b.ReportAllocs()
	for b.Loop() {
		ct, err := k.Seal(pt, "customers", "email", "c0ffee00-0000-4000-8000-000000000001")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.Open(ct, "customers", "email", "c0ffee00-0000-4000-8000-000000000001"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDataKeyCached(b *testing.B) {
	v := newVault(b)
	wrapped, _ := newDataKey(b, v, "cust-1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.DataKey("cust-1", wrapped); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDataKeyUncached(b *testing.B) {
	v := newVault(b)
	wrapped, _ := newDataKey(b, v, "cust-1")
	b.ReportAllocs()
	for b.Loop() {
		v.Forget("cust-1")
		if _, err := v.DataKey("cust-1", wrapped); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlindIndex(b *testing.B) {
	v := newVault(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.BlindIndex("email", "maria.garcia@example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

// The stored form of a recovery code is keyed by the pepper, bound to the
// customer, separate from the password pepper's outputs, and verifiable
// under every pepper key after a rotation, the primary first.
func TestRecoveryMAC(t *testing.T) {
	v, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	digest := []byte("0123456789abcdef0123456789abcdef")
	a, err := v.RecoveryMAC("CUSTOMERA", digest)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := v.RecoveryMAC("CUSTOMERB", digest)
	_, pw, _ := v.PepperMAC(digest)
	if bytes.Equal(a.MAC, b.MAC) || bytes.Equal(a.MAC, pw) || len(a.MAC) != 32 {
		t.Error("recovery MACs are not bound to the customer or not separate from password MACs")
	}
	if _, err := v.RecoveryMAC("", digest); err == nil {
		t.Error("an empty customer id was accepted")
	}
	old := v.Primary(PurposePepper)
	if _, err := v.Rotate(PurposePepper); err != nil {
		t.Fatal(err)
	}
	all, err := v.RecoveryMACs("CUSTOMERA", digest)
	if err != nil || len(all) != 2 || all[0].KeyID != v.Primary(PurposePepper) || all[1].KeyID != old || !bytes.Equal(all[1].MAC, a.MAC) {
		t.Errorf("RecoveryMACs after a rotation = %+v, %v; want the new primary first, then the old key's MAC", all, err)
	}
}
