// Package schedule runs a config's jobs on their cron schedules, the loop
// behind `mallet schedule`: one run of a job at a time (a turn that comes
// while the previous run goes on is skipped), at most MaxConcurrent jobs at
// once, the config replaced on Reload, and a two-phase Stop.
//
// The scheduler owns every goroutine it starts: cron's timer loops, one
// short goroutine per turn (cron's), and one per run. Stop waits for all of
// them.
package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/metrics"
)

// Runner runs one job of cfg once, until it ends or ctx is cancelled.
// jobs.Run is the production runner; what it returns is reported as the
// run's outcome (see metrics.OutcomeOf).
type Runner interface {
	Run(ctx context.Context, cfg *config.Config, job string) (*jobs.Result, error)
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, cfg *config.Config, job string) (*jobs.Result, error)

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context, cfg *config.Config, job string) (*jobs.Result, error) {
	return f(ctx, cfg, job)
}

// Options configure a Scheduler. Load and Runner are required.
type Options struct {
	// Load reads and validates the config, at Start and on every Reload.
	Load func() (*config.Config, error)
	// Runner runs the jobs.
	Runner Runner
	// MaxConcurrent is how many jobs run at once at most; a run past it
	// waits for a slot. Less than 1 means 1.
	MaxConcurrent int
	// Log receives the scheduler's lines (job scheduled, run start, run
	// end, skips, reloads); nil discards them.
	Log *slog.Logger
	// Metrics records runs, skips and reloads; nil means a new set.
	Metrics *metrics.Metrics
}

// ErrNothingScheduled is returned by Start and Reload for a config in which
// no job has a schedule.
var ErrNothingScheduled = errors.New("no job has a schedule: nothing to run")

// ErrCancelled is wrapped by Stop's error when runs had to be cancelled
// because they outlasted the grace period; nothing of theirs is published.
var ErrCancelled = errors.New("runs cancelled")

// Scheduler runs the jobs of its current config on their schedules. Runs
// outlive a Reload, keeping the config they started with.
type Scheduler struct {
	o          Options
	log        *slog.Logger
	metrics    *metrics.Metrics
	runCtx     context.Context         // every run's context
	cancelRuns context.CancelCauseFunc // ends the grace period
	slots      chan struct{}           // one per job running
	quit       chan struct{}           // closed by Stop: runs waiting for a slot give up
	runs       sync.WaitGroup          // run goroutines

	mu        sync.Mutex
	cron      *cron.Cron
	retired   []context.Context // done when a replaced cron's turns have returned
	busy      map[string]bool   // jobs running or waiting for a slot
	stopping  bool
	cancelled int // runs that ended cancelled
}

