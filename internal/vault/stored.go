package vault

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// A key set kept in the database
//
// Several servers share one MySQL database, so they must share one key set,
// and a rotation started anywhere must reach all of them. The key set is
// therefore kept in the database itself, in one row, sealed so that a copy
// of the database alone opens nothing:
//
//   - each of the four keysets is a Tink encrypted keyset under a "key-set
//     key" (an AES256-GCM Tink keyset of its own), with the keyset's slot
//     and the deployment's instance id as associated data;
//   - the key-set key is itself a Tink encrypted keyset under each master
//     key the deployment accepts (normally one; two while the master key is
//     being replaced). A master key never enters the database: it comes
//     from a file, an environment variable, a systemd credential or a KMS.
//
// Servers poll the row and reload the keys when it changes (Reload), so a
// `keys rotate` run from any host reaches every server. Adding a master key
// rewraps only the key-set key, so servers that still hold only the old
// master keep reading the row until it is removed.

// storedFormat names the layout of the sealed key set row.
const storedFormat = "resguardo-keyring/1"

// ErrNoKeySet is returned by [OpenStored] when the database records no key set.
var ErrNoKeySet = errors.New("vault: the database records no key set")

// ErrWrongMaster is returned when none of the master keys given opens the
// key set stored in the database.
var ErrWrongMaster = errors.New("vault: no master key given opens this database's key set")

// Master is a master key: a Tink AEAD with a name that identifies it without
// revealing it ("tink:<key id>" for a local key, the KMS URI for a remote one).
type Master struct {
	ID   string
	AEAD tink.AEAD
}

// Storage keeps the sealed key set, one value per deployment (sqlstore's
// keyring table). Values are opaque bytes to it.
type Storage interface {
	// LoadKeyring returns the stored value, or an error wrapping
	// fs.ErrNotExist when there is none.
	LoadKeyring() ([]byte, error)
	// CreateKeyring stores the first value; it fails with an error wrapping
	// fs.ErrExist if one is already stored (two servers starting at once).
	CreateKeyring(data []byte, binding string) error
	// ReplaceKeyring replaces old by next atomically, failing if the stored
	// value is no longer old (another process changed it meanwhile).
	ReplaceKeyring(old, next []byte, binding string) error
}

// sealedKeyring is the JSON layout of the stored value.
type sealedKeyring struct {
	Format   string                      `json:"format"`
	Instance string                      `json:"instance"`
	Masters  []sealedMaster              `json:"masters"`
	Keysets  map[Purpose]json.RawMessage `json:"keysets"`
}

// sealedMaster is the key-set key encrypted under one master key.
type sealedMaster struct {
	ID  string          `json:"id"`
	Key json.RawMessage `json:"key"`
}

// Binding says which key set a database is sealed under, without anything
// secret: the key ids of every keyset and a check value, an HMAC under the
// first audit key (audit keys are never retired) of the instance id. It is
// stored beside the sealed key set so operators and refusals can name it.
type Binding struct {
	Instance string               `json:"instance"`
	KeyIDs   map[Purpose][]uint32 `json:"key_ids"`
	CheckKey uint32               `json:"check_key"`
	Check    string               `json:"check"`
	Masters  []string             `json:"masters"`
}

// Short is a one-line summary of the binding for messages.
func (b Binding) Short() string {
	c := b.Check
	if len(c) > 16 {
		c = c[:16]
	}
	return fmt.Sprintf("key set check %s, kek keys %v, master key(s) %s", c, b.KeyIDs[PurposeKEK], strings.Join(b.Masters, ", "))
}

const labelBinding = "resguardo.binding.v1"

func keyringKeyAD(instance string) []byte {
	b, _ := encode("resguardo.keyring-key.v1", instance) // short values: cannot fail
	return b
}

func storedSlotAD(p Purpose, instance string) []byte {
	b, _ := encode("resguardo.keyring-slot.v1", string(p), instance)
	return b
}

// NewMaster generates a fresh local master key (a Tink AES256-GCM keyset).
func NewMaster() (*keyset.Handle, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("vault: new master key: %w", err)
	}
	return h, nil
}

