package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

// MasterKeyFile is the name of the master key file the embedded SQLite
// default keeps in its data directory.
const MasterKeyFile = "master.key"

// maxMasterSize bounds a master key read from a file or the environment: a
// Tink keyset of a few AES keys is well under a kilobyte.
const maxMasterSize = 64 << 10

// ParseMaster reads a local master key: a Tink AES256-GCM keyset in Tink's
// JSON form, as [WriteMasterFile] writes it. Errors never quote the input.
func ParseMaster(text []byte) (Master, error) {
	if len(text) > maxMasterSize {
		return Master{}, errors.New("vault: master key is too large to be a Tink keyset")
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(text)))
	if err != nil {
		return Master{}, errors.New("vault: master key is not a Tink keyset in JSON form")
	}
	m, err := LocalMaster(h)
	if err != nil {
		return Master{}, errors.New("vault: master key is not a Tink AEAD keyset")
	}
	return m, nil
}

// ReadMasterFile reads a master key file, refusing one that group or others
// may read or write.
func ReadMasterFile(path string) (Master, error) {
	f, err := os.Open(path) // #nosec G304 -- the operator names the master key file
	if err != nil {
		return Master{}, fmt.Errorf("vault: master key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Master{}, fmt.Errorf("vault: master key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Master{}, fmt.Errorf("vault: master key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return Master{}, fmt.Errorf("vault: master key file %s has mode %04o, so other users may read it; "+
			"restrict it with `chmod 600 %s` and consider it copied (replace it: keys master add, then keys master remove)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxMasterSize+1))
	if err != nil {
		return Master{}, fmt.Errorf("vault: read master key file: %w", err)
	}
	m, err := ParseMaster(data)
	if err != nil {
		return Master{}, fmt.Errorf("%w (%s)", err, path)
	}
	return m, nil
}

// WriteMasterFile generates a fresh master key and writes it to path (mode
// 0600, parent directory created 0700). It never overwrites: an error
// wrapping fs.ErrExist if the file exists.
func WriteMasterFile(path string) (Master, error) {
	h, err := NewMaster()
	if err != nil {
		return Master{}, err
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		return Master{}, fmt.Errorf("vault: encode master key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Master{}, fmt.Errorf("vault: master key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the operator names the master key file
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Master{}, fmt.Errorf("vault: master key file %s already exists: %w", path, fs.ErrExist)
		}
		return Master{}, fmt.Errorf("vault: create master key file: %w", err)
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return Master{}, fmt.Errorf("vault: write master key file: %w", err)
	}
	return LocalMaster(h)
}
