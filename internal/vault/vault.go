// Package vault owns resguardo's keys: the key set file, per-customer data keys,
// field encryption, blind indexes, the password pepper and the audit-chain MAC.
//
// Every cryptographic operation is a Google Tink primitive (AEAD AES256-GCM and
// PRF HMAC-SHA256); this package only chooses keys, associated data and domain
// separation, and never implements cryptography itself.
//
// # Keys
//
// The key set file <data-dir>/keyset.json holds four independent Tink keysets, so
// that each can be rotated on its own:
//
//   - kek: AEAD AES256-GCM, wraps the per-customer data keys;
//   - blind_index: PRF HMAC-SHA256, keyed blind indexes for exact lookups;
//   - pepper: PRF HMAC-SHA256, the secret applied to passwords before argon2id,
//     and the key of the stored form of recovery codes;
//   - audit: PRF HMAC-SHA256, the keyed MAC of the audit chain.
//
// Each customer has a data key (a Tink AEAD AES256-GCM keyset of its own) stored
// in the database only in wrapped form, encrypted under the KEK with the customer
// id as associated data. Destroying the wrapped key erases the customer's
// personal data (crypto-shredding).
//
// # Where the key set is kept
//
// A deployment keeps its key set in its database, sealed under a master key
// that is never in the database ([OpenStored], [CreateStored]; stored.go
// explains the layout). The key set file described below, [Open] and
// [OpenWithMasterKey] are what earlier releases used; resguardo now reads
// such a file only to move it into the database (`resguardo keys init`).
//
// # The key set file: a master key in a KMS or HashiCorp Vault
//
// [Open] keeps the keysets in cleartext on local disk, protected by file
// permissions only. That is the development default, and acceptable only where
// the data directory is as well guarded as the database. In production the file
// should be encrypted by a master key that never leaves a KMS, with
// [OpenWithMasterKey]. Any Tink remote AEAD works; for HashiCorp Vault's transit
// engine (an aes256-gcm96 key), with github.com/tink-crypto/tink-go-hcvault/v2
// (v2.5.0: hcvault.NewAEAD) and github.com/hashicorp/vault/api:
//
//	cfg := api.DefaultConfig()             // verified TLS; VAULT_CACERT etc.
//	cfg.Address = "https://vault.internal:8200"
//	client, err := api.NewClient(cfg)
//	client.SetToken(token)                 // from a file or Vault agent, never a flag
//	master, err := hcvault.NewAEAD("/transit/keys/resguardo", client.Logical())
//	v, err := vault.OpenWithMasterKey(dataDir, master)
//
// hcvault.NewAEAD sends Vault's "associated_data" parameter, which this package
// uses to bind each keyset to its slot in the file. Avoid the legacy
// hcvault.NewClient(...).GetAEAD path and WithLegacyContextParamater: they send
// associated data as "context", which Vault ignores for non-derived keys. Google
// Cloud KMS (tink-go-gcpkms) and AWS KMS (tink-go-awskms) plug in the same way
// through their client's GetAEAD. The master key is used only at start, on
// rotation and by [Vault.ProtectWithMasterKey], so the KMS is never on the
// request path, and a KMS outage stops only restarts.
package vault

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Purpose names one of the four keysets in the key set file.
type Purpose string

// The keysets in the key set file. The values are the JSON field names in the
// file and the associated data binding each encrypted keyset to its slot.
const (
	PurposeKEK        Purpose = "kek"
	PurposeBlindIndex Purpose = "blind_index"
	PurposePepper     Purpose = "pepper"
	PurposeAudit      Purpose = "audit"
)

// purposes lists every keyset, in file order.
var purposes = []Purpose{PurposeKEK, PurposeBlindIndex, PurposePepper, PurposeAudit}

// template returns the Tink key template for new keys of purpose p.
func (p Purpose) template() (*tinkpb.KeyTemplate, error) {
	switch p {
	case PurposeKEK:
		return aead.AES256GCMKeyTemplate(), nil
	case PurposeBlindIndex, PurposePepper, PurposeAudit:
		return prf.HMACSHA256PRFKeyTemplate(), nil
	}
	return nil, fmt.Errorf("vault: unknown key purpose %q", p)
}

// macSize is the output length of every PRF in this package: the full
// HMAC-SHA256 output.
const macSize = 32

// Domain-separation labels, one per use of a key. They are part of every input,
// so a value computed for one use can never be valid for another, and a version
// bump changes every output.
const (
	labelDataKey    = "resguardo.datakey.v1"
	labelField      = "resguardo.field.v1"
	labelBlindIndex = "resguardo.blindindex.v1"
	labelPepper     = "resguardo.pepper.v1"
	labelRecovery   = "resguardo.recovery.v1"
	labelAudit      = "resguardo.audit.v1"
)