// LocalMaster turns a local master keyset into a Master.
func LocalMaster(h *keyset.Handle) (Master, error) {
	a, err := aead.New(h)
	if err != nil {
		return Master{}, fmt.Errorf("vault: master key: %w", err)
	}
	return Master{ID: fmt.Sprintf("tink:%d", h.KeysetInfo().GetPrimaryKeyId()), AEAD: a}, nil
}

// OpenStored opens the key set kept in store for the deployment instance,
// with whichever of masters opens it. It never creates one: see
// [CreateStored].
func OpenStored(store Storage, instance string, masters []Master) (*Vault, error) {
	if len(masters) == 0 {
		return nil, errors.New("vault: no master key given")
	}
	v := &Vault{store: store, instance: instance, masters: masters, cache: newCache(DefaultCacheSize)}
	data, err := store.LoadKeyring()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoKeySet
	}
	if err != nil {
		return nil, err
	}
	handles, err := v.decodeStored(data)
	if err != nil {
		return nil, err
	}
	k, err := newKeys(handles)
	if err != nil {
		return nil, err
	}
	v.keys.Store(k)
	v.setLast(data)
	return v, nil
}

// CreateStored creates the deployment's key set in store, sealed under
// master: fresh keys, or, when from is not nil, the keys of from (a key set
// file being moved into the database). It fails with an error wrapping
// fs.ErrExist if the database already holds a key set.
func CreateStored(store Storage, instance string, master Master, from *Vault) (*Vault, error) {
	if master.AEAD == nil || master.ID == "" {
		return nil, errors.New("vault: no master key given")
	}
	if instance == "" {
		return nil, errors.New("vault: empty instance id")
	}
	var handles map[Purpose]*keyset.Handle
	var err error
	if from != nil {
		handles = from.keys.Load().handles
	} else if handles, err = generate(); err != nil {
		return nil, err
	}
	k, err := newKeys(handles)
	if err != nil {
		return nil, err
	}
	ksk, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("vault: new key-set key: %w", err)
	}
	v := &Vault{store: store, instance: instance, masters: []Master{master}, cache: newCache(DefaultCacheSize), ksk: ksk}
	sk := sealedKeyring{Format: storedFormat, Instance: instance}
	if sk.Masters, err = wrapKSK(ksk, instance, []Master{master}); err != nil {
		return nil, err
	}
	data, binding, err := v.encodeStored(sk, handles)
	if err != nil {
		return nil, err
	}
	if err := store.CreateKeyring(data, binding); err != nil {
		return nil, err
	}
	v.keys.Store(k)
	v.setLast(data)
	return v, nil
}

func wrapKSK(ksk *keyset.Handle, instance string, masters []Master) ([]sealedMaster, error) {
	out := make([]sealedMaster, 0, len(masters))
	for _, m := range masters {
		var buf bytes.Buffer
		if err := ksk.WriteWithAssociatedData(keyset.NewJSONWriter(&buf), m.AEAD, keyringKeyAD(instance)); err != nil {
			return nil, fmt.Errorf("vault: seal the key-set key under master key %s: %w", m.ID, err)
		}
		out = append(out, sealedMaster{ID: m.ID, Key: buf.Bytes()})
	}
	return out, nil
}

// setLast records the stored value this vault last read or wrote.
func (v *Vault) setLast(data []byte) {
	v.last = data
	v.fileSum = sha256.Sum256(data)
}

func parseStored(data []byte) (sealedKeyring, error) {
	var sk sealedKeyring
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sk); err != nil {
		return sk, errors.New("vault: the key set stored in the database is not of the expected shape")
	}
	if sk.Format != storedFormat {
		return sk, fmt.Errorf("vault: the key set stored in the database has unsupported format %q", sk.Format)
	}
	return sk, nil
}

