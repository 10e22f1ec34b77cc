package vault

import (
	"bytes"
	"testing"
)

// WrappingKeyID reads which KEK key wrapped a data key, before and after a
// re-wrap, without decrypting.
func TestWrappingKeyID(t *testing.T) {
	v := newVault(t)
	wrapped, _ := newDataKey(t, v, "cust-1")
	old := v.Primary(PurposeKEK)
	if id, err := WrappingKeyID(wrapped); err != nil || id != old {
		t.Fatalf("WrappingKeyID = %d, %v; want the primary %d", id, err, old)
	}
	next, err := v.Rotate(PurposeKEK)
	if err != nil {
		t.Fatal(err)
	}
	rewrapped, err := v.Rewrap("cust-1", wrapped)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := WrappingKeyID(rewrapped); err != nil || id != next {
		t.Errorf("after re-wrap: %d, %v; want %d", id, err, next)
	}
	if _, err := WrappingKeyID([]byte("not a wrapped key")); err == nil {
		t.Error("garbage has a key id")
	}
}

// Retiring the old KEK key makes keys still wrapped under it unreadable —
// what erasure relies on for copies of the database made before it — and
// the primary cannot be retired.
func TestRetireKEKMakesOldWrapsUnreadable(t *testing.T) {
	v := newVault(t)
	wrapped, _ := newDataKey(t, v, "cust-1")
	old := v.Primary(PurposeKEK)
	if err := v.Retire(PurposeKEK, old); err == nil {
		t.Fatal("retired the primary KEK key")
	}
	if _, err := v.Rotate(PurposeKEK); err != nil {
		t.Fatal(err)
	}
	if err := v.Retire(PurposeKEK, old); err != nil {
		t.Fatal(err)
	}
	v.Forget("cust-1")
	if _, err := v.DataKey("cust-1", wrapped); err == nil {
		t.Error("a data key wrapped under a retired KEK key still unwraps")
	}
	reopened, err := Open(v.dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reopened.DataKey("cust-1", wrapped); err == nil {
		t.Error("the retired key is still in the file")
	}
}

// A server's vault follows a rotation made by another process: Reload picks
// up the new file, and unwrapping a key re-wrapped under a KEK the server has
// not loaded yet reloads by itself.
func TestReloadFollowsAnotherProcess(t *testing.T) {
	server := newVault(t)
	wrapped, _ := newDataKey(t, server, "cust-1")
	cli, err := Open(server.dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Rotate(PurposeKEK); err != nil {
		t.Fatal(err)
	}
	rewrapped, err := cli.Rewrap("cust-1", wrapped)
	if err != nil {
		t.Fatal(err)
	}
	server.Forget("cust-1")
	if _, err := server.DataKey("cust-1", rewrapped); err != nil {
		t.Fatalf("server could not unwrap a key re-wrapped by another process: %v", err)
	}
	if server.Primary(PurposeKEK) != cli.Primary(PurposeKEK) {
		t.Error("server did not load the new primary")
	}
	if changed, err := server.Reload(); err != nil || changed {
		t.Errorf("Reload of an unchanged file = %v, %v", changed, err)
	}
	if _, err := cli.Rotate(PurposeBlindIndex); err != nil {
		t.Fatal(err)
	}
	if changed, err := server.Reload(); err != nil || !changed {
		t.Errorf("Reload after a rotation = %v, %v", changed, err)
	}
}

// During a blind-index rotation lookups compute the index under every key,
// the new primary's first, so rows indexed under the old key are still found.
func TestBlindIndexesCoverEveryKey(t *testing.T) {
	v := newVault(t)
	before := blindIndex(t, v, "email", "ana@example.com")
	if _, err := v.Rotate(PurposeBlindIndex); err != nil {
		t.Fatal(err)
	}
	all, err := v.BlindIndexes("email", "ana@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || !bytes.Equal(all[0], blindIndex(t, v, "email", "ana@example.com")) || !bytes.Equal(all[1], before) {
		t.Errorf("BlindIndexes = %x", all)
	}
}
