package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/config"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/staff"
	"github.com/resguardo/resguardo/internal/vault"
)

// services is what the operator commands work with: the store (schema
// current, never migrated here), the key set, the audit trail and both
// sides of the system over them.
type services struct {
	db       *sqlstore.DB
	vault    *vault.Vault
	trail    *audit.Log
	hasher   *auth.Hasher
	accounts *account.Service
	staff    *staff.Service
}

// openServices opens them; close releases the store.
func openServices(ctx context.Context, cfg config.Config, log *slog.Logger) (*services, func(), error) {
	db, err := OpenStore(ctx, cfg, log, false)
	if err != nil {
		return nil, nil, err
	}
	v, err := vault.Open(cfg.DataDir)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	s := &services{db: db, vault: v, trail: audit.New(db, v, log, audit.DefaultCheckpointEvery, nil), hasher: auth.NewHasher(auth.DefaultParams, v, 1)}
	s.accounts = account.New(db, v, s.hasher, s.trail, log, account.DefaultOptions(cfg.SiteURL()))
	s.staff = staff.New(db, v, s.hasher, s.trail, s.accounts, log, staffOptions(cfg))
	// The audit entries a command wrote are chained before it ends, unless
	// a running server is the sequencer (it chains them).
	return s, func() {
		if err := s.trail.Close(context.WithoutCancel(ctx)); err != nil {
			log.Error("audit sequencer", "err", err)
		}
		_ = db.Close()
	}, nil
}

// openAudit opens the audit trail.
func openAudit(ctx context.Context, cfg config.Config, log *slog.Logger) (*audit.Log, func(), error) {
	s, done, err := openServices(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	return s.trail, done, nil
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
		return fmt.Errorf("%w: %s: %s", errAuditBroken, p.Where(), p.Reason)
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
