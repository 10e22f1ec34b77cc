package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/resguardo/resguardo/internal/config"
	"github.com/resguardo/resguardo/internal/doctor"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/vault"
)

// errDoctorFailed is returned (exit 1) when any check fails.
var errDoctorFailed = errors.New("doctor")

// Doctor runs the security self-check of the configured deployment and
// prints one line per check (or JSON with --json). It fails when any check
// fails. It opens the store without migrating and the key set without
// creating one: it reports the deployment as it is.
func Doctor(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	wd, err := os.Getwd()
	if err != nil {
		wd = "" // the served-folder part of the key-set check is then skipped
	}
	d := doctor.Deployment{
		Addr: cfg.Addr, StaffAddr: cfg.StaffAddr,
		TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey, ACMEDomains: cfg.ACMEDomains, TrustedProxies: cfg.TrustedProxies,
		DatabaseURL: cfg.Database.Reveal(), DataDir: cfg.DataDir, MailDir: cfg.MailDir,
		WorkDir: wd,
	}
	// Where the master key comes from, without reading it yet: the file
	// checks run before anything is opened.
	mk, mkErr := loadMaster(cfg)
	if mk != nil {
		d.MasterKeyWhere, d.MasterKeyFile = mk.where, mk.file
	}
	var db *sqlstore.DB
	var keyErr *KeyError
	rep := doctor.Run(ctx, d, func(ctx context.Context) doctor.Handles {
		var h doctor.Handles
		h.DB, h.DBErr = openStoreAsIs(ctx, cfg)
		switch {
		case h.DB == nil:
			h.VaultErr = h.DBErr
		case mkErr != nil:
			h.VaultErr = mkErr
		default:
			h.Vault, h.VaultErr = inspectKeys(ctx, h.DB, mk)
			errors.As(h.VaultErr, &keyErr)
		}
		db = h.DB
		return h
	})
	if db != nil {
		_ = db.Close()
	}
	if cfg.JSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	failed := rep.Failed()
	log.Debug("doctor", "ok", rep.OK, "failed", failed)
	if keyErr != nil {
		return keyErr // the distinct exit status of a key set refusal
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %d check(s) failed: %s", errDoctorFailed, len(failed), strings.Join(failed, ", "))
	}
	return nil
}

// openStoreAsIs opens the configured database without migrating it, and
// without creating an embedded database that is not there.
func openStoreAsIs(ctx context.Context, cfg config.Config) (*sqlstore.DB, error) {
	if cfg.Database.Reveal() == "" {
		path := filepath.Join(cfg.DataDir, sqlstore.SQLiteFile)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no embedded database at %s (wrong --data-dir, or never started)", path)
		}
	}
	return sqlstore.Open(ctx, cfg.Database.Reveal(), cfg.DataDir)
}

// inspectKeys opens the key set the database records, changing nothing:
// no migration, no key set created, no key set file moved.
func inspectKeys(ctx context.Context, db *sqlstore.DB, mk *masterKey) (*vault.Vault, error) {
	st, err := db.KeyState(ctx)
	if err != nil {
		return nil, err
	}
	if !st.Recorded {
		what := "is empty and records no key set"
		if st.HasData {
			what = "holds data but records no key set"
		}
		return nil, &KeyError{Problem: fmt.Sprintf("%s %s", db.Where, what),
			Fix: "check --database and --data-dir; an earlier release's key set file is moved into the database by `resguardo keys init`"}
	}
	return openRecorded(db, st, mk)
}