// Start loads the config, logs every scheduled job's next run time and
// starts the schedule. Runs get contexts derived from ctx (cancelling it
// cancels them at once; Stop is the graceful way to end). An error means
// the config did not load (config.ErrInvalid, or ErrNothingScheduled) and
// nothing was started.
func Start(ctx context.Context, o Options) (*Scheduler, error) {
	if o.Load == nil || o.Runner == nil {
		return nil, errors.New("schedule: Options.Load and Options.Runner are required")
	}
	s := &Scheduler{
		o:       o,
		log:     o.Log,
		metrics: o.Metrics,
		slots:   make(chan struct{}, max(o.MaxConcurrent, 1)),
		quit:    make(chan struct{}),
		busy:    map[string]bool{},
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	cfg, c, err := s.load()
	if err != nil {
		return nil, err
	}
	s.runCtx, s.cancelRuns = context.WithCancelCause(ctx)
	s.cron = c
	s.announce(cfg)
	c.Start()
	return s, nil
}

// load loads the config and builds, without starting, a cron for it.
func (s *Scheduler) load() (*config.Config, *cron.Cron, error) {
	cfg, err := s.o.Load()
	if err != nil {
		return nil, nil, err
	}
	c := cron.New(cron.WithLocation(cfg.Location), cron.WithLogger(cronLogger{s.log}))
	for _, name := range cfg.JobNames() {
		if j := cfg.Jobs[name]; j.Cron != nil {
			c.Schedule(j.Cron, cron.FuncJob(func() { s.turn(cfg, name) }))
		}
	}
	if len(c.Entries()) == 0 {
		return nil, nil, ErrNothingScheduled
	}
	return cfg, c, nil
}

// announce logs every job's next run time and makes its metrics exist, so
// that alerts see a job before its first run.
func (s *Scheduler) announce(cfg *config.Config) {
	now := time.Now()
	for _, name := range cfg.JobNames() {
		j := cfg.Jobs[name]
		if j.Cron == nil {
			s.log.Info("job not scheduled (no schedule; run it with run job)", "job", name)
			continue
		}
		s.metrics.Init(name)
		s.log.Info("job scheduled", "job", name, "schedule", j.Schedule, "timezone", j.Location.String(),
			"next", j.Cron.Next(now).In(j.Location).Format(time.RFC3339))
	}
}

// Reload loads the config again and, if it loads, replaces the schedule
// with its jobs'; runs in progress go on with the config they started
// with. If it does not load, the error is logged and returned and the
// running config is kept. Either way the outcome is counted in the metrics.
func (s *Scheduler) Reload() error {
	s.log.Info("reloading config")
	cfg, c, err := s.load()
	s.metrics.Reload(err)
	if err != nil {
		s.log.Error("config reload failed: keeping the running config", "error", err.Error())
		return err
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return nil
	}
	old := s.cron
	s.cron = c
	s.retired = slices.DeleteFunc(s.retired, func(done context.Context) bool { return done.Err() != nil })
	s.retired = append(s.retired, old.Stop())
	s.announce(cfg)
	c.Start()
	s.mu.Unlock()
	s.log.Info("config reloaded", "jobs", len(cfg.Jobs), "scheduled", len(c.Entries()))
	return nil
}

// Stop starts no new run, releases the runs waiting for a slot, and waits
// for the runs in progress until they end or ctx is done; then it cancels
// them and waits for them to return. It returns nil when every run ended on
// its own, and an error wrapping ErrCancelled when some were cancelled
// (those publish nothing). Calls after the first wait the same way.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		close(s.quit)
		s.retired = append(s.retired, s.cron.Stop())
	}
	retired := slices.Clone(s.retired)
	running := s.running()
	s.mu.Unlock()
	s.log.Info("shutting down: no new runs", "running", running)

	// Turns return at once once stopping is set; waiting for them first
	// means no run can start after runs.Wait below has begun.
	for _, done := range retired {
		<-done.Done()
	}
	ended := make(chan struct{})
	go func() {
		s.runs.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-ctx.Done():
		s.cancelRuns(fmt.Errorf("stop: the shutdown grace period is over: %w", context.Canceled))
		<-ended
	}
	s.cancelRuns(context.Canceled) // no run is left; frees the context
	s.mu.Lock()
	n := s.cancelled
	s.mu.Unlock()
	if n > 0 {
		s.log.Warn("stopped", "cancelled_runs", n)
		return fmt.Errorf("schedule: %d run(s) cancelled, nothing of theirs published: %w", n, ErrCancelled)
	}
	s.log.Info("stopped", "cancelled_runs", 0)
	return nil
}

// Running returns the jobs running or waiting for a slot, sorted.
func (s *Scheduler) Running() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running()
}

func (s *Scheduler) running() []string {
	names := make([]string, 0, len(s.busy))
	for name := range s.busy {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// turn is one scheduled turn of a job, called on cron's goroutine: skipped
// if the job is still running, else the run starts on a goroutine of its
// own.
func (s *Scheduler) turn(cfg *config.Config, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return
	}
	if s.busy[name] {
		s.log.Warn("run skipped: the previous run is still going", "job", name, "outcome", metrics.Skipped)
		s.metrics.Skip(name)
		return
	}
	s.busy[name] = true
	s.runs.Add(1)
	go s.run(cfg, name)
}

// run waits for a slot and runs the job once.
func (s *Scheduler) run(cfg *config.Config, name string) {
	s.metrics.SetInProgress(name, true)
	defer func() {
		s.metrics.SetInProgress(name, false)
		s.mu.Lock()
		delete(s.busy, name)
		s.mu.Unlock()
		s.runs.Done()
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
	case <-s.quit: // a slot and the quit may have come together
		s.log.Info("run not started: shutting down", "job", name)
		return
	default:
	}

	job := cfg.Jobs[name]
	s.log.Info("run start", "job", name, "source", job.Source, "output", job.Output.To)
	res, err := s.o.Runner.Run(s.runCtx, cfg, name)
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

// Handler serves GET /metrics (Prometheus) and GET /healthz: 200 with
// {"status":"ok","running":[...]} while the schedule runs, 503 with status
// "stopping" once Stop has begun.
func (s *Scheduler) Handler() http.Handler {
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
