// Command resguardo is the customer-data backend: customer site and API,
// staff console, and the operator's tools, in one binary.
package main

import (
	"context"
	"fmt"
	"io"
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
		os.Exit(1)
	}
}

const usage = `resguardo: the customer-data backend.

Usage:
  resguardo serve    [flags]   run the customer site and the staff console
  resguardo migrate  [flags]   apply database migrations
  resguardo version            print the version

Run 'resguardo COMMAND -h' for the flags of a command.
`

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
	case "serve", "migrate":
	default:
		_, _ = io.WriteString(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	cfg, err := config.Load(cmd, rest, getenv, stderr)
	if err != nil {
		return err
	}
	log := app.NewLogger(stderr, cfg.LogLevel)
	switch cmd {
	case "serve":
		return app.Serve(ctx, cfg, log, nil)
	default:
		return app.Migrate(ctx, cfg, log, stdout)
	}
}
