package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/tink-crypto/tink-go/v2/core/registry"

	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/config"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/vault"
)

// ExitKeys is the exit status of a command refused because the database
// and the key set do not belong together (or the database has data and no
// key set): distinct from 1, so scripts and service managers can tell
// "wrong keys, do not retry" from an ordinary failure.
const ExitKeys = 3

// KeyError is such a refusal: what is wrong and what to do. Nothing was
// written to the database before it was returned.
type KeyError struct {
	Problem string
	Fix     string
}

func (e *KeyError) Error() string {
	return "refusing to use this database: " + e.Problem + "\nwhat to do: " + e.Fix
}

// ExitCode is ExitKeys.
func (e *KeyError) ExitCode() int { return ExitKeys }

// credentialName is the systemd credential holding the master key
// (LoadCredential=resguardo-master-key:/path in the unit).
const credentialName = "resguardo-master-key"

// masterKey is the configured master key and where it came from.
type masterKey struct {
	vault.Master
	// where says where it came from, for logs and doctor.
	where string
	// file is the path when it came from a file, for doctor's checks.
	file string
}

// masterKeyPath is the file the master key is read from, or generated in:
// --master-key-file, else <data-dir>/master.key.
func masterKeyPath(cfg config.Config) string {
	if cfg.MasterKeyFile != "" {
		return cfg.MasterKeyFile
	}
	return filepath.Join(cfg.DataDir, vault.MasterKeyFile)
}

// loadMaster returns the configured master key, or nil when none is
// configured and <data-dir>/master.key does not exist. At most one source
// may be configured, so it is never ambiguous which key a server uses.
func loadMaster(cfg config.Config) (*masterKey, error) {
	var sources []string
	if cfg.MasterKeyFile != "" {
		sources = append(sources, "--master-key-file")
	}
	if cfg.MasterKey.Reveal() != "" {
		sources = append(sources, "RESGUARDO_MASTER_KEY")
	}
	if cfg.MasterKeyURI != "" {
		sources = append(sources, "--master-key-uri")
	}
	cred := ""
	if cfg.CredentialsDir != "" {
		p := filepath.Join(cfg.CredentialsDir, credentialName)
		if _, err := os.Stat(p); err == nil {
			cred = p
			sources = append(sources, "the systemd credential "+credentialName)
		}
	}
	if len(sources) > 1 {
		return nil, fmt.Errorf("give one master key, not %s", strings.Join(sources, " and "))
	}
	switch {
	case cfg.MasterKeyFile != "":
		m, err := vault.ReadMasterFile(cfg.MasterKeyFile)
		return &masterKey{Master: m, where: "file " + cfg.MasterKeyFile, file: cfg.MasterKeyFile}, err
	case cfg.MasterKey.Reveal() != "":
		m, err := vault.ParseMaster([]byte(cfg.MasterKey.Reveal()))
		if err != nil {
			return nil, fmt.Errorf("RESGUARDO_MASTER_KEY: %w", err)
		}
		return &masterKey{Master: m, where: "RESGUARDO_MASTER_KEY"}, nil
	case cfg.MasterKeyURI != "":
		m, err := kmsMaster(cfg.MasterKeyURI)
		return &masterKey{Master: m, where: "KMS " + cfg.MasterKeyURI}, err
	case cred != "":
		// systemd makes credential files readable by the service's user only.
		m, err := vault.ReadMasterFile(cred)
		return &masterKey{Master: m, where: "systemd credential " + credentialName, file: cred}, err
	}
	def := filepath.Join(cfg.DataDir, vault.MasterKeyFile)
	if _, err := os.Lstat(def); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	m, err := vault.ReadMasterFile(def)
	return &masterKey{Master: m, where: "file " + def, file: def}, err
}

// kmsMaster is a master key held in a KMS or HashiCorp Vault transit engine,
// through a Tink KMS client registered with registry.RegisterKMSClient
// (see docs/keys.md: none is built in, so that the default binary carries
// no cloud SDK).
func kmsMaster(uri string) (vault.Master, error) {
	client, err := registry.GetKMSClient(uri)
	if err != nil {
		return vault.Master{}, fmt.Errorf("--master-key-uri: no KMS client for this URI is built into this binary (see docs/keys.md): %w", err)
	}
	a, err := client.GetAEAD(uri)
	if err != nil {
		return vault.Master{}, fmt.Errorf("--master-key-uri: %w", err)
	}
	return vault.Master{ID: uri, AEAD: a}, nil
}

// keyMode says whether a command may create the key set.
type keyMode int

