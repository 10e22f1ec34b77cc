// Command resguardo is the customer-data backend: customer site and API,
// staff console, and the operator's tools, in one binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/app"
	"github.com/resguardo/resguardo/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "resguardo:", err)
		// A key set refusal has its own status (app.ExitKeys), so that a
		// service manager or script can tell "wrong keys, do not retry".
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			os.Exit(coded.ExitCode())
		}
		os.Exit(1)
	}
}

const usage = `resguardo: the customer-data backend.

Usage:
  resguardo serve    [flags]   run the customer site and the staff console
                               (--demo: demo accounts on an empty database, loopback only;
                               --metrics-addr: Prometheus metrics, loopback only)
  resguardo migrate  [flags]   apply database migrations
  resguardo audit verify [--from-checkpoint SEQ:MAC] [--json] [flags]
                               check the audit trail; exit 1 naming the first bad entry
  resguardo audit export [flags]
                               write the audit trail as JSON lines
  resguardo staff create --email E --role agent|lead|admin|auditor [flags]
                               add a staff member; prints the single-use enrolment link
  resguardo staff list [flags] staff members, roles and state (tab-separated, header first)
  resguardo staff disable --email E [flags]
                               disable a staff member and end their sessions
  resguardo keys init [--master-key-file FILE] [flags]
                               create the key set in an empty database (writing a
                               new master key to FILE if missing), or move an
                               earlier release's keyset.json into the database
  resguardo keys status [--json] [flags]
                               key versions in each keyset and what depends on each
  resguardo keys rotate --kek|--index|--pepper [--batch-size N] [flags]
                               add a new primary key and move data to it, online;
                               run again to finish an interrupted rotation
  resguardo keys rotate --master --new-master-key-file FILE [flags]
                               seal the key set under a new master key too, online
  resguardo keys retire --kek|--index|--pepper --key-id ID [flags]
                               remove an old key version; refused while data uses it
  resguardo keys retire --master --master-id ID [flags]
                               withdraw an old master key (after every server has the new one)
  resguardo backup --out FILE [flags]
                               consistent online copy of the database (never the master key)
  resguardo restore --in FILE [flags]
                               load a backup into an empty database (or data directory)
  resguardo doctor [--json] [flags]
                               security self-check of this deployment, one line
                               per check; exit 1 when any check fails

Every command except version checks first that the database and the key set
belong together; if not it changes nothing and exits with status 3.
  resguardo version            print the version

Run 'resguardo COMMAND -h' for the flags of a command. keys rotate, audit verify
and backup show their progress when standard error is a terminal.
`

// commands maps each command, with its subcommand where it has one, to
// what runs it: the one table of what the binary does.
var commands = map[string]func(context.Context, config.Config, *slog.Logger, io.Writer) error{
	"serve": func(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
		return app.ServeTo(ctx, cfg, log, stdout, nil)
	},
	"migrate":       app.Migrate,
	"backup":        app.Backup,
	"restore":       app.Restore,
	"doctor":        app.Doctor,
	"staff create":  app.StaffCreate,
	"staff list":    app.StaffList,
	"staff disable": app.StaffDisable,
	"keys init":     app.KeysInit,
	"keys status":   app.KeysStatus,
	"keys rotate":   app.KeysRotate,
	"keys retire":   app.KeysRetire,
	"audit verify":  app.AuditVerify,
	"audit export":  app.AuditExport,
}

// groups are the commands that take a subcommand.
var groups = map[string]string{"staff": "create, list or disable", "keys": "init, status, rotate or retire", "audit": "verify or export"}

// run is the whole program with its environment passed in, so tests can run
// it as the binary would.
func run(ctx context.Context, args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		_, _ = io.WriteString(stderr, usage)
		return fmt.Errorf("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version":
		_, err := fmt.Fprintf(stdout, "resguardo %s\n", resguardo.Version)
		return err
	case "help", "-h", "--help":
		_, err := io.WriteString(stdout, usage)
		return err
	}
	if subs, ok := groups[cmd]; ok {
		if len(rest) == 0 || commands[cmd+" "+rest[0]] == nil {
			_, _ = io.WriteString(stderr, usage)
			return fmt.Errorf("%s needs %s", cmd, subs)
		}
		cmd, rest = cmd+" "+rest[0], rest[1:]
	}
	do, ok := commands[cmd]
	if !ok {
		_, _ = io.WriteString(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	cfg, err := config.Load(cmd, rest, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h: the command's flags are printed; nothing else to do
	}
	if err != nil {
		return err
	}
	// Progress lines only on a terminal: a script or a log gets the
	// final result alone.
	cfg.Progress = app.Terminal(stderr)
	if cmd == "serve" {
		// The server's lines (one per request) are written off the request
		// path; the rest are flushed before run returns.
		log, closeLog := app.NewServeLogger(stderr, cfg.LogLevel)
		defer closeLog()
		return do(ctx, cfg, log, stdout)
	}
	return do(ctx, cfg, app.NewLogger(stderr, cfg.LogLevel), stdout)
}
