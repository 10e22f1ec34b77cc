package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/resguardo/resguardo/internal/config"
	"github.com/resguardo/resguardo/internal/keys"
	"github.com/resguardo/resguardo/internal/vault"
)

// openRotator opens the services and the rotator over them; the account
// service knows how to recompute a customer's indexes.
func openRotator(ctx context.Context, cfg config.Config, log *slog.Logger) (*keys.Rotator, func(), error) {
	s, done, err := openServices(ctx, cfg, log, keysNeeded)
	if err != nil {
		return nil, nil, err
	}
	return &keys.Rotator{DB: s.db, Vault: s.vault, Reindexer: s.accounts, Log: log, BatchSize: cfg.BatchSize, Settle: cfg.Settle}, done, nil
}

// chosenPurpose is the keyset named by exactly one of --kek, --index,
// --pepper.
func chosenPurpose(cfg config.Config) (vault.Purpose, error) {
	var chosen []vault.Purpose
	if cfg.KEK {
		chosen = append(chosen, vault.PurposeKEK)
	}
	if cfg.Index {
		chosen = append(chosen, vault.PurposeBlindIndex)
	}
	if cfg.Pepper {
		chosen = append(chosen, vault.PurposePepper)
	}
	if len(chosen) != 1 || cfg.Master {
		return "", errors.New("name exactly one keyset: --kek, --index, --pepper or --master")
	}
	return chosen[0], nil
}

// KeysStatus prints each keyset's key versions, what depends on each, and
// any unfinished rotation.
func KeysStatus(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	r, done, err := openRotator(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer done()
	st, err := r.Status(ctx)
	if err != nil {
		return err
	}
	if cfg.JSON {
		return json.NewEncoder(stdout).Encode(st)
	}
	var b strings.Builder
	if bd, err := r.Vault.Binding(); err == nil {
		fmt.Fprintf(&b, "key set: kept in %s, check %s; sealed under master key(s) %s\n", r.DB.Where, bd.Check, strings.Join(bd.Masters, ","))
	}
	for _, ps := range st {
		fmt.Fprintf(&b, "%s:", ps.Purpose)
		for _, k := range ps.Keys {
			fmt.Fprintf(&b, " %d", k.KeyID)
			if k.Primary {
				b.WriteString(" (primary)")
			}
			if k.Uses >= 0 {
				fmt.Fprintf(&b, " [%d in use]", k.Uses)
			}
		}
		if ps.Rotating {
			fmt.Fprintf(&b, " — rotation unfinished after customer %q: run `resguardo keys rotate` with the same flag to finish", ps.After)
		}
		b.WriteString("\n")
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

// KeysRotate adds a new primary key to one keyset (or finishes an
// unfinished rotation of it) and moves existing data to it.
func KeysRotate(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	if cfg.Master && !cfg.KEK && !cfg.Index && !cfg.Pepper {
		return addMaster(ctx, cfg, log, stdout)
	}
	p, err := chosenPurpose(cfg)
	if err != nil {
		return err
	}
	r, done, err := openRotator(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer done()
	var bar *progress
	var last int64 // customers visited, as last told
	if cfg.Progress != nil && p != vault.PurposePepper {
		total, err := r.DB.Conn().CountRows(ctx, "customers")
		if err != nil {
			return err
		}
		bar = newProgress(cfg.Progress, "rotating "+string(p), "customers", int64(total))
		r.Progress = func(done int) { last = int64(done); bar.update(last) }
	}
	var rep keys.Report
	switch p {
	case vault.PurposeKEK:
		rep, err = r.RotateKEK(ctx)
	case vault.PurposeBlindIndex:
		rep, err = r.RotateIndex(ctx)
	default:
		rep, err = r.RotatePepper(ctx)
	}
	bar.finish(last)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s: primary key %d; %d customers visited, %d records moved in %.1f s (resumed: %v)\n",
		rep.Purpose, rep.KeyID, rep.Customers, rep.Changed, rep.Seconds, rep.Resumed)
	return err
}

// KeysRetire removes an older key version, refusing while anything still
// depends on it.
func KeysRetire(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	if cfg.Master && !cfg.KEK && !cfg.Index && !cfg.Pepper {
		return removeMaster(ctx, cfg, log, stdout)
	}
	p, err := chosenPurpose(cfg)
	if err != nil {
		return err
	}
	if cfg.KeyID == 0 || cfg.KeyID > 1<<32-1 {
		return errors.New("--key-id names the key version to retire (see `resguardo keys status`)")
	}
	r, done, err := openRotator(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer done()
	if err := r.Retire(ctx, p, uint32(cfg.KeyID)); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s: key %d retired\n", p, cfg.KeyID)
	return err
}

// KeysInit creates the deployment's key set in the database, sealed under
// the master key (whose file is generated if --master-key-file, or
// <data-dir>/master.key, does not exist yet). On a database that holds data
// and records no key set, it moves the key set file (keyset.json) of an
// earlier release into the database, after checking that its keys are the
// ones the data was written under. It migrates the schema first.
func KeysInit(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	db, v, err := openDeployment(ctx, cfg, log, true, keysInit)
	if err != nil {
		return err
	}
	defer db.Close()
	b, err := v.Binding()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s: key set check %s, sealed under master key(s) %s\n", db.Where, b.Check, strings.Join(b.Masters, ", "))
	return err
}

// newMaster is the master key named by --new-master-key-file (generated
// when the file does not exist) or --new-master-key-uri.
func newMaster(cfg config.Config, log *slog.Logger) (vault.Master, error) {
	switch {
	case cfg.NewMasterKeyFile != "" && cfg.NewMasterKeyURI != "":
		return vault.Master{}, errors.New("give one new master key: --new-master-key-file or --new-master-key-uri")
	case cfg.NewMasterKeyURI != "":
		return kmsMaster(cfg.NewMasterKeyURI)
	case cfg.NewMasterKeyFile != "":
		m, err := vault.ReadMasterFile(cfg.NewMasterKeyFile)
		if errors.Is(err, fs.ErrNotExist) {
			if m, err = vault.WriteMasterFile(cfg.NewMasterKeyFile); err == nil {
				log.Info("generated a master key", "file", cfg.NewMasterKeyFile, "master_key", m.ID)
			}
		}
		return m, err
	}
	return vault.Master{}, errors.New("keys rotate --master needs --new-master-key-file FILE (created if missing) or --new-master-key-uri URI")
}

// addMaster seals the key set under one more master key, online (first
// step of replacing the master key).
func addMaster(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	m, err := newMaster(cfg, log)
	if err != nil {
		return err
	}
	db, v, err := openDeployment(ctx, cfg, log, false, keysNeeded)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := v.AddMaster(m); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "master: key set now sealed under %s; give the new master key to every server (restart each with it), then withdraw the old one with `resguardo keys retire --master --master-id ID`\n",
		strings.Join(v.Masters(), " and "))
	return err
}

// removeMaster withdraws a master key: the key set is sealed again under a
// new key-set key, wrapped under the master keys that stay only. The
// process must hold those (give the new one with --master-key-file...).
func removeMaster(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	if cfg.MasterID == "" {
		return errors.New("keys retire --master needs --master-id ID (see `resguardo keys status`)")
	}
	db, v, err := openDeployment(ctx, cfg, log, false, keysNeeded)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := v.RemoveMaster(cfg.MasterID); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "master: %s withdrawn; key set sealed under %s only\n", cfg.MasterID, strings.Join(v.Masters(), ", "))
	return err
}
