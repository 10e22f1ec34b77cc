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
		TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey, TrustedProxies: cfg.TrustedProxies,
		DatabaseURL: cfg.Database.Reveal(), DataDir: cfg.DataDir, MailDir: cfg.MailDir,
		WorkDir: wd,
	}
	var db *sqlstore.DB
	rep := doctor.Run(ctx, d, func(ctx context.Context) doctor.Handles {
		var h doctor.Handles
		h.DB, h.DBErr = openStoreAsIs(ctx, cfg)
		h.Vault, h.VaultErr = openExistingVault(cfg.DataDir)
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

// openExistingVault opens the key set, refusing to generate one: fresh
// keys would open none of the stored data.
func openExistingVault(dataDir string) (*vault.Vault, error) {
	path := filepath.Join(dataDir, vault.KeysetFile)
	if _, err := os.Lstat(path); err != nil {
		return nil, fmt.Errorf("key set %s: %w", path, err)
	}
	return vault.Open(dataDir)
}