// DefaultCacheSize bounds the unwrapped data-key cache. One entry holds one
// customer's Tink AEAD primitive, about 1.5 KB, so a full cache is about 24 MiB;
// 16k entries keep the working set of a busy server warm.
const DefaultCacheSize = 16384

// Vault holds the loaded keysets. It is safe for concurrent use.
type Vault struct {
	dir    string
	master tink.AEAD // nil when the key set file is stored in cleartext

	// keys is replaced as a whole on rotation, so readers never lock and never
	// see a half-rotated state.
	keys atomic.Pointer[keys]
	// opened counts the personal fields opened with this vault's data keys
	// (FieldsOpened).
	opened atomic.Uint64
	// rotateMu serialises rotations in this process (read, add key, write file).
	rotateMu sync.Mutex
	// fileSum is the SHA-256 of the key set file as last read or written, so a
	// rotation notices that another process rewrote the file meanwhile instead
	// of overwriting (and losing) that process's new keys. Guarded by rotateMu.
	fileSum [32]byte

	// For a key set kept in the database (OpenStored): where it is, the
	// deployment it belongs to, the master keys this process holds, the
	// value last read or written (for compare-and-swap), the key-set key and
	// the master keys the value is sealed under. Guarded by rotateMu after
	// opening.
	store         Storage
	instance      string
	masters       []Master
	last          []byte
	ksk           *keyset.Handle
	sealedMasters []sealedMaster

	cache *cache
}

// keys is one immutable generation of the key set: the handles (kept to write
// the file and to rotate) and the primitives built from them.
type keys struct {
	handles map[Purpose]*keyset.Handle
	kek     tink.AEAD
	blind   *prf.Set
	pepper  *prf.Set
	audit   *prf.Set
}

func newKeys(handles map[Purpose]*keyset.Handle) (*keys, error) {
	k := &keys{handles: handles}
	var err error
	if k.kek, err = aead.New(handles[PurposeKEK]); err != nil {
		return nil, fmt.Errorf("vault: kek keyset: %w", err)
	}
	prfs := []struct {
		p   Purpose
		dst **prf.Set
	}{{PurposeBlindIndex, &k.blind}, {PurposePepper, &k.pepper}, {PurposeAudit, &k.audit}}
	for _, x := range prfs {
		s, err := prf.NewPRFSet(handles[x.p])
		if err != nil {
			return nil, fmt.Errorf("vault: %s keyset: %w", x.p, err)
		}
		// Refuse a primary that cannot give a full-length output (e.g. an
		// AES-CMAC key put in the file by hand) now, not on the first request.
		if _, err := s.ComputePrimaryPRF(nil, macSize); err != nil {
			return nil, fmt.Errorf("vault: %s keyset: primary key cannot give %d-byte outputs: %w", x.p, macSize, err)
		}
		*x.dst = s
	}
	return k, nil
}

// Open loads the key set file <dataDir>/keyset.json, creating it with fresh keys
// on first use (the directory 0700 if missing, the file 0600). The keysets are
// stored in cleartext: the local development default (see the package comment
// for production). It refuses a file that group or others may read or write, and
// a file that was written encrypted under a master key.
func Open(dataDir string) (*Vault, error) {
	return open(dataDir, nil)
}

// OpenWithMasterKey is [Open] for production: the keysets in the file are
// encrypted under master, typically a remote AEAD in a KMS or HashiCorp Vault,
// with each keyset's purpose as associated data so that keysets cannot be swapped
// between slots. It refuses a cleartext key set file rather than silently
// trusting it.
func OpenWithMasterKey(dataDir string, master tink.AEAD) (*Vault, error) {
	if master == nil {
		return nil, errors.New("vault: master key is nil")
	}
	return open(dataDir, master)
}

func open(dataDir string, master tink.AEAD) (*Vault, error) {
	v := &Vault{dir: dataDir, master: master, cache: newCache(DefaultCacheSize)}
	handles, err := v.loadOrCreate()
	if err != nil {
		return nil, err
	}
	k, err := newKeys(handles)
	if err != nil {
		return nil, err
	}
	v.keys.Store(k)
	return v, nil
}

