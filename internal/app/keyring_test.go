package app

import (
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/core/registry"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/resguardo/resguardo/internal/config"
	"github.com/resguardo/resguardo/internal/vault"
)

// localKMS is a KMS client over a real local Tink AEAD, standing in for a
// KMS or Vault transit key: it is what a KMS build registers.
type localKMS struct {
	uri  string
	aead tink.AEAD
}

func (k localKMS) Supported(uri string) bool         { return uri == k.uri }
func (k localKMS) GetAEAD(string) (tink.AEAD, error) { return k.aead, nil }

func load(t *testing.T, env map[string]string, args ...string) config.Config {
	t.Helper()
	cfg, err := config.Load("serve", args, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The master key opens the same key set from each of its sources — a file,
// RESGUARDO_MASTER_KEY, the systemd credential, <data-dir>/master.key — and
// from a KMS client registered with Tink; two sources at once are refused,
// so which key a server uses is never ambiguous.
func TestMasterKeySources(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	dataDir := t.TempDir()
	// The first serve of an empty embedded database writes master.key.
	db, v, err := openDeployment(ctx, load(t, nil, "--data-dir", dataDir), log, false, keysForEmpty)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := v.Binding()
	_ = db.Close()
	keyFile := filepath.Join(dataDir, vault.MasterKeyFile)
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(other, key, 0o600); err != nil {
		t.Fatal(err)
	}
	creds := t.TempDir()
	if err := os.WriteFile(filepath.Join(creds, credentialName), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	sources := map[string]config.Config{
		"file":       load(t, nil, "--data-dir", dataDir, "--master-key-file", other),
		"variable":   load(t, map[string]string{"RESGUARDO_MASTER_KEY": string(key)}, "--data-dir", dataDir),
		"credential": load(t, map[string]string{"CREDENTIALS_DIRECTORY": creds}, "--data-dir", dataDir),
	}
	for name, cfg := range sources {
		db, v, err := openDeployment(ctx, cfg, log, false, keysNeeded)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, _ := v.Binding(); got.Check != want.Check {
			t.Errorf("%s opened another key set", name)
		}
		_ = db.Close()
	}
	two := load(t, map[string]string{"RESGUARDO_MASTER_KEY": string(key)}, "--data-dir", dataDir, "--master-key-file", other)
	if _, _, err := openDeployment(ctx, two, log, false, keysNeeded); err == nil || !strings.Contains(err.Error(), "give one master key") {
		t.Errorf("two master key sources: %v", err)
	}

	// A KMS master key, through Tink's KMS registry.
	h, err := vault.NewMaster()
	if err != nil {
		t.Fatal(err)
	}
	m, err := vault.LocalMaster(h)
	if err != nil {
		t.Fatal(err)
	}
	uri := "test-kms://" + strings.ToLower(rand.Text())
	registry.RegisterKMSClient(localKMS{uri: uri, aead: m.AEAD})
	kmsDir := t.TempDir()
	cfg := load(t, nil, "--data-dir", kmsDir, "--master-key-uri", uri)
	db, v, err = openDeployment(ctx, cfg, log, false, keysForEmpty)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := v.Binding(); len(b.Masters) != 1 || b.Masters[0] != uri {
		t.Errorf("sealed under %v, want the KMS key %s", b.Masters, uri)
	}
	_ = db.Close()
	if _, err := os.Stat(filepath.Join(kmsDir, vault.MasterKeyFile)); err == nil {
		t.Error("a master key file was written although a KMS key was given")
	}
	if db, _, err := openDeployment(ctx, load(t, nil, "--data-dir", kmsDir, "--master-key-uri", "test-kms://unknown"), log, false, keysNeeded); err == nil {
		_ = db.Close()
		t.Error("an unknown KMS URI opened the key set")
	}
	if db, _, err := openDeployment(ctx, cfg, log, false, keysNeeded); err != nil {
		t.Errorf("reopen with the KMS key: %v", err)
	} else {
		_ = db.Close()
	}
}
