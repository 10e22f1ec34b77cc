package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/resguardo/resguardo/internal/config"
	"github.com/resguardo/resguardo/internal/keys"
	"github.com/resguardo/resguardo/internal/vault"
)

// openRotator opens the services and the rotator over them; the account
// service knows how to recompute a customer's indexes.
func openRotator(ctx context.Context, cfg config.Config, log *slog.Logger) (*keys.Rotator, func(), error) {
	s, done, err := openServices(ctx, cfg, log)
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
	if len(chosen) != 1 {
		return "", errors.New("name exactly one keyset: --kek, --index or --pepper")
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
	p, err := chosenPurpose(cfg)
	if err != nil {
		return err
	}
	r, done, err := openRotator(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer done()
	var rep keys.Report
	switch p {
	case vault.PurposeKEK:
		rep, err = r.RotateKEK(ctx)
	case vault.PurposeBlindIndex:
		rep, err = r.RotateIndex(ctx)
	default:
		rep, err = r.RotatePepper(ctx)
	}
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
