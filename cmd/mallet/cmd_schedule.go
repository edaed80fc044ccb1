package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/metrics"
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
	// Catch SIGHUP before anything else: its default action ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cfg, err := loadScheduled(c.configPath)
	if err != nil {
		return err
	}
	runCtx, cancelRuns := graceContext(ctx, c.shutdownTimeout)
	defer cancelRuns()
	s := &scheduler{
		log:     log,
		metrics: metrics.New(),
		shard:   shard,
		runCtx:  runCtx,
		slots:   make(chan struct{}, c.maxConcurrent),
		quit:    make(chan struct{}),
		busy:    map[string]bool{},
	}

	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", c.listen, err)
	}
	srv := &http.Server{Handler: s.mux(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "paths", "/healthz /metrics")

	s.start(cfg)
	log.Info("scheduler started", "config", c.configPath, "max_concurrent_jobs", c.maxConcurrent,
		"shutdown_timeout", c.shutdownTimeout.String(), "shard", shard.String())

	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-hup:
			s.reload(c.configPath)
		}
	}

	running := s.stop()
	log.Info("shutting down: no new runs", "running", running, "grace", c.shutdownTimeout.String())
	s.wg.Wait()
	cancelled := s.cancelledRuns()

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http server", "error", err)
	}
	if cancelled > 0 {
		log.Warn("stopped", "cancelled_runs", cancelled)
		return fmt.Errorf("shutdown: %d run(s) cancelled after the %s grace period, nothing of theirs published: %w",
			cancelled, c.shutdownTimeout, jobs.ErrFailed)
	}
	log.Info("stopped", "cancelled_runs", 0)
	return nil
}

// loadScheduled loads the config and checks that some job has a schedule.
func loadScheduled(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	for _, j := range cfg.Jobs {
		if j.Schedule != "" {
			return cfg, nil
		}
	}
	return nil, usageErrorf("config %s: no job has a schedule: nothing to run", path)
}

// scheduler runs the jobs of the current config on their schedules. Runs
// are its goroutines (started by cron), counted in wg; they outlive a
// reload, keeping the config they started with.
type scheduler struct {
	log     *slog.Logger
	metrics *metrics.Metrics
	shard   jobs.Shard
	runCtx  context.Context // cancelled when the shutdown grace period is over
	slots   chan struct{}   // one per job running, at most --max-concurrent-jobs
	quit    chan struct{}   // closed on shutdown: runs waiting for a slot give up
	wg      sync.WaitGroup

	mu        sync.Mutex
	cron      *cron.Cron
	busy      map[string]bool // jobs running or waiting for a slot
	stopping  bool
	cancelled int
}

// scheduled is one job's entry, for the start-up listing.
type scheduled struct {
	job, spec string
	loc       *time.Location
	sched     cron.Schedule
}

// newCron builds (without starting) a cron with the config's scheduled
// jobs, each on the schedule config parsed in the job's zone.
func (s *scheduler) newCron(cfg *config.Config) (*cron.Cron, []scheduled) {
	c := cron.New(cron.WithLocation(cfg.Location), cron.WithLogger(cronLogger{s.log}))
	var list []scheduled
	for _, name := range cfg.JobNames() {
		j := cfg.Jobs[name]
		if j.Cron == nil {
			continue
		}
		c.Schedule(j.Cron, cron.FuncJob(func() { s.fire(cfg, name) }))
		list = append(list, scheduled{job: name, spec: j.Schedule, loc: j.Location, sched: j.Cron})
	}
	return c, list
}

func (s *scheduler) start(cfg *config.Config) {
	c, list := s.newCron(cfg)
	s.mu.Lock()
	s.cron = c
	s.mu.Unlock()
	s.announce(cfg, list)
	c.Start()
}

