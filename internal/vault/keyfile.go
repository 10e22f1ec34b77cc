package vault

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// KeysetFile is the name of the key set file inside the data directory.
const KeysetFile = "keyset.json"

const (
	fileFormat = "resguardo-keyset/1"
	// maxFileSize bounds what is read from disk; a real file is a few kilobytes
	// and grows by a few hundred bytes per rotation.
	maxFileSize = 1 << 20

	protectionCleartext = "cleartext"
	protectionMasterKey = "master-key"
)

// keyFile is the JSON layout of keyset.json. Each keyset is Tink's own JSON
// keyset format: a Keyset in cleartext, or an EncryptedKeyset under the master
// key.
type keyFile struct {
	Format     string                      `json:"format"`
	Protection string                      `json:"protection"`
	Keysets    map[Purpose]json.RawMessage `json:"keysets"`
}

func (v *Vault) path() string { return filepath.Join(v.dir, KeysetFile) }

// loadOrCreate reads the key set file, or generates fresh keysets and writes
// them if there is none yet.
func (v *Vault) loadOrCreate() (map[Purpose]*keyset.Handle, error) {
	if err := os.MkdirAll(v.dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: create data directory: %w", err)
	}
	data, err := v.read()
	if errors.Is(err, fs.ErrNotExist) {
		handles, err := generate()
		if err != nil {
			return nil, err
		}
		err = v.save(handles, false)
		if err == nil {
			return handles, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		// Another process created the file meanwhile: use its keys, never
		// overwrite them (anything already encrypted under them would be lost).
		data, err = v.read()
		if err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	v.fileSum = sha256.Sum256(data)
	return v.decode(data)
}

// checkUnchanged reports an error if the key set file is no longer the one this
// vault last read or wrote. The caller holds rotateMu.
func (v *Vault) checkUnchanged() error {
	if v.store != nil {
		data, err := v.store.LoadKeyring()
		if err != nil {
			return err
		}
		if !bytes.Equal(data, v.last) {
			return errors.New("the key set in the database was changed by another process meanwhile; retry")
		}
		return nil
	}
	data, err := v.read()
	if err != nil {
		return err
	}
	if sha256.Sum256(data) != v.fileSum {
		return fmt.Errorf("key set file %s was changed by another process; restart to load it, then retry", v.path())
	}
	return nil
}

// read returns the contents of the key set file after checking that only its
// owner can read or write it. The check runs on the opened file, so the file
// checked is the file read.
func (v *Vault) read() ([]byte, error) {
	root, err := os.OpenRoot(v.dir)
	if err != nil {
		return nil, fmt.Errorf("vault: open data directory: %w", err)
	}
	defer root.Close()
	f, err := root.Open(KeysetFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("vault: open key set file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vault: key set file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("vault: key set file %s is not a regular file", v.path())
	}
	// Windows has no Unix permission bits; there the directory's ACL protects it.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("vault: key set file %s has mode %04o, so other users may read or change the keys; "+
			"restrict it with `chmod 600 %s` (and check who could have copied it)", v.path(), perm, v.path())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("vault: read key set file: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("vault: key set file %s is larger than %d bytes", v.path(), maxFileSize)
	}
	return data, nil
}

// write stores handles as the new key set, in the file or the database.
func (v *Vault) write(handles map[Purpose]*keyset.Handle) error {
	if v.store != nil {
		return v.storedWrite(handles, v.sealedMasters)
	}
	return v.save(handles, true)
}

// decode parses the key set file. Errors never quote key material.
func (v *Vault) decode(data []byte) (map[Purpose]*keyset.Handle, error) {
	var kf keyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("vault: key set file %s is not valid JSON of the expected shape", v.path())
	}
	if kf.Format != fileFormat {
		return nil, fmt.Errorf("vault: key set file %s has unsupported format %q", v.path(), kf.Format)
	}
	switch {
	case kf.Protection == protectionMasterKey && v.master == nil:
		return nil, fmt.Errorf("vault: key set file %s is encrypted under a master key; configure the master key (KMS) to open it", v.path())
	case kf.Protection == protectionCleartext && v.master != nil:
		// Refuse rather than adopt: whoever can write the data directory could
		// otherwise plant keys they know.
		return nil, fmt.Errorf("vault: key set file %s is stored in cleartext but a master key is configured; "+
			"encrypt it once with Vault.ProtectWithMasterKey, or remove the master key setting", v.path())
	case kf.Protection != protectionCleartext && kf.Protection != protectionMasterKey:
		return nil, fmt.Errorf("vault: key set file %s has unknown protection %q", v.path(), kf.Protection)
	}
	handles := make(map[Purpose]*keyset.Handle, len(purposes))
	for _, p := range purposes {
		raw, ok := kf.Keysets[p]
		if !ok {
			return nil, fmt.Errorf("vault: key set file %s lacks the %s keyset", v.path(), p)
		}
		r := keyset.NewJSONReader(bytes.NewReader(raw))
		var h *keyset.Handle
		var err error
		if v.master == nil {
			// The JSON parser underneath quotes the offending value, which here
			// could be key material; insecurecleartextkeyset hides it today, but
			// report only the slot rather than depend on that.
			if h, err = insecurecleartextkeyset.Read(r); err != nil {
				err = errors.New("not a valid Tink keyset")
			}
		} else {
			// Errors here quote at most ciphertext, or come from the master key.
			h, err = keyset.ReadWithAssociatedData(r, v.master, slotAD(p))
		}
		if err != nil {
			return nil, fmt.Errorf("vault: key set file %s: %s keyset: %w", v.path(), p, err)
		}
		handles[p] = h
	}
	return handles, nil
}

// ProtectWithMasterKey rewrites the key set file of a vault opened with [Open]
// so that its keysets are encrypted under master; from then on it opens only
// with [OpenWithMasterKey]. The keys themselves do not change. Cleartext copies
// of the old file (backups) still expose the keys: rotate after migrating if
// any may exist.
func (v *Vault) ProtectWithMasterKey(master tink.AEAD) error {
	if v.store != nil {
		return errors.New("vault: the key set is kept in the database, always under a master key")
	}
	if master == nil {
		return errors.New("vault: master key is nil")
	}
	v.rotateMu.Lock()
	defer v.rotateMu.Unlock()
	if err := v.checkUnchanged(); err != nil {
		return fmt.Errorf("vault: protect key set file: %w", err)
	}
	prev := v.master
	v.master = master
	if err := v.save(v.keys.Load().handles, true); err != nil {
		v.master = prev
		return fmt.Errorf("vault: protect key set file: %w", err)
	}
	return nil
}

// slotAD is the associated data for an encrypted keyset: its slot in the file.
func slotAD(p Purpose) []byte {
	b, _ := encode("resguardo.keyset.v1", string(p)) // short constants: cannot fail
	return b
}

func generate() (map[Purpose]*keyset.Handle, error) {
	handles := make(map[Purpose]*keyset.Handle, len(purposes))
	for _, p := range purposes {
		tmpl, err := p.template()
		if err != nil {
			return nil, err
		}
		if handles[p], err = keyset.NewHandle(tmpl); err != nil {
			return nil, fmt.Errorf("vault: generate %s keyset: %w", p, err)
		}
	}
	return handles, nil
}

// save writes the key set file atomically: to a temporary file (0600) that is
// synced and then linked into place. With replace false the link fails with
// fs.ErrExist if a key set file already exists, so two processes starting on an
// empty directory cannot overwrite each other's keys; with replace true
// (rotation) the file is swapped by rename.
func (v *Vault) save(handles map[Purpose]*keyset.Handle, replace bool) error {
	kf := keyFile{Format: fileFormat, Protection: protectionCleartext, Keysets: map[Purpose]json.RawMessage{}}
	if v.master != nil {
		kf.Protection = protectionMasterKey
	}
	for _, p := range purposes {
		var buf bytes.Buffer
		w := keyset.NewJSONWriter(&buf)
		var err error
		if v.master == nil {
			err = insecurecleartextkeyset.Write(handles[p], w)
		} else {
			err = handles[p].WriteWithAssociatedData(w, v.master, slotAD(p))
		}
		if err != nil {
			return fmt.Errorf("vault: write %s keyset: %w", p, err)
		}
		kf.Keysets[p] = buf.Bytes()
	}
	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return fmt.Errorf("vault: encode key set file: %w", err)
	}

	root, err := os.OpenRoot(v.dir)
	if err != nil {
		return fmt.Errorf("vault: open data directory: %w", err)
	}
	defer root.Close()
	tmp := KeysetFile + ".tmp-" + rand.Text()
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("vault: create key set file: %w", err)
	}
	defer root.Remove(tmp) //nolint:errcheck // gone after a successful link or rename
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("vault: write key set file: %w", err)
	}
	if replace {
		err = root.Rename(tmp, KeysetFile)
	} else {
		err = root.Link(tmp, KeysetFile)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("vault: install key set file: %w", err)
	}
	v.fileSum = sha256.Sum256(data)
	// Make the new directory entry durable too.
	if d, err := root.Open("."); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// KeysetInClear reports whether the key set file in dataDir holds its
// keysets in cleartext (protected by file permissions only) rather than
// encrypted under a master key. It reads the file's header only, never the
// keys, and changes nothing: it is for doctor.
func KeysetInClear(dataDir string) (bool, error) {
	root, err := os.OpenRoot(dataDir)
	if err != nil {
		return false, fmt.Errorf("vault: open data directory: %w", err)
	}
	defer root.Close()
	f, err := root.Open(KeysetFile)
	if err != nil {
		return false, fmt.Errorf("vault: open key set file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return false, fmt.Errorf("vault: read key set file: %w", err)
	}
	var head struct {
		Format     string `json:"format"`
		Protection string `json:"protection"`
	}
	if len(data) > maxFileSize || json.Unmarshal(data, &head) != nil || head.Format != fileFormat {
		return false, errors.New("vault: the key set file is not a resguardo key set")
	}
	switch head.Protection {
	case protectionCleartext:
		return true, nil
	case protectionMasterKey:
		return false, nil
	}
	return false, fmt.Errorf("vault: key set file has unknown protection %q", head.Protection)
}
