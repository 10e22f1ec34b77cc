package vault

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// DataKey is one customer's unwrapped data key. It is safe for concurrent use.
type DataKey struct {
	// Only the primitive is kept, not the keyset handle, which would add about
	// 250 bytes to every cached key (see DefaultCacheSize).
	aead tink.AEAD
	// opened is the vault's count of fields opened (Vault.FieldsOpened).
	opened *atomic.Uint64
}

// NewDataKey makes a fresh data key (a Tink AEAD AES256-GCM keyset) for a
// customer and returns it wrapped: encrypted under the primary KEK with the
// customer id as associated data, so that a wrapped key copied to another
// customer's row does not unwrap. Store the result; it is the only copy.
func (v *Vault) NewDataKey(customerID string) (wrapped []byte, err error) {
	if customerID == "" {
		return nil, errors.New("vault: new data key: empty customer id")
	}
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("vault: new data key: %w", err)
	}
	return v.wrap(customerID, h)
}

// DataKey unwraps a customer's data key. Unwrapped keys are cached (bounded
// LRU) because the hot path must not decrypt and parse a keyset per request; a
// cached key is returned only for the same customer id and the same wrapped
// bytes it was unwrapped from.
func (v *Vault) DataKey(customerID string, wrapped []byte) (*DataKey, error) {
	sum := sha256.Sum256(wrapped)
	k, gen := v.cache.get(customerID, sum)
	if k != nil {
		return k, nil
	}
	h, err := v.unwrap(customerID, wrapped)
	if err != nil {
		return nil, err
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("vault: unwrap data key: %w", err)
	}
	k = &DataKey{aead: a, opened: &v.opened}
	v.cache.put(customerID, sum, k, gen)
	return k, nil
}

// Forget drops a customer's cached data key: call it when the key is destroyed
// (erasure) or replaced, so that no copy stays in memory.
func (v *Vault) Forget(customerID string) {
	v.cache.remove(customerID)
}

// Rewrap returns the customer's data key wrapped under the current primary
// KEK, for re-wrapping after a KEK rotation. The data key itself, and so every
// field sealed with it, is unchanged. It bypasses the cache so that a bulk
// rotation does not evict the hot customers.
func (v *Vault) Rewrap(customerID string, wrapped []byte) ([]byte, error) {
	h, err := v.unwrap(customerID, wrapped)
	if err != nil {
		return nil, err
	}
	return v.wrap(customerID, h)
}

func (v *Vault) wrap(customerID string, h *keyset.Handle) ([]byte, error) {
	ad, err := encode(labelDataKey, customerID)
	if err != nil {
		return nil, fmt.Errorf("vault: wrap data key: %w", err)
	}
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), v.keys.Load().kek, ad); err != nil {
		return nil, fmt.Errorf("vault: wrap data key: %w", err)
	}
	return buf.Bytes(), nil
}

// unwrap decrypts a wrapped data key into its keyset handle.
func (v *Vault) unwrap(customerID string, wrapped []byte) (*keyset.Handle, error) {
	if customerID == "" {
		return nil, errors.New("vault: unwrap data key: empty customer id")
	}
	ad, err := encode(labelDataKey, customerID)
	if err != nil {
		return nil, fmt.Errorf("vault: unwrap data key: %w", err)
	}
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(wrapped)), v.keys.Load().kek, ad)
	if err != nil {
		// During an online KEK rotation another process may have re-wrapped
		// this key under a KEK key added since this vault read the file.
		if changed, rerr := v.Reload(); rerr == nil && changed {
			h, err = keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(wrapped)), v.keys.Load().kek, ad)
		}
	}
	if err != nil {
		// Wrong customer, tampering, or a KEK this vault lacks: all look alike.
		return nil, fmt.Errorf("vault: unwrap data key: %w", err)
	}
	return h, nil
}

// Seal encrypts one field value (AES256-GCM), binding the table, column and row
// id as associated data so that the ciphertext opens only in that place.
func (k *DataKey) Seal(plaintext []byte, table, column, rowID string) ([]byte, error) {
	ad, err := fieldAD(table, column, rowID)
	if err != nil {
		return nil, fmt.Errorf("vault: seal: %w", err)
	}
	ct, err := k.aead.Encrypt(plaintext, ad)
	if err != nil {
		return nil, fmt.Errorf("vault: seal %s.%s: %w", table, column, err)
	}
	return ct, nil
}

// Open decrypts a field sealed by [DataKey.Seal] for the same table, column and
// row id. Any mismatch or tampering is an error and returns no data.
func (k *DataKey) Open(ciphertext []byte, table, column, rowID string) ([]byte, error) {
	ad, err := fieldAD(table, column, rowID)
	if err != nil {
		return nil, fmt.Errorf("vault: open: %w", err)
	}
	k.opened.Add(1)
	pt, err := k.aead.Decrypt(ciphertext, ad)
	if err != nil {
		return nil, fmt.Errorf("vault: open %s.%s: %w", table, column, err)
	}
	return pt, nil
}

// fieldAD is the associated data of a field. Empty names are refused: sealing
// before a row has its id would bind the ciphertext to nothing in particular.
func fieldAD(table, column, rowID string) ([]byte, error) {
	if table == "" || column == "" || rowID == "" {
		return nil, errors.New("table, column and row id must be non-empty")
	}
	return encode(labelField, table, column, rowID)
}
