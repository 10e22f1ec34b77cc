package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/config"
	"github.com/resguardo/resguardo/internal/staff"
)

// openStaff opens the services for the staff commands.
func openStaff(ctx context.Context, cfg config.Config, log *slog.Logger, mode keyMode) (*staff.Service, func(), error) {
	s, done, err := openServices(ctx, cfg, log, mode)
	if err != nil {
		return nil, nil, err
	}
	return s.staff, done, nil
}

func staffOptions(cfg config.Config) staff.Options {
	o := staff.DefaultOptions(cfg.StaffSiteURL())
	o.RequirePasskeys = cfg.StaffPasskeysRequired
	if cfg.RevealsPerHour > 0 {
		o.RevealsPerHour = cfg.RevealsPerHour
	}
	return o
}

// StaffCreate adds a staff member and prints one line: the single-use
// enrolment link (never a password).
func StaffCreate(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	if cfg.Email == "" || cfg.Role == "" {
		return fmt.Errorf("staff create needs --email and --role (agent, lead, admin or auditor)")
	}
	// The first staff member may be created before the first serve.
	svc, done, err := openStaff(ctx, cfg, log, keysForEmpty)
	if err != nil {
		return err
	}
	defer done()
	inv, err := svc.Create(ctx, cfg.Email, resguardo.Role(cfg.Role), nil)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, inv.Link)
	return err
}

// StaffList prints every staff member, one per line under a header row,
// tab-separated (so `cut -f` still picks columns; `tail -n +2` skips the
// header).
func StaffList(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	svc, done, err := openStaff(ctx, cfg, log, keysNeeded)
	if err != nil {
		return err
	}
	defer done()
	members, err := svc.List(ctx, nil)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("ID\tE-MAIL\tROLE\tSTATE\n")
	for _, m := range members {
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", m.ID, m.Email, m.Role, strings.ReplaceAll(m.State, "_", " "))
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

// StaffDisable disables a staff member (by --email) and ends their sessions.
func StaffDisable(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	if cfg.Email == "" {
		return fmt.Errorf("staff disable needs --email")
	}
	svc, done, err := openStaff(ctx, cfg, log, keysNeeded)
	if err != nil {
		return err
	}
	defer done()
	m, err := svc.Disable(ctx, strings.ToLower(strings.TrimSpace(cfg.Email)), nil)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s disabled\n", m.Email)
	return err
}
