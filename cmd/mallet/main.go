// Command mallet runs scheduled extraction jobs over every tenant MySQL
// database and writes merged CSV or Parquet snapshots to a folder or S3.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"syscall"
	"time"
	_ "time/tzdata" // job time zones work in a minimal image

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/jobs"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // the run failed and published nothing
	exitUsage   = 2 // bad command line or config
	exitPartial = 3 // published without some tenants (on_tenant_error: skip)
	exitLocked  = 4 // another run of the job holds its lease; nothing done
	exitCatalog = 5 // published, but the catalog or a dashboard refresh failed
)

func main() {
	// ctx is cancelled by the first SIGINT or SIGTERM: a request to stop.
	// Commands give work in progress a grace period (graceContext). The
	// first signal also restores the default action, so a second one ends
	// the process at once (parts are invisible until a run commits, so nothing
	// partial is published either way).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	startup = startMemoryLimit(memlimit.FromCgroup)
	stopProfile := startProfile()
	stopHeapProfile := startHeapProfile()
	stopTrace := startTrace()
	err := runMain(ctx, os.Args[1:])
	stopTrace()
	stopHeapProfile()
	stopProfile()
	stop()
	os.Exit(exitCode(err))
}

// startProfile writes a CPU profile of the whole process to the file named
// by MALLET_CPUPROFILE, for the benchmark harness (go run ./bench
// -profile DIR). The returned function ends it.
func startProfile() func() {
	return recordTo("MALLET_CPUPROFILE", "cpu profile", pprof.StartCPUProfile, pprof.StopCPUProfile)
}

// startTrace writes an execution trace of the whole process to the file
// named by MALLET_TRACE, for the benchmark harness (go run ./bench -trace
// DIR): where goroutines wait for the network, each other or a core. The
// returned function ends it.
func startTrace() func() {
	return recordTo("MALLET_TRACE", "trace", trace.Start, trace.Stop)
}

// recordTo starts a recording (start, ended by stop) into the file that
// the environment variable env names, if it names one, and returns the
// function that ends it. A failure is reported on stderr as what and does
// not stop mallet.
func recordTo(env, what string, start func(io.Writer) error, stop func()) func() {
	path := os.Getenv(env)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mallet: %s: %v\n", what, err)
		return func() {}
	}
	if err := start(f); err != nil {
		fmt.Fprintf(os.Stderr, "mallet: %s: %v\n", what, err)
		f.Close()
		return func() {}
	}
	return func() {
		stop()
		f.Close()
	}
}

// startHeapProfile writes a heap profile to the file named by
// MALLET_HEAPPROFILE, for the benchmark harness: the profile taken when the
// heap's objects were at their largest (sampled every 20 ms), so that it
// shows what the peak memory was made of. The returned function ends it.
func startHeapProfile() func() {
	path := os.Getenv("MALLET_HEAPPROFILE")
	if path == "" {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak+peak/20 {
				peak = v
				var b bytes.Buffer
				if err := pprof.Lookup("heap").WriteTo(&b, 0); err == nil {
					_ = os.WriteFile(path, b.Bytes(), 0o644)
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// graceContext returns a context for work that should survive a stop
// request for a while: it is cancelled grace after stop is done (with a cause
// that wraps context.Canceled, so the run reports "cancelled"), or when the
// returned cancel is called. Its goroutine ends with it.
func graceContext(stop context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(stop))
	go func() {
		select {
		case <-stop.Done():
		case <-ctx.Done():
			return
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel(fmt.Errorf("stop requested and the %s shutdown timeout passed: %w", grace, context.Canceled))
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage), errors.Is(err, config.ErrInvalid), errors.Is(err, jobs.ErrDate):
		return exitUsage
	case errors.Is(err, jobs.ErrPartial):
		return exitPartial
	case errors.Is(err, jobs.ErrLocked):
		return exitLocked
	case errors.Is(err, jobs.ErrFailed):
		return exitFailed
	case errors.Is(err, jobs.ErrCatalog):
		return exitCatalog
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

// mainCommands lists the commands, for "mallet help" and after an unknown
// command.
const mainCommands = `Commands:
  run job NAME          run one job now (--date, --from/--to, --dry-run, --shard K/N, --report)
  demo                  run the jobs against built-in sample tenants (no MySQL needed)
  schedule              run every job on its schedule; /healthz and /metrics
  validate              check the config file and the query files (--offline: DSN variables may be unset)
  list                  list jobs with their schedule, source and tenant count
  config schema         print the JSON Schema of the config file, for editors and linters
  athena ddl JOB        print (--write: store) the Athena DDL for a job's output
  athena sync JOB       make the job's Glue Data Catalog table what athena ddl prints
  inspect URI           print the schema and row count of a file mallet wrote
  state show JOB        print a job's published partitions, cursors and lease
  state reset JOB       forget a job's cursors (--tenant server/db for one)
  version               print the version
`

const mainUsage = `mallet runs SQL extraction jobs over every tenant MySQL database and
writes merged CSV or Parquet snapshots to a folder or S3.

Usage:
  mallet <command> [flags]

` + mainCommands + `
Every command takes --config FILE (default $MALLET_CONFIG or ./config.yaml)
and --log-format auto|text|json. "mallet <command> --help" shows its flags.

On SIGTERM or SIGINT, run and schedule start nothing new and give runs in
progress --shutdown-timeout (default 25s) to finish, then cancel them: a
cancelled run publishes nothing and exits 1. schedule exits 0 after a clean
shutdown. A second signal ends the process at once.

Exit codes: 0 success, 1 failed (nothing published), 2 usage or config
error, 3 published without some tenants (on_tenant_error: skip), 4 another
run of the job holds its lease (nothing done), 5 published, but the catalog
or a dashboard refresh failed (the next run tries again).
`

func runMain(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, mainUsage)
		fmt.Fprintln(os.Stderr, "\nmallet: no command")
		return usageErrorf("no command")
	}
	var cmd command
	switch args[0] {
	case "run":
		cmd = &runCmd{}
	case "schedule":
		cmd = &scheduleCmd{}
	case "demo":
		cmd = newDemoCmd()
	case "validate":
		cmd = &validateCmd{}
	case "list":
		cmd = &listCmd{}
	case "config":
		cmd = &configCmd{}
	case "athena":
		cmd = &athenaCmd{}
	case "inspect":
		cmd = &inspectCmd{}
	case "state":
		cmd = &stateCmd{}
	case "version":
		cmd = &versionCmd{}
	case "help", "-h", "--help":
		fmt.Fprint(helpOut, mainUsage)
		return nil
	default:
		fmt.Fprintf(os.Stderr, "mallet: unknown command %q\n\n%s\n\"mallet help\" prints the full usage.\n", args[0], mainCommands)
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
