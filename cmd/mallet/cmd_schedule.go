package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/schedule"
)

const scheduleUsage = `mallet schedule [--listen :9090] [--max-concurrent-jobs 2] [--shutdown-timeout 25s] [--shard K/N|auto/N] [--config FILE]

Runs every job that has a schedule, on its cron schedule in the job's time
zone, until SIGTERM or SIGINT, and prints each job's next run time at start.
A job whose previous run is still going skips its turn (logged, and counted
as outcome "skipped"). At most --max-concurrent-jobs jobs run at once; the
others wait for a slot. SIGHUP reloads the config file: a config that does
not validate is logged and the running one is kept.

On SIGTERM or SIGINT no new run starts; runs in progress get
--shutdown-timeout to finish, then are cancelled and publish nothing. Exit
code: 0 when every run in progress finished in time, 1 when some had to be
cancelled (or /metrics could not listen), 2 when the flags or the config are
wrong at start.

GET /healthz and /metrics (Prometheus) are served on --listen.`

type scheduleCmd struct {
	common
	listen          string
	maxConcurrent   int
	shutdownTimeout time.Duration
	shard           string
}

// Run wires package schedule to the process: flags, signals (SIGHUP
// reloads, SIGTERM and SIGINT stop) and the HTTP listener.
func (c *scheduleCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("schedule", scheduleUsage)
	c.register(fs)
	fs.StringVar(&c.listen, "listen", ":9090", "address for /healthz and /metrics")
	fs.IntVar(&c.maxConcurrent, "max-concurrent-jobs", 2, "jobs running at once at most")
	shutdownFlag(fs, &c.shutdownTimeout)
	shardFlag(fs, &c.shard)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("schedule takes no arguments")
	}
	if c.maxConcurrent < 1 {
		return usageErrorf("--max-concurrent-jobs %d: want at least 1", c.maxConcurrent)
	}
	shard, err := parseShard(c.shard)
	if err != nil {
		return err
	}
	log, err := c.logger()
	if err != nil {
		return err
	}
	startup.log(log)
	// Catch SIGHUP before anything else: its default action ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", c.listen, err)
	}
	defer ln.Close()
	runLog := log.With("shard", shard.String())
	// Runs are not cancelled by the stop request itself: Stop gives them
	// the grace period first.
	s, err := schedule.Start(context.WithoutCancel(ctx), schedule.Options{
		Load:          func() (*config.Config, error) { return config.Load(c.configPath) },
		MaxConcurrent: c.maxConcurrent,
		Log:           runLog,
		Runner: schedule.RunnerFunc(func(ctx context.Context, cfg *config.Config, name string) (*jobs.Result, error) {
			return jobs.Run(ctx, cfg, name, jobs.Options{Log: runLog, Shard: shard})
		}),
	})
	if errors.Is(err, schedule.ErrNothingScheduled) {
		return usageErrorf("config %s: %v", c.configPath, err)
	}
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "paths", "/healthz /metrics")
	log.Info("scheduler started", "config", c.configPath, "max_concurrent_jobs", c.maxConcurrent,
		"shutdown_timeout", c.shutdownTimeout.String(), "shard", shard.String())

	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-hup:
			log.Info("SIGHUP: reloading config", "config", c.configPath)
			_ = s.Reload() // logged and counted; the running config stays
		}
	}

	grace, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.shutdownTimeout)
	defer cancel()
	stopErr := s.Stop(grace)

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http server", "error", err)
	}
	if stopErr != nil {
		return fmt.Errorf("shutdown after the %s grace period: %w", c.shutdownTimeout, stopErr)
	}
	return nil
}

// shardFlag registers --shard (default $MALLET_SHARD), for run and schedule.
func shardFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "shard", os.Getenv("MALLET_SHARD"), "run only shard K of N of the tenants, as K/N, or auto/N to take K from JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX (env MALLET_SHARD)")
}

func parseShard(s string) (jobs.Shard, error) {
	sh, err := jobs.ResolveShard(s, os.LookupEnv)
	if err != nil {
		return jobs.Shard{}, usageErrorf("--shard: %v", err)
	}
	return sh, nil
}

// shutdownFlag registers --shutdown-timeout, for run and schedule.
func shutdownFlag(fs *flag.FlagSet, p *time.Duration) {
	fs.DurationVar(p, "shutdown-timeout", 25*time.Second, "on SIGTERM/SIGINT, how long runs in progress may go on before they are cancelled")
}