const (
	// keysNeeded: the database must already record a key set (audit, staff
	// list, keys status and rotation, doctor).
	keysNeeded keyMode = iota
	// keysForEmpty: create the key set for an empty database (serve,
	// staff create).
	keysForEmpty
	// keysIfMaster: as keysForEmpty when a master key is at hand or the
	// database is the embedded one; else leave an empty MySQL database
	// without a key set (migrate: the schema alone needs none).
	keysIfMaster
	// keysInit: `keys init`: as keysForEmpty, and also moves a key set file
	// of an older release into a database that holds data, and generates the
	// master key file if it does not exist.
	keysInit
)

const fixMaster = "give this process the deployment's master key (the one every other server has): " +
	"--master-key-file FILE, RESGUARDO_MASTER_KEY, the systemd credential " + credentialName +
	" or --master-key-uri; for the embedded database it is master.key beside resguardo.db. " +
	"Never create a new key set for a database that holds data: new keys open nothing stored in it"

// openDeployment opens the database and its key set. Before anything is
// written it checks that the key set belongs to the database: the database
// records the key set it is sealed under, and a command refuses (KeyError)
// a database that records another one, or that holds data and records
// none. Only then does it migrate (migrate, or always for SQLite) and, for
// an empty database, create the key set. With migrate false a MySQL schema
// must already be current. The vault is nil only for `migrate` on an empty
// MySQL database with no master key (there is nothing to seal yet).
func openDeployment(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool, mode keyMode) (*sqlstore.DB, *vault.Vault, error) {
	db, err := sqlstore.Open(ctx, cfg.Database.Reveal(), cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	v, err := openKeys(ctx, cfg, log, db, migrate, mode)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return db, v, nil
}

func openKeys(ctx context.Context, cfg config.Config, log *slog.Logger, db *sqlstore.DB, migrate bool, mode keyMode) (*vault.Vault, error) {
	st, err := db.KeyState(ctx)
	if err != nil {
		return nil, err
	}
	mk, err := loadMaster(cfg)
	if mode == keysInit && cfg.MasterKeyFile != "" && errors.Is(err, fs.ErrNotExist) {
		mk, err = nil, nil // keys init writes it
	}
	if err != nil {
		return nil, err
	}
	doMigrate := func() error {
		if migrate || db.Dialect() == sqlstore.SQLite || mode == keysInit {
			n, err := db.Migrate(ctx)
			if err != nil {
				return err
			}
			if n > 0 {
				log.Info("migrated database", "where", db.Where, "applied", n)
			}
		}
		return db.CheckSchema(ctx)
	}

	switch {
	case st.Recorded:
		v, err := openRecorded(db, st, mk)
		if err != nil {
			return nil, err
		}
		if err := doMigrate(); err != nil {
			return nil, err
		}
		return v, nil

	case st.HasData:
		legacy := filepath.Join(cfg.DataDir, vault.KeysetFile)
		_, lerr := os.Lstat(legacy)
		movable := lerr == nil && (mode == keysInit || (mode != keysNeeded && db.Dialect() == sqlstore.SQLite))
		if !movable {
			fix := "point --data-dir (or --database) at the deployment this database belongs to. "
			if lerr == nil {
				fix += fmt.Sprintf("To move the key set file %s of an earlier release into the database, run `resguardo keys init` with the same --data-dir and --database. ", legacy)
			} else {
				fix += "If the deployment still keeps its keys in a key set file (keyset.json of an earlier release), run `resguardo keys init --data-dir DIR` with the directory that holds it. "
			}
			return nil, &KeyError{
				Problem: fmt.Sprintf("%s holds data (customers, staff or audit entries) but records no key set, and %s has none that may be used", db.Where, cfg.DataDir),
				Fix:     fix + "Never start it with new keys: they open nothing stored in it",
			}
		}
		return moveKeySetFile(ctx, cfg, log, db, mk, mode, doMigrate)

	default: // an empty database
		if mode == keysNeeded {
			return nil, &KeyError{
				Problem: fmt.Sprintf("%s records no key set yet (an empty database)", db.Where),
				Fix:     "check --database and --data-dir; a new deployment gets its key set from `resguardo keys init` or its first `resguardo serve`",
			}
		}
		if err := doMigrate(); err != nil {
			return nil, err
		}
		if mk == nil {
			switch {
			case db.Dialect() == sqlstore.SQLite || mode == keysInit:
				// Zero set-up for the embedded database: its master key lives
				// beside it, in the data directory (docs/keys.md says when
				// to move it out).
				m, err := vault.WriteMasterFile(masterKeyPath(cfg))
				if err != nil {
					return nil, err
				}
				log.Info("generated a master key", "file", masterKeyPath(cfg), "master_key", m.ID)
				mk = &masterKey{Master: m, where: "file " + masterKeyPath(cfg), file: masterKeyPath(cfg)}
			case mode == keysIfMaster:
				return nil, nil
			default:
				return nil, &KeyError{
					Problem: fmt.Sprintf("%s has no key set yet and this process has no master key to seal one under", db.Where),
					Fix:     "run `resguardo keys init --master-key-file FILE` once (it writes a new master key to FILE), then give FILE to every server with --master-key-file",
				}
			}
		}
		return createKeySet(ctx, log, db, mk, nil)
	}
}

// openRecorded opens the key set the database records, with the master key
// given; any mismatch is a KeyError.
func openRecorded(db *sqlstore.DB, st sqlstore.KeyState, mk *masterKey) (*vault.Vault, error) {
	which := st.Binding
	var b vault.Binding
	if err := json.Unmarshal([]byte(st.Binding), &b); err == nil {
		which = b.Short()
	}
	if mk == nil {
		return nil, &KeyError{
			Problem: fmt.Sprintf("%s is sealed under its own key set (%s) and this process has no master key", db.Where, which),
			Fix:     fixMaster,
		}
	}
	if st.Instance == "" {
		return nil, &KeyError{Problem: fmt.Sprintf("%s records a key set but no instance id: it was damaged or partly copied", db.Where), Fix: "restore it from a backup"}
	}
	v, err := vault.OpenStored(db.Keyring(), st.Instance, []vault.Master{mk.Master})
	if errors.Is(err, vault.ErrWrongMaster) {
		return nil, &KeyError{
			Problem: fmt.Sprintf("%s is sealed under another key set (%s); the master key from %s (%s) does not open it", db.Where, which, mk.where, mk.ID),
			Fix:     fixMaster,
		}
	}
	if err != nil {
		return nil, err
	}
	if err := v.VerifyBinding(st.Binding); err != nil {
		return nil, &KeyError{Problem: err.Error(), Fix: "the keyring row was changed outside resguardo: restore it from a backup"}
	}
	return v, nil
}

// createKeySet stores a key set (fresh, or from) in an empty keyring. If
// another process created one meanwhile, that one is opened instead.
func createKeySet(ctx context.Context, log *slog.Logger, db *sqlstore.DB, mk *masterKey, from *vault.Vault) (*vault.Vault, error) {
	instance, err := db.InstanceID(ctx)
	if err != nil {
		return nil, err
	}
	v, err := vault.CreateStored(db.Keyring(), instance, mk.Master, from)
	if errors.Is(err, fs.ErrExist) {
		st, serr := db.KeyState(ctx)
		if serr != nil {
			return nil, serr
		}
		return openRecorded(db, st, mk)
	}
	if err != nil {
		return nil, err
	}
	b, _ := v.Binding()
	log.Info("key set created in the database", "where", db.Where, "master_key", mk.ID, "check", b.Check)
	return v, nil
}

// moveKeySetFile moves the key set file of an earlier release into the
// database, after checking that its keys are the ones the stored data was
// written under: a customer's data key unwraps and the audit chain
// verifies. Without that check a key set file from another deployment
// (another folder) could be bound to this database.
func moveKeySetFile(ctx context.Context, cfg config.Config, log *slog.Logger, db *sqlstore.DB, mk *masterKey, mode keyMode, doMigrate func() error) (*vault.Vault, error) {
	legacy := filepath.Join(cfg.DataDir, vault.KeysetFile)
	lv, err := vault.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	mismatch := func(what string) error {
		return &KeyError{
			Problem: fmt.Sprintf("the key set file %s is not the key set of %s: %s", legacy, db.Where, what),
			Fix:     "find the data directory of the deployment this database belongs to and run `resguardo keys init` there",
		}
	}
	keys, err := db.Conn().DataKeysAfter(ctx, "", 1)
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		if _, err := lv.DataKey(keys[0].CustomerID, keys[0].DataKey); err != nil {
			return nil, mismatch("a customer's data key does not unwrap under it")
		}
	}
	rep, err := audit.New(db, lv, slog.New(slog.DiscardHandler), audit.DefaultCheckpointEvery, nil).Verify(ctx, nil)
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		return nil, mismatch(fmt.Sprintf("the audit chain does not verify under it (entry %d: %s)", rep.Problems[0].Seq, rep.Problems[0].Reason))
	}
	if err := doMigrate(); err != nil {
		return nil, err
	}
	if mk == nil {
		if db.Dialect() != sqlstore.SQLite && mode != keysInit {
			return nil, &KeyError{Problem: "no master key", Fix: fixMaster}
		}
		m, err := vault.WriteMasterFile(masterKeyPath(cfg))
		if err != nil {
			return nil, err
		}
		log.Info("generated a master key", "file", masterKeyPath(cfg), "master_key", m.ID)
		mk = &masterKey{Master: m, where: "file " + masterKeyPath(cfg), file: masterKeyPath(cfg)}
	}
	v, err := createKeySet(ctx, log, db, mk, lv)
	if err != nil {
		return nil, err
	}
	log.Warn("the key set file was moved into the database, sealed under the master key; delete the file once the database has been backed up (it holds every key in clear)",
		"file", legacy, "master_key", mk.ID)
	return v, nil
}
