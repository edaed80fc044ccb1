// Package metrics reports mallet's runs to Prometheus and in the run-end log
// line, under the same names.
//
// A metric and its log key pair up as follows (label mallet_job is the job
// name: "job" is left to Prometheus, which sets it to the scrape job):
//
//	mallet_runs_total{mallet_job, outcome}          outcome
//	mallet_rows_total{mallet_job}                   rows
//	mallet_bytes_total{mallet_job}                  bytes
//	mallet_tenants_failed_total{mallet_job}         tenants_failed
//	mallet_run_duration_seconds{mallet_job}         run_duration_seconds
//	mallet_last_success_timestamp_seconds{...}      last_success_timestamp_seconds
//	mallet_post_commit_steps_total{mallet_job, step, outcome}
//	                                                post_commit_steps ["glue:unchanged", ...]
//
// A run that published but whose Glue sync or SPICE refresh failed (exit
// code 5) counts as a success in mallet_runs_total, since its data is
// published; the failed step counts in mallet_post_commit_steps_total with
// outcome="failed".
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mallet-etl/mallet/jobs"
)

// Outcomes of a run, the values of the outcome label.
const (
	Success   = "success"   // published, every tenant included
	Partial   = "partial"   // published without the tenants that failed
	Failed    = "failed"    // nothing published
	Cancelled = "cancelled" // stopped by shutdown; nothing published
	Skipped   = "skipped"   // not started: the job's previous run was still going
	Locked    = "locked"    // not run: another process holds the job's lease
)

// OutcomeOf classifies the error jobs.Run returned.
func OutcomeOf(err error) string {
	switch {
	case err == nil:
		return Success
	case errors.Is(err, jobs.ErrPartial):
		return Partial
	case errors.Is(err, jobs.ErrLocked):
		return Locked
	case errors.Is(err, jobs.ErrCatalog) && !errors.Is(err, jobs.ErrFailed):
		// Published; the step's failure counts on its own, even when
		// a shutdown cut the step short.
		return Success
	case errors.Is(err, context.Canceled):
		return Cancelled
	}
	return Failed
}

// Run is one finished run, as the metrics and the run-end log line report it.
type Run struct {
	Job           string
	Outcome       string
	Rows          int64 // published rows
	Bytes         int64 // published bytes
	TenantsFailed int
	Duration      time.Duration
	End           time.Time
	// Steps are the steps after the commit (jobs.Result.Steps).
	Steps []jobs.Step
}

// RunOf summarises a run from what jobs.Run returned; res may be nil.
func RunOf(job string, res *jobs.Result, err error) Run {
	r := Run{Job: job, Outcome: OutcomeOf(err), End: time.Now()}
	if res != nil {
		r.Rows, r.Bytes, r.TenantsFailed, r.Duration = res.Rows, res.Bytes, res.Failed+len(res.Servers), res.Duration
		r.Steps = res.Steps
	}
	return r
}

// LogAttrs returns the run's figures as slog key-value pairs named like the
// metrics (see the package comment).
func (r Run) LogAttrs() []any {
	attrs := []any{
		"job", r.Job,
		"outcome", r.Outcome,
		"rows", r.Rows,
		"bytes", r.Bytes,
		"tenants_failed", r.TenantsFailed,
		"run_duration_seconds", r.Duration.Seconds(),
	}
	if r.Outcome == Success {
		attrs = append(attrs, "last_success_timestamp_seconds", r.End.Unix())
	}
	if len(r.Steps) > 0 {
		steps := make([]string, len(r.Steps))
		for i, s := range r.Steps {
			steps[i] = s.Step + ":" + s.Outcome
		}
		attrs = append(attrs, "post_commit_steps", steps)
	}
	return attrs
}

// Metrics holds mallet's collectors in a registry of their own.
type Metrics struct {
	reg         *prometheus.Registry
	runs        *prometheus.CounterVec
	rows        *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	failed      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
	inProgress  *prometheus.GaugeVec
	reloads     *prometheus.CounterVec
	steps       *prometheus.CounterVec
}

