// Command mallet runs scheduled extraction jobs over every tenant MySQL
// database and writes merged CSV or Parquet snapshots to a folder or S3.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // job time zones work in a minimal image

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/jobs"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // the run failed and published nothing
	exitUsage   = 2 // bad command line or config
	exitPartial = 3 // published without some tenants (on_tenant_error: skip)
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runMain(ctx, os.Args[1:])
	stop()
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage), errors.Is(err, config.ErrInvalid):
		return exitUsage
	case errors.Is(err, jobs.ErrPartial):
		return exitPartial
	}
	return exitFailed
}

// errUsage marks command-line mistakes.
var errUsage = errors.New("usage")

func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

type command interface {
	Run(ctx context.Context, args []string) error
}

const mainUsage = `mallet runs SQL extraction jobs over every tenant MySQL database and
writes merged CSV or Parquet snapshots to a folder or S3.

Usage:
  mallet <command> [flags]

Commands:
  run job NAME   run one job now (--date, --dry-run)
  validate       check the config file and the query files
  list           list jobs with their schedule, source and tenant count
  version        print the version

Every command takes --config FILE (default $MALLET_CONFIG or ./config.yaml)
and --log-format auto|text|json. "mallet <command> --help" shows its flags.

Exit codes: 0 success, 1 failed (nothing published), 2 usage or config
error, 3 published without some tenants (on_tenant_error: skip).
`

func runMain(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, mainUsage)
		return usageErrorf("no command")
	}
	var cmd command
	switch args[0] {
	case "run":
		cmd = &runCmd{}
	case "validate":
		cmd = &validateCmd{}
	case "list":
		cmd = &listCmd{}
	case "version":
		cmd = &versionCmd{}
	case "help", "-h", "--help":
		fmt.Fprint(os.Stdout, mainUsage)
		return nil
	default:
		fmt.Fprint(os.Stderr, mainUsage)
		return usageErrorf("unknown command %q", args[0])
	}
	err := cmd.Run(ctx, args[1:])
	if err != nil && !errors.Is(err, errHelp) {
		fmt.Fprintf(os.Stderr, "mallet %s: %v\n", args[0], err)
	}
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}