// Rotate adds a fresh key to the keyset of purpose p, makes it the primary,
// writes the key set file and returns the new key's id. Older keys stay, so
// everything made with them can still be opened or verified:
//
//   - KEK: new data keys are wrapped under the new key; re-wrap existing ones
//     with [Vault.Rewrap].
//   - pepper, audit: new MACs use the new key; old ones verify through
//     [Vault.PepperMACWith] and [Vault.AuditMACWith].
//   - blind index: new indexes use the new key, so every stored index must be
//     recomputed before lookups find old rows again.
//
// Rotation changes this process's keys and the file; other running processes
// see the new keys only when they reopen the file. So rotate in the serving
// process, or restart every server before re-wrapping or re-indexing: a server
// that lacks the new KEK key cannot unwrap keys re-wrapped under it. Rotate
// refuses if the file changed on disk since this vault read or wrote it.
func (v *Vault) Rotate(p Purpose) (keyID uint32, err error) {
	tmpl, err := p.template()
	if err != nil {
		return 0, err
	}
	err = v.update(p, func(m *keyset.Manager) error {
		if keyID, err = m.Add(tmpl); err != nil {
			return err
		}
		return m.SetPrimary(keyID)
	})
	return keyID, err
}

// update changes the keyset of purpose p with change, writes the key set
// file, and only then switches this vault to the new keys.
func (v *Vault) update(p Purpose, change func(*keyset.Manager) error) error {
	v.rotateMu.Lock()
	defer v.rotateMu.Unlock()
	if err := v.checkUnchanged(); err != nil {
		return fmt.Errorf("vault: change %s keyset: %w", p, err)
	}
	cur := v.keys.Load()
	m := keyset.NewManagerFromHandle(cur.handles[p])
	if err := change(m); err != nil {
		return fmt.Errorf("vault: change %s keyset: %w", p, err)
	}
	h, err := m.Handle()
	if err != nil {
		return fmt.Errorf("vault: change %s keyset: %w", p, err)
	}
	handles := make(map[Purpose]*keyset.Handle, len(cur.handles))
	for q, old := range cur.handles {
		handles[q] = old
	}
	handles[p] = h
	next, err := newKeys(handles)
	if err != nil {
		return err
	}
	// Write before switching: if the key set cannot be written, nothing is
	// encrypted under a key that would be lost on restart.
	if err := v.write(handles); err != nil {
		return fmt.Errorf("vault: change %s keyset: %w", p, err)
	}
	v.keys.Store(next)
	return nil
}

// KeysetStatus describes one keyset without key material, for `keys status`.
type KeysetStatus struct {
	Purpose Purpose
	Primary uint32
	KeyIDs  []uint32 // every key, primary included, in keyset order
}

// Status reports the key ids in each keyset.
func (v *Vault) Status() []KeysetStatus {
	k := v.keys.Load()
	out := make([]KeysetStatus, 0, len(purposes))
	for _, p := range purposes {
		info := k.handles[p].KeysetInfo()
		s := KeysetStatus{Purpose: p, Primary: info.GetPrimaryKeyId()}
		for _, ki := range info.GetKeyInfo() {
			s.KeyIDs = append(s.KeyIDs, ki.GetKeyId())
		}
		out = append(out, s)
	}
	return out
}

// BlindIndex returns the keyed blind index of a normalised value (32 bytes):
// HMAC-SHA256 under the primary blind-index key of the kind ("email", "phone")
// and the value. The same kind and value always give the same index; another
// kind gives an unrelated one, so an e-mail index never matches a phone index.
func (v *Vault) BlindIndex(kind, normalized string) ([]byte, error) {
	if kind == "" || normalized == "" {
		return nil, errors.New("vault: blind index: kind and value must be non-empty")
	}
	in, err := encode(labelBlindIndex, kind, normalized)
	if err != nil {
		return nil, fmt.Errorf("vault: blind index: %w", err)
	}
	out, err := v.keys.Load().blind.ComputePrimaryPRF(in, macSize)
	if err != nil {
		return nil, fmt.Errorf("vault: blind index: %w", err)
	}
	return out, nil
}

// PepperMAC returns the id of the primary pepper key and the HMAC-SHA256 of the
// password under it. Store the key id with the password hash: after a pepper
// rotation it selects the key for [Vault.PepperMACWith].
func (v *Vault) PepperMAC(password []byte) (keyID uint32, mac []byte, err error) {
	return primaryMAC(v.keys.Load().pepper, labelPepper, password, "pepper")
}

// PepperMACWith is PepperMAC under the given, possibly older, pepper key.
func (v *Vault) PepperMACWith(keyID uint32, password []byte) ([]byte, error) {
	return macWith(v.keys.Load().pepper, keyID, labelPepper, password, "pepper")
}

// KeyedMAC is a MAC and the id of the key it was computed with.
type KeyedMAC struct {
	KeyID uint32
	MAC   []byte
}

