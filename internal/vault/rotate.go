package vault

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"google.golang.org/protobuf/proto"
)

// Primary returns the id of the primary key of purpose p: the key new data
// keys are wrapped with, new indexes and password MACs are computed with.
func (v *Vault) Primary(p Purpose) uint32 {
	return v.keys.Load().handles[p].KeysetInfo().GetPrimaryKeyId()
}

// Retire removes an older key from the keyset of purpose p and rewrites the
// key set file. It refuses the primary key. The caller must first make sure
// that nothing depends on the key any more (no data key wrapped under it, no
// index or password MAC computed with it): whatever still does becomes
// unreadable, which is exactly what retiring is for after an erasure.
func (v *Vault) Retire(p Purpose, keyID uint32) error {
	if _, err := p.template(); err != nil {
		return err
	}
	if keyID == v.Primary(p) {
		return fmt.Errorf("vault: key %d is the primary %s key; rotate first", keyID, p)
	}
	return v.update(p, func(m *keyset.Manager) error { return m.Delete(keyID) })
}

// Reload reads the key set file again if another process (keys rotate, keys
// retire) changed it, so a running server follows an online rotation. It
// reports whether the keys changed. A file that no longer loads leaves the
// current keys in place.
func (v *Vault) Reload() (bool, error) {
	v.rotateMu.Lock()
	defer v.rotateMu.Unlock()
	var data []byte
	var err error
	if v.store != nil {
		data, err = v.store.LoadKeyring()
	} else {
		data, err = v.read()
	}
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(data)
	if sum == v.fileSum {
		return false, nil
	}
	var handles map[Purpose]*keyset.Handle
	if v.store != nil {
		// decodeStored replaces the key-set key and master list only
		// once the whole value has opened.
		handles, err = v.decodeStored(data)
	} else {
		handles, err = v.decode(data)
	}
	if err != nil {
		return false, err
	}
	next, err := newKeys(handles)
	if err != nil {
		return false, err
	}
	v.keys.Store(next)
	if v.store != nil {
		v.last = data
	}
	v.fileSum = sum
	return true, nil
}

// WrappingKeyID returns the id of the KEK key a wrapped data key was
// encrypted with, read from the Tink output prefix (version byte 0x01 and a
// 4-byte big-endian key id) of the encrypted keyset. It does not decrypt.
func WrappingKeyID(wrapped []byte) (uint32, error) {
	var ek tinkpb.EncryptedKeyset
	if err := proto.Unmarshal(wrapped, &ek); err != nil {
		return 0, fmt.Errorf("vault: wrapped data key: %w", err)
	}
	ct := ek.GetEncryptedKeyset()
	if len(ct) < 5 || ct[0] != 0x01 {
		return 0, errors.New("vault: wrapped data key: no Tink key prefix")
	}
	return binary.BigEndian.Uint32(ct[1:5]), nil
}

// BlindIndexes returns the blind index of a value under every key of the
// blind-index keyset, the primary's first. Lookups match any of them, so rows
// not yet re-indexed after a rotation are still found; writes use the first.
func (v *Vault) BlindIndexes(kind, normalized string) ([][]byte, error) {
	primary, err := v.BlindIndex(kind, normalized)
	if err != nil {
		return nil, err
	}
	set := v.keys.Load().blind
	out := [][]byte{primary}
	ids := make([]uint32, 0, len(set.PRFs))
	for id := range set.PRFs {
		if id != set.PrimaryID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	in, err := encode(labelBlindIndex, kind, normalized)
	if err != nil {
		return nil, fmt.Errorf("vault: blind index: %w", err)
	}
	for _, id := range ids {
		idx, err := set.PRFs[id].ComputePRF(in, macSize)
		if err != nil {
			return nil, fmt.Errorf("vault: blind index: %w", err)
		}
		out = append(out, idx)
	}
	return out, nil
}
