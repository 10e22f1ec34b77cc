package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/resguardo/resguardo/internal/config"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// Backup writes a consistent online copy of the database to --out. The copy
// holds the key set sealed under the master key, never the master key: keep
// the master key's own copy somewhere else (docs/keys.md). The database is
// checked against the key set first, as by every command, so a backup is
// never taken of a database this deployment cannot open.
func Backup(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	if cfg.Out == "" {
		return errors.New("backup needs --out FILE (a new file)")
	}
	db, _, err := openDeployment(ctx, cfg, log, false, keysNeeded)
	if err != nil {
		return err
	}
	defer db.Close()
	var bar *progress
	var last int64
	var tell func(done, total int64)
	if cfg.Progress != nil {
		unit := "rows"
		if db.Dialect() == sqlstore.SQLite {
			unit = "bytes"
		}
		tell = func(done, total int64) {
			if bar == nil {
				bar = newProgress(cfg.Progress, "backing up", unit, total)
			}
			last = done
			bar.update(done)
		}
	}
	err = db.BackupProgress(ctx, cfg.Out, tell)
	bar.finish(last)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s: backup written to %s (the master key is not in it: restore needs the master key too)\n", db.Where, cfg.Out)
	return err
}

// Restore loads a backup into an empty database: the MySQL database of
// --database, or for the embedded database a data directory without one.
// Start the restored deployment with the master key the backup's key set is
// sealed under, then run doctor and audit verify.
func Restore(ctx context.Context, cfg config.Config, _ *slog.Logger, stdout io.Writer) error {
	if cfg.In == "" {
		return errors.New("restore needs --in FILE (a file written by resguardo backup)")
	}
	if cfg.Database.Reveal() == "" {
		if err := sqlstore.RestoreSQLite(cfg.In, cfg.DataDir); err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "restored %s into %s\n", cfg.In, cfg.DataDir)
		return err
	}
	db, err := sqlstore.Open(ctx, cfg.Database.Reveal(), cfg.DataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	f, err := os.Open(cfg.In)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	if err := db.Restore(ctx, f); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "restored %s into %s\n", cfg.In, db.Where)
	return err
}