// RecoveryMAC is the stored form of a customer's recovery code: HMAC-SHA256
// under the primary pepper key of the customer id and the code's digest
// (auth.RecoveryCodeHash). The key lives outside the database, so a dump
// alone cannot test guesses; the customer id makes equal codes of two
// customers store differently. Taking the digest, not the code, lets codes
// stored as a bare digest before be converted without knowing them.
func (v *Vault) RecoveryMAC(customerID string, digest []byte) (KeyedMAC, error) {
	set := v.keys.Load().pepper
	mac, err := recoveryMAC(set, set.PrimaryID, customerID, digest)
	return KeyedMAC{KeyID: set.PrimaryID, MAC: mac}, err
}

// RecoveryMACs is RecoveryMAC under every pepper key, the primary first:
// codes stored before a pepper rotation verify under the key they were
// made with.
func (v *Vault) RecoveryMACs(customerID string, digest []byte) ([]KeyedMAC, error) {
	set := v.keys.Load().pepper
	ids := make([]uint32, 0, len(set.PRFs))
	for id := range set.PRFs {
		if id != set.PrimaryID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := make([]KeyedMAC, 0, len(set.PRFs))
	for _, id := range append([]uint32{set.PrimaryID}, ids...) {
		mac, err := recoveryMAC(set, id, customerID, digest)
		if err != nil {
			return nil, err
		}
		out = append(out, KeyedMAC{KeyID: id, MAC: mac})
	}
	return out, nil
}

func recoveryMAC(set *prf.Set, keyID uint32, customerID string, digest []byte) ([]byte, error) {
	if customerID == "" || len(digest) == 0 {
		return nil, errors.New("vault: recovery mac: customer and digest must be non-empty")
	}
	in, err := encode(customerID, string(digest))
	if err != nil {
		return nil, fmt.Errorf("vault: recovery mac: %w", err)
	}
	return macWith(set, keyID, labelRecovery, in, "recovery")
}

// AuditMAC returns the id of the primary audit key and the HMAC-SHA256 of msg
// under it, for chaining audit entries.
func (v *Vault) AuditMAC(msg []byte) (keyID uint32, tag []byte, err error) {
	return primaryMAC(v.keys.Load().audit, labelAudit, msg, "audit")
}

// AuditMACWith is AuditMAC under the given, possibly older, audit key; use it
// to verify the chain. Compare tags with crypto/subtle.ConstantTimeCompare or
// hmac.Equal.
func (v *Vault) AuditMACWith(keyID uint32, msg []byte) ([]byte, error) {
	return macWith(v.keys.Load().audit, keyID, labelAudit, msg, "audit")
}

func primaryMAC(s *prf.Set, label string, msg []byte, what string) (uint32, []byte, error) {
	out, err := s.ComputePrimaryPRF(withLabel(label, msg), macSize)
	if err != nil {
		return 0, nil, fmt.Errorf("vault: %s mac: %w", what, err)
	}
	return s.PrimaryID, out, nil
}

func macWith(s *prf.Set, keyID uint32, label string, msg []byte, what string) ([]byte, error) {
	f, ok := s.PRFs[keyID]
	if !ok {
		return nil, fmt.Errorf("vault: %s mac: unknown key id %d", what, keyID)
	}
	out, err := f.ComputePRF(withLabel(label, msg), macSize)
	if err != nil {
		return nil, fmt.Errorf("vault: %s mac: %w", what, err)
	}
	return out, nil
}

// withLabel prefixes msg with a length-prefixed label. The label is fixed and
// length-prefixed, so the rest of the input is unambiguous without a prefix.
func withLabel(label string, msg []byte) []byte {
	b, _ := encode(label) // labels are short constants: cannot fail
	return append(b, msg...)
}

// encode joins parts unambiguously: each is preceded by its length as a 4-byte
// big-endian integer, so ("ab","c") and ("a","bc") never encode alike. It is
// used for associated data and PRF inputs.
func encode(parts ...string) ([]byte, error) {
	size := 0
	for _, p := range parts {
		size += 4 + len(p)
	}
	b := make([]byte, 0, size)
	for _, p := range parts {
		n := len(p)
		if uint64(n) > math.MaxUint32 {
			return nil, errors.New("input too long")
		}
		b = binary.BigEndian.AppendUint32(b, uint32(n))
		b = append(b, p...)
	}
	return b, nil
}

// FieldsOpened is how many sealed fields this vault's data keys have
// decrypted since it was opened: what a page or an operation costs in
// decryptions, for the tests that hold a staff reveal to one opening of the
// profile.
func (v *Vault) FieldsOpened() uint64 { return v.opened.Load() }
