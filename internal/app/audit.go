package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/config"
	"github.com/resguardo/resguardo/internal/vault"
)

// openAudit opens the store (schema must be current) and the key set.
func openAudit(ctx context.Context, cfg config.Config, log *slog.Logger) (*audit.Log, func(), error) {
	db, err := OpenStore(ctx, cfg, log, false)
	if err != nil {
		return nil, nil, err
	}
	keys, err := vault.Open(cfg.DataDir)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return audit.New(db, keys, log, audit.DefaultCheckpointEvery, nil), func() { _ = db.Close() }, nil
}

// errAuditBroken is returned (exit 1) when the chain does not verify.
var errAuditBroken = errors.New("the audit trail does not verify")

// AuditVerify checks the whole chain and prints the report as JSON; the
// error names the first problem.
func AuditVerify(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	var ext *audit.External
	if cfg.FromCheckpoint != "" {
		e, err := audit.ParseExternal(cfg.FromCheckpoint)
		if err != nil {
			return fmt.Errorf("--from-checkpoint: %w", err)
		}
		ext = &e
	}
	trail, done, err := openAudit(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer done()
	rep, err := trail.Verify(ctx, ext)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	if !rep.OK() {
		p := rep.Problems[0]
		return fmt.Errorf("%w: entry %d: %s", errAuditBroken, p.Seq, p.Reason)
	}
	return nil
}

// AuditExport writes the chain as JSON lines.
func AuditExport(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	trail, done, err := openAudit(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer done()
	return trail.Export(ctx, stdout)
}