// decodeStored opens the stored key set with this vault's master keys,
// keeping the key-set key for later writes.
func (v *Vault) decodeStored(data []byte) (map[Purpose]*keyset.Handle, error) {
	sk, err := parseStored(data)
	if err != nil {
		return nil, err
	}
	if sk.Instance != v.instance {
		return nil, fmt.Errorf("vault: the key set stored in the database belongs to deployment %q, this database is %q: it was copied from another deployment", sk.Instance, v.instance)
	}
	var ksk *keyset.Handle
	var stored []string
	for _, sm := range sk.Masters {
		stored = append(stored, sm.ID)
		for _, m := range v.masters {
			if m.ID != sm.ID {
				continue
			}
			h, err := keyset.ReadWithAssociatedData(keyset.NewJSONReader(bytes.NewReader(sm.Key)), m.AEAD, keyringKeyAD(sk.Instance))
			if err == nil {
				ksk = h
			}
		}
		if ksk != nil {
			break
		}
	}
	if ksk == nil {
		var given []string
		for _, m := range v.masters {
			given = append(given, m.ID)
		}
		return nil, fmt.Errorf("%w: it is sealed under master key(s) %s; this process has %s",
			ErrWrongMaster, strings.Join(stored, ", "), strings.Join(given, ", "))
	}
	kskAEAD, err := aead.New(ksk)
	if err != nil {
		return nil, fmt.Errorf("vault: key-set key: %w", err)
	}
	handles := make(map[Purpose]*keyset.Handle, len(purposes))
	for _, p := range purposes {
		raw, ok := sk.Keysets[p]
		if !ok {
			return nil, fmt.Errorf("vault: the key set stored in the database lacks the %s keyset", p)
		}
		h, err := keyset.ReadWithAssociatedData(keyset.NewJSONReader(bytes.NewReader(raw)), kskAEAD, storedSlotAD(p, sk.Instance))
		if err != nil {
			return nil, fmt.Errorf("vault: the %s keyset stored in the database does not open: %w", p, err)
		}
		handles[p] = h
	}
	v.ksk = ksk
	v.sealedMasters = sk.Masters
	return handles, nil
}

// encodeStored seals handles under the key-set key, beside the wrapped
// key-set keys of sk, and returns the value and its binding (JSON).
func (v *Vault) encodeStored(sk sealedKeyring, handles map[Purpose]*keyset.Handle) ([]byte, string, error) {
	kskAEAD, err := aead.New(v.ksk)
	if err != nil {
		return nil, "", fmt.Errorf("vault: key-set key: %w", err)
	}
	sk.Keysets = make(map[Purpose]json.RawMessage, len(purposes))
	for _, p := range purposes {
		var buf bytes.Buffer
		if err := handles[p].WriteWithAssociatedData(keyset.NewJSONWriter(&buf), kskAEAD, storedSlotAD(p, sk.Instance)); err != nil {
			return nil, "", fmt.Errorf("vault: seal %s keyset: %w", p, err)
		}
		sk.Keysets[p] = buf.Bytes()
	}
	data, err := json.Marshal(sk)
	if err != nil {
		return nil, "", fmt.Errorf("vault: encode key set: %w", err)
	}
	b, err := bindingOf(sk, handles)
	if err != nil {
		return nil, "", err
	}
	bj, err := json.Marshal(b)
	if err != nil {
		return nil, "", fmt.Errorf("vault: encode key set binding: %w", err)
	}
	v.sealedMasters = sk.Masters
	return data, string(bj), nil
}

func bindingOf(sk sealedKeyring, handles map[Purpose]*keyset.Handle) (Binding, error) {
	b := Binding{Instance: sk.Instance, KeyIDs: map[Purpose][]uint32{}}
	for _, sm := range sk.Masters {
		b.Masters = append(b.Masters, sm.ID)
	}
	for _, p := range purposes {
		for _, ki := range handles[p].KeysetInfo().GetKeyInfo() {
			b.KeyIDs[p] = append(b.KeyIDs[p], ki.GetKeyId())
		}
	}
	k, err := newKeys(handles)
	if err != nil {
		return Binding{}, err
	}
	ids := slices.Clone(b.KeyIDs[PurposeAudit])
	slices.Sort(ids)
	b.CheckKey = ids[0]
	mac, err := macWith(k.audit, b.CheckKey, labelBinding, []byte(sk.Instance), "binding")
	if err != nil {
		return Binding{}, err
	}
	b.Check = hex.EncodeToString(mac)
	return b, nil
}

// Binding returns the binding of the loaded key set (stored key sets only).
func (v *Vault) Binding() (Binding, error) {
	if v.store == nil {
		return Binding{}, errors.New("vault: the key set is not stored in the database")
	}
	v.rotateMu.Lock()
	defer v.rotateMu.Unlock()
	return bindingOf(sealedKeyring{Instance: v.instance, Masters: v.sealedMasters}, v.keys.Load().handles)
}