// New returns metrics registered in a new registry, with the Go runtime and
// process collectors.
func New() *Metrics {
	job := []string{"mallet_job"}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mallet_runs_total",
			Help: "Runs by job and outcome (success, partial, failed, cancelled, skipped, locked).",
		}, []string{"mallet_job", "outcome"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mallet_rows_total",
			Help: "Rows published, by job.",
		}, job),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mallet_bytes_total",
			Help: "Bytes published, by job.",
		}, job),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mallet_tenants_failed_total",
			Help: "Tenants (or unreachable servers) that failed in a run, by job.",
		}, job),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mallet_run_duration_seconds",
			Help: "Run duration, by job; skipped runs are not observed.",
			// 1 s to about 4.5 h: jobs range from a few tenants to thousands.
			Buckets: prometheus.ExponentialBuckets(1, 2.5, 12),
		}, job),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mallet_last_success_timestamp_seconds",
			Help: "Unix time of the job's last fully successful run.",
		}, job),
		inProgress: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mallet_run_in_progress",
			Help: "1 while a run of the job is going (or waiting for a slot), else 0.",
		}, job),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mallet_config_reloads_total",
			Help: "Config reloads on SIGHUP by outcome (success, failed).",
		}, []string{"outcome"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mallet_post_commit_steps_total",
			Help: "Steps after a commit by job, step (glue, quicksight) and outcome (unchanged, created, updated, started, completed, failed).",
		}, []string{"mallet_job", "step", "outcome"}),
	}
	m.reg.MustRegister(m.runs, m.rows, m.bytes, m.failed, m.duration, m.lastSuccess, m.inProgress, m.reloads, m.steps,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Init makes the job's series exist at zero, so that rates and alerts see
// a job before its first run. The last-success gauge is left absent: zero
// would read as "failing since 1970".
func (m *Metrics) Init(job string) {
	for _, o := range []string{Success, Partial, Failed, Cancelled, Skipped, Locked} {
		m.runs.WithLabelValues(job, o)
	}
	m.rows.WithLabelValues(job)
	m.bytes.WithLabelValues(job)
	m.failed.WithLabelValues(job)
	m.inProgress.WithLabelValues(job)
}

// Observe records a finished run.
func (m *Metrics) Observe(r Run) {
	m.runs.WithLabelValues(r.Job, r.Outcome).Inc()
	if r.Outcome == Skipped {
		return
	}
	for _, s := range r.Steps {
		m.steps.WithLabelValues(r.Job, s.Step, s.Outcome).Inc()
	}
	m.rows.WithLabelValues(r.Job).Add(float64(r.Rows))
	m.bytes.WithLabelValues(r.Job).Add(float64(r.Bytes))
	m.failed.WithLabelValues(r.Job).Add(float64(r.TenantsFailed))
	m.duration.WithLabelValues(r.Job).Observe(r.Duration.Seconds())
	if r.Outcome == Success {
		m.lastSuccess.WithLabelValues(r.Job).Set(float64(r.End.Unix()))
	}
}

// Skip records a run that did not start because the previous one was still
// going.
func (m *Metrics) Skip(job string) { m.Observe(Run{Job: job, Outcome: Skipped}) }

// SetInProgress marks a job as running or not.
func (m *Metrics) SetInProgress(job string, running bool) {
	v := 0.0
	if running {
		v = 1
	}
	m.inProgress.WithLabelValues(job).Set(v)
}

// Reload records a config reload and whether it worked.
func (m *Metrics) Reload(err error) {
	o := Success
	if err != nil {
		o = Failed
	}
	m.reloads.WithLabelValues(o).Inc()
}

// Handler serves the metrics in the Prometheus text format; errors while
// gathering are logged and the rest is still served.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}
