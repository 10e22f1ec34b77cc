package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

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
func openServices(ctx context.Context, cfg config.Config, log *slog.Logger, mode keyMode) (*services, func(), error) {
	db, v, err := openDeployment(ctx, cfg, log, false, mode)
	if err != nil {
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
	s, done, err := openServices(ctx, cfg, log, keysNeeded)
	if err != nil {
		return nil, nil, err
	}
	return s.trail, done, nil
}

// errAuditBroken is returned (exit 1) when the chain does not verify.
var errAuditBroken = errors.New("the audit trail does not verify")

// AuditVerify checks the whole chain and says what it found in a sentence
// (the report as JSON with --json); the error names the first problem.
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
	var bar *progress
	var tell func(checked, total int64)
	if cfg.Progress != nil {
		tell = func(checked, total int64) {
			if bar == nil {
				bar = newProgress(cfg.Progress, "verifying the audit trail", "entries", total)
			}
			bar.update(checked)
		}
	}
	rep, err := trail.VerifyProgress(ctx, ext, tell)
	bar.finish(rep.Entries)
	if err != nil {
		return err
	}
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if _, err := io.WriteString(stdout, verifySentence(rep, ext)); err != nil {
		return err
	}
	if !rep.OK() {
		p := rep.Problems[0]
		return fmt.Errorf("%w: %s: %s", errAuditBroken, p.Where(), p.Reason)
	}
	return nil
}

// verifySentence says what audit verify found, for a person.
func verifySentence(rep audit.Report, ext *audit.External) string {
	from := ""
	if ext != nil {
		from = fmt.Sprintf(", including the checkpoint at entry %d given with --from-checkpoint", ext.Seq)
	}
	if rep.OK() {
		if rep.Pending == 0 {
			return fmt.Sprintf("The audit trail is intact: %s entries, from 1 to %d, each chained to the one before%s.\n", count(rep.Entries), rep.LastSeq, from)
		}
		// Entries committed but not yet chained by the sequencer: each was
		// checked by its own MAC; the sequencer gives them their places.
		return fmt.Sprintf("The audit trail is intact: %s entries, %s chained from 1 to %d%s, and %s not chained yet (each authentic; oldest from %s).\n",
			count(rep.Entries), count(rep.LastSeq), rep.LastSeq, from, count(rep.Pending), rep.Oldest.UTC().Format(time.RFC3339))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The audit trail does NOT verify: %d problem(s) in %s entries checked%s.\n", len(rep.Problems), count(rep.Entries), from)
	for _, p := range rep.Problems {
		fmt.Fprintf(&b, "  %s: %s\n", p.Where(), p.Reason)
	}
	return b.String()
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