// VerifyBinding checks that a binding read from the database is the one of
// the loaded keys: the same key ids and the same check value.
func (v *Vault) VerifyBinding(stored string) error {
	var b Binding
	if err := json.Unmarshal([]byte(stored), &b); err != nil {
		return errors.New("vault: the key set binding stored in the database is damaged")
	}
	mine, err := v.Binding()
	if err != nil {
		return err
	}
	if b.Check != mine.Check || b.Instance != mine.Instance {
		return errors.New("vault: the key set binding stored in the database does not match its key set")
	}
	return nil
}

// storedWrite seals handles and replaces the stored value, keeping the
// masters. The caller holds rotateMu.
func (v *Vault) storedWrite(handles map[Purpose]*keyset.Handle, masters []sealedMaster) error {
	sk := sealedKeyring{Format: storedFormat, Instance: v.instance, Masters: masters}
	data, binding, err := v.encodeStored(sk, handles)
	if err != nil {
		return err
	}
	if err := v.store.ReplaceKeyring(v.last, data, binding); err != nil {
		return err
	}
	v.setLast(data)
	return nil
}

// Masters names the master keys the stored key set is sealed under.
func (v *Vault) Masters() []string {
	v.rotateMu.Lock()
	defer v.rotateMu.Unlock()
	var out []string
	for _, sm := range v.sealedMasters {
		out = append(out, sm.ID)
	}
	return out
}

// AddMaster seals the key-set key under one more master key, online: the
// keys do not change, so running servers that hold only an earlier master
// key keep reading the key set. Give the new master key to every server,
// then remove the old one with [Vault.RemoveMaster].
func (v *Vault) AddMaster(m Master) error {
	if v.store == nil {
		return errors.New("vault: the key set is not stored in the database")
	}
	v.rotateMu.Lock()
	defer v.rotateMu.Unlock()
	if err := v.checkUnchanged(); err != nil {
		return fmt.Errorf("vault: add master key: %w", err)
	}
	for _, sm := range v.sealedMasters {
		if sm.ID == m.ID {
			return fmt.Errorf("vault: the key set is already sealed under master key %s", m.ID)
		}
	}
	wrapped, err := wrapKSK(v.ksk, v.instance, []Master{m})
	if err != nil {
		return err
	}
	return v.storedWrite(v.keys.Load().handles, append(slices.Clone(v.sealedMasters), wrapped...))
}

// RemoveMaster withdraws a master key: the stored key set is no longer
// sealed under it, so it opens nothing in this database from then on. A
// copy of the database taken before still opens with it. The last master
// key cannot be removed.
func (v *Vault) RemoveMaster(id string) error {
	if v.store == nil {
		return errors.New("vault: the key set is not stored in the database")
	}
	v.rotateMu.Lock()
	defer v.rotateMu.Unlock()
	if err := v.checkUnchanged(); err != nil {
		return fmt.Errorf("vault: remove master key: %w", err)
	}
	var keep []sealedMaster
	found := false
	for _, sm := range v.sealedMasters {
		if sm.ID == id {
			found = true
			continue
		}
		keep = append(keep, sm)
	}
	switch {
	case !found:
		return fmt.Errorf("vault: the key set is not sealed under master key %s", id)
	case len(keep) == 0:
		return fmt.Errorf("vault: master key %s is the only one: add its successor first (keys master add)", id)
	}
	// A new key-set key, so that whoever unwrapped the old one with the
	// withdrawn master key cannot open the key set written from now on. It
	// is sealed under every master key that stays, which this process must
	// therefore hold.
	var stay []Master
	for _, sm := range keep {
		i := slices.IndexFunc(v.masters, func(m Master) bool { return m.ID == sm.ID })
		if i < 0 {
			return fmt.Errorf("vault: to withdraw %s this process needs every master key that stays; it lacks %s", id, sm.ID)
		}
		stay = append(stay, v.masters[i])
	}
	ksk, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return fmt.Errorf("vault: new key-set key: %w", err)
	}
	wrapped, err := wrapKSK(ksk, v.instance, stay)
	if err != nil {
		return err
	}
	prev := v.ksk
	v.ksk = ksk
	if err := v.storedWrite(v.keys.Load().handles, wrapped); err != nil {
		v.ksk = prev
		return err
	}
	return nil
}