// announce logs every job's next run time and makes its metrics exist.
func (s *scheduler) announce(cfg *config.Config, list []scheduled) {
	now := time.Now()
	for _, e := range list {
		s.metrics.Init(e.job)
		s.log.Info("job scheduled", "job", e.job, "schedule", e.spec, "timezone", e.loc.String(),
			"next", e.sched.Next(now).In(e.loc).Format(time.RFC3339))
	}
	for _, name := range cfg.JobNames() {
		if cfg.Jobs[name].Schedule == "" {
			s.log.Info("job not scheduled (no schedule; run it with run job)", "job", name)
		}
	}
}

// reload replaces the config and the schedule if the file validates, and
// otherwise logs why and keeps the running ones.
func (s *scheduler) reload(path string) {
	s.log.Info("SIGHUP: reloading config", "config", path)
	cfg, err := loadScheduled(path)
	var c *cron.Cron
	var list []scheduled
	if err == nil {
		c, list = s.newCron(cfg)
	}
	s.metrics.Reload(err)
	if err != nil {
		s.log.Error("config reload failed: keeping the running config", "config", path, "error", err.Error())
		return
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return
	}
	old := s.cron
	s.cron = c
	s.mu.Unlock()
	old.Stop() // runs in progress go on with the config they started with
	s.announce(cfg, list)
	c.Start()
	s.log.Info("config reloaded", "config", path, "jobs", len(cfg.Jobs), "scheduled", len(list))
}

// stop starts no new run and releases the runs waiting for a slot; it
// returns the jobs still running.
func (s *scheduler) stop() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopping {
		s.stopping = true
		s.cron.Stop()
		close(s.quit)
	}
	return s.running()
}

func (s *scheduler) running() []string {
	names := make([]string, 0, len(s.busy))
	for name := range s.busy {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (s *scheduler) cancelledRuns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancelled
}

// fire is one scheduled turn of a job: skipped if the job is still running,
// else it waits for a slot and runs.
func (s *scheduler) fire(cfg *config.Config, name string) {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return
	}
	if s.busy[name] {
		s.mu.Unlock()
		s.log.Warn("run skipped: the previous run is still going", "job", name, "outcome", metrics.Skipped)
		s.metrics.Skip(name)
		return
	}
	s.busy[name] = true
	s.wg.Add(1)
	s.mu.Unlock()
	s.metrics.SetInProgress(name, true)
	defer func() {
		s.metrics.SetInProgress(name, false)
		s.mu.Lock()
		delete(s.busy, name)
		s.mu.Unlock()
		s.wg.Done()
	}()

	select {
	case s.slots <- struct{}{}:
	default:
		s.log.Info("run waiting for a slot", "job", name, "max_concurrent_jobs", cap(s.slots))
		select {
		case s.slots <- struct{}{}:
		case <-s.quit:
			s.log.Info("run not started: shutting down", "job", name)
			return
		}
	}
	defer func() { <-s.slots }()
	select {
	case <-s.quit:
		s.log.Info("run not started: shutting down", "job", name)
		return
	default:
	}

	job := cfg.Jobs[name]
	s.log.Info("run start", "job", name, "source", job.Source, "output", job.Output.To, "shard", s.shard.String())
	res, err := jobs.Run(s.runCtx, cfg, name, jobs.Options{Log: s.log, Shard: s.shard})
	r := metrics.RunOf(name, res, err)
	s.metrics.Observe(r)
	attrs := r.LogAttrs()
	if res != nil {
		attrs = append(attrs, "run_date", res.RunDate, "run_id", res.RunID, "tenants", len(res.Tenants), "objects", len(res.Objects))
	}
	if err != nil {
		if r.Outcome == metrics.Cancelled {
			s.mu.Lock()
			s.cancelled++
			s.mu.Unlock()
		}
		s.log.Warn("run end", append(attrs, "error", err.Error())...)
		return
	}
	s.log.Info("run end", attrs...)
}

func (s *scheduler) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.Handler(s.log))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		status, running := "ok", s.running()
		if s.stopping {
			status = "stopping"
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "running": running})
	})
	return mux
}

// cronLogger sends cron's own messages to slog; its chatter goes to debug.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "error", err)...)
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
