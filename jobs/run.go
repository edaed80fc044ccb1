// Package jobs runs mallet's jobs: one run reads a job's query from every
// tenant database of its source, merges the results, writes them with the
// job's encoder and publishes them to the job's store.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mallet-etl/mallet/athena"
	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/extract"
	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/publish"
	"github.com/mallet-etl/mallet/schema"
)

// Errors a run returns; main maps them to exit codes.
var (
	// ErrPartial: the run published, without the tenants that failed
	// (policy skip).
	ErrPartial = errors.New("published without some tenants")
	// ErrFailed: the run failed and published nothing.
	ErrFailed = errors.New("run failed, nothing published")
	// ErrLocked: the run did not start because another run of the job
	// (or shard) holds its lease; nothing was read or written. It is
	// publish.ErrLocked, named here for callers of Run.
	ErrLocked = publish.ErrLocked
)

// Options adjust one run.
type Options struct {
	// Date is the run date (midnight in the job's zone); zero means today.
	Date time.Time
	// DryRun resolves tenants and plans the run without reading rows or
	// writing anything.
	DryRun bool
	// Log receives progress and per-tenant failures; nil discards.
	Log *slog.Logger
	// Progress, when not nil, is updated while the run goes.
	Progress *Progress
	// Retries is how many times a tenant is retried after a transient
	// error; negative means none, zero the default (2).
	Retries int
	// Shard, when N > 1, runs only this shard's share of the tenants.
	Shard Shard
	// From and To, when From is set, backfill every window (snapshot and
	// window modes) of those dates in order, skipping the windows already
	// committed unless Force.
	From, To time.Time
	// Force runs windows again that are already committed.
	Force bool
	// Store, when not nil, is used instead of opening output.to.
	Store Store
}

// Shard is shard K of N (1 <= K <= N); the zero value means no sharding.
// Sharding splits the tenants (ShardTenants); each shard publishes on its
// own, which is why the type belongs to package publish.
type Shard = publish.Shard

// Progress counts a run's work as it happens; safe for concurrent reads.
type Progress struct {
	TenantsTotal  atomic.Int64
	TenantsDone   atomic.Int64
	TenantsFailed atomic.Int64
	Rows          atomic.Int64
	Bytes         atomic.Int64
}

// Result describes a run, for the summary and the JSON report.
type Result struct {
	Job      string         `json:"job"`
	RunDate  string         `json:"run_date"`
	RunID    string         `json:"run_id"`
	Started  time.Time      `json:"started"`
	Duration time.Duration  `json:"duration_ns"`
	DryRun   bool           `json:"dry_run,omitempty"`
	Query    string         `json:"-"`
	Params   map[string]any `json:"-"`
	Schema   schema.Schema  `json:"schema,omitempty"`
	// SchemaAdded lists the columns this run appended to the previous
	// run's schema under schema_drift: allow-add.
	SchemaAdded schema.Schema   `json:"schema_added,omitempty"`
	Tenants     []*TenantResult `json:"tenants"`
	Objects     []Object        `json:"objects"`
	Rows        int64           `json:"rows"`
	Bytes       int64           `json:"bytes"`
	// Failed counts the tenants whose status is TenantFailed: their own
	// errors, not the tenants cancelled or never run because of them.
	Failed int    `json:"tenants_failed"`
	Err    string `json:"error,omitempty"`
	// Servers lists the servers whose databases could not be listed: a
	// failure of the server, not of a tenant (its tenants are unknown).
	Servers []ServerFailure `json:"servers_failed,omitempty"`
	// Mode is the job's mode; Window the query window of a window-mode
	// run; Windows the result of each window when the run covered several
	// (a backfill), with the totals above summed over them.
	Mode    string          `json:"mode,omitempty"`
	Window  *publish.Window `json:"window,omitempty"`
	Windows []*Result       `json:"windows,omitempty"`
	// Steps are what the run did after its last commit to keep readers
	// in step: the Glue table, SPICE refreshes (see afterCommit).
	Steps []Step `json:"steps,omitempty"`
}

// ServerFailure is a server whose tenants could not be discovered.
type ServerFailure struct {
	Server string `json:"server"`
	Error  string `json:"error"`
}

// Tenant statuses: what happened to a tenant in a run.
const (
	// TenantOK: extracted; its rows are in the run's output.
	TenantOK = "ok"
	// TenantFailed: its own error (query, connection, columns that differ
	// from the others'); Error says which.
	TenantFailed = "failed"
	// TenantCancelled: started, then stopped because another tenant failed
	// under on_tenant_error: fail, or the run was stopped or timed out.
	TenantCancelled = "cancelled"
	// TenantNotRun: never started: the run failed or was stopped first.
	TenantNotRun = "not run"
	// TenantSkipped: not run on purpose: every window the run covers was
	// committed already (a resumed backfill; --force runs them again).
	TenantSkipped = "skipped"
)

// TenantStatuses lists the statuses in the order summaries give them.
var TenantStatuses = []string{TenantFailed, TenantCancelled, TenantNotRun, TenantSkipped, TenantOK}

// Count returns how many tenants of the run have status.
func (r *Result) Count(status string) int {
	n := 0
	for _, t := range r.Tenants {
		if t.Status == status {
			n++
		}
	}
	return n
}

// TenantSummary says what happened to the tenants, failures first:
// "1 of 3 tenants failed; 2 cancelled", "3 of 3 tenants ok".
func (r *Result) TenantSummary() string {
	if len(r.Tenants) == 0 {
		return "no tenants"
	}
	var parts []string
	for _, st := range TenantStatuses {
		n := r.Count(st)
		switch {
		case n == 0:
		case len(parts) == 0:
			parts = append(parts, fmt.Sprintf("%d of %d tenants %s", n, len(r.Tenants), st))
		default:
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	return strings.Join(parts, "; ")
}

// TenantResult is one tenant's part of a run.
type TenantResult struct {
	Server   string `json:"server"`
	Database string `json:"database"`
	// Status is what happened to the tenant: one of TenantStatuses.
	Status string `json:"status"`
	Rows   int64  `json:"rows"`
	// Bytes is the size of the tenant's own parts, or, for a tenant packed
	// with others, how much its rows grew their part (an estimate for
	// Parquet, whose pages are compressed a row group at a time).
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration_ns"`
	Attempts int           `json:"attempts"`
	Err      error         `json:"-"`
	Error    string        `json:"error,omitempty"`
	// Cursor is the largest cursor value read (mode incremental), and
	// Skipped the rows the look-back read again and left out.
	Cursor  string `json:"cursor,omitempty"`
	Skipped int64  `json:"skipped_in_lookback,omitempty"`

	tenant extract.Tenant
	schema schema.Schema // the query's own columns
	parts  []Object      // the tenant's own parts (too large to pack), split at file_size
	agg    *aggregator
	track  *tracker // mode incremental
}

// Object is one published file.
type Object = publish.Object

// Run runs the named job once. It returns the result even on error, with
// the error wrapping ErrFailed (nothing published) or ErrPartial.
func Run(ctx context.Context, cfg *config.Config, name string, o Options) (*Result, error) {
	job, ok := cfg.Jobs[name]
	if !ok {
		return nil, fmt.Errorf("run: unknown job %q (jobs: %s)", name, strings.Join(cfg.JobNames(), ", "))
	}
	if err := checkDates(job, o, time.Now()); err != nil {
		return &Result{Job: name, Started: time.Now(), Err: err.Error()}, err
	}
	r := &run{cfg: cfg, job: job, src: cfg.Sources[job.Source], o: o, log: o.Log}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.o.Progress == nil {
		r.o.Progress = &Progress{}
	}
	if job.RunTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, job.RunTimeout, fmt.Errorf("run_timeout %s exceeded", job.RunTimeout))
		defer cancel()
	}
	res, err := r.do(ctx)
	if r.published {
		// After the last commit, outside the lease: whatever happens
		// here, the data stays published.
		r.res = res
		if cerr := r.afterCommit(ctx); cerr != nil {
			if err == nil {
				err = cerr
			} else {
				err = fmt.Errorf("%w; %w", err, cerr)
			}
		}
	}
	res.Duration = time.Since(res.Started)
	if err != nil {
		res.Err = err.Error()
	}
	return res, err
}

type run struct {
	cfg     *config.Config
	job     *config.Job
	src     *config.Source
	o       Options
	log     *slog.Logger
	res     *Result
	query   *extract.Query
	servers map[string]*extract.Server
	store   Store
	attrs   []string

	// publishing (publish.go): the lease held, the state as last read or
	// committed, the window being run, and whether it is committed.
	lease     *publish.Lease
	state     *publish.State
	win       window
	committed bool
	// published: some window of the run committed.
	published bool

	// parts are the window's packed parts, as writers finish them.
	partsMu sync.Mutex
	parts   []packedPart
}

func (r *run) do(ctx context.Context) (*Result, error) {
	r.res = &Result{Job: r.job.Name, Started: time.Now(), RunID: newRunID(), DryRun: r.o.DryRun}
	date := r.o.Date
	if date.IsZero() {
		now := time.Now().In(r.job.Location)
		date = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, r.job.Location)
	} else {
		date = time.Date(date.Year(), date.Month(), date.Day(), 0, 0, 0, 0, r.job.Location)
	}
	r.res.RunDate = date.Format(time.DateOnly)
	r.res.Params = Params(date)
	r.query = r.job.Statement
	r.res.Query = r.query.Text()

	servers, err := openServers(r.src)
	if err != nil {
		return r.res, fmt.Errorf("job %s: %w: %w", r.job.Name, err, ErrFailed)
	}
	defer closeServers(servers)
	r.servers = map[string]*extract.Server{}
	for _, srv := range servers {
		r.servers[srv.Name()] = srv
	}
	tenants, err := r.discover(ctx, servers)
	if err != nil {
		return r.res, fmt.Errorf("job %s: discover tenants: %w: %w", r.job.Name, err, ErrFailed)
	}
	r.attrs = tenants.Attrs
	found := len(tenants.List) + len(tenants.Refused)
	// An empty shard is not an error: with few tenants and many shards some
	// get none, and their runs must still succeed.
	tenants.List = ShardTenants(tenants.List, r.o.Shard)
	for _, name := range slices.Sorted(maps.Keys(tenants.Failed)) {
		// The error names the server already; the summary says it again.
		msg := strings.TrimPrefix(tenants.Failed[name].Error(), "server "+name+": ")
		r.res.Servers = append(r.res.Servers, ServerFailure{Server: name, Error: msg})
	}
	// A refused tenant fails in the one shard it would belong to, so that
	// N shards report it once, not N times.
	for _, rf := range tenants.Refused {
		if r.o.Shard.N <= 1 || ShardOf(rf.Tenant, r.o.Shard.N) == r.o.Shard.K {
			r.res.Tenants = append(r.res.Tenants, &TenantResult{Server: rf.Tenant.Server, Database: rf.Tenant.Database, Status: TenantFailed, Err: rf.Err, Error: rf.Err.Error()})
		}
	}
	for _, t := range tenants.List {
		r.res.Tenants = append(r.res.Tenants, &TenantResult{Server: t.Server, Database: t.Database, Status: TenantNotRun, tenant: t})
	}
	r.o.Progress.TenantsTotal.Store(int64(len(r.res.Tenants)))
	if found == 0 && len(tenants.Failed) == 0 {
		return r.res, fmt.Errorf("job %s: no tenant database matches the source %s: %w", r.job.Name, r.src.Name, ErrFailed)
	}
	// A server that cannot list its databases hides an unknown number of
	// tenants: under policy fail that fails the run before any work, and
	// a run with no tenant left has nothing to publish.
	if len(r.res.Servers) > 0 && (found == 0 || r.job.OnTenantError == config.OnErrorFail) {
		return r.res, fmt.Errorf("job %s: %s: %w", r.job.Name, serversFailed(r.res.Servers), ErrFailed)
	}
	if r.o.DryRun {
		return r.res, nil
	}
	r.store = r.o.Store
	if r.store == nil {
		r.store, err = OpenStore(ctx, r.job.Output.To, r.cfg.S3)
		if err != nil {
			return r.res, fmt.Errorf("job %s: output %s: %w: %w", r.job.Name, r.job.Output.To, err, ErrFailed)
		}
	}
	return r.runWindows(ctx)
}

// serversFailed says which servers could not list their databases.
func serversFailed(servers []ServerFailure) string {
	if len(servers) == 1 {
		return fmt.Sprintf("server %s failed, its tenants are unknown: %s", servers[0].Server, servers[0].Error)
	}
	names := make([]string, len(servers))
	for i, s := range servers {
		names[i] = s.Server
	}
	return fmt.Sprintf("servers %s failed, their tenants are unknown; first: %s", strings.Join(names, ", "), servers[0].Error)
}

// runWindow extracts and publishes one window into r.res.
func (r *run) runWindow(ctx context.Context) error {
	first := r.extractAll(ctx) // the failure that cancelled the others, if any
	r.checkSchemas()
	for _, t := range r.res.Tenants {
		if t.Err != nil {
			t.Error = t.Err.Error()
			if first == nil && t.Status == TenantFailed {
				first = t.Err
			}
		}
	}
	failed := r.res.Count(TenantFailed)
	r.res.Failed = failed
	ok := r.res.Count(TenantOK)
	var runErr error
	switch {
	case ctx.Err() != nil:
		runErr = fmt.Errorf("job %s: %w (%s): %w", r.job.Name, context.Cause(ctx), r.res.TenantSummary(), ErrFailed)
	case failed > 0 && r.job.OnTenantError == config.OnErrorFail:
		runErr = fmt.Errorf("job %s: %s (on_tenant_error: fail); first: %v: %w", r.job.Name, r.res.TenantSummary(), first, ErrFailed)
	case ok == 0 && failed > 0:
		runErr = fmt.Errorf("job %s: every tenant failed; first: %v: %w", r.job.Name, first, ErrFailed)
	}
	if runErr != nil {
		r.discard(ctx)
		return runErr
	}
	if _, err := r.publish(ctx); err != nil {
		if r.committed {
			return fmt.Errorf("job %s: published, but %w (the next run finishes it)", r.job.Name, err)
		}
		r.discard(ctx)
		return fmt.Errorf("job %s: publish: %w: %w", r.job.Name, err, ErrFailed)
	}
	var left []string
	if failed > 0 {
		left = append(left, fmt.Sprintf("%d of %d tenants failed and were left out", failed, len(r.res.Tenants)))
	}
	if len(r.res.Servers) > 0 {
		left = append(left, serversFailed(r.res.Servers))
	}
	if len(left) > 0 {
		return fmt.Errorf("job %s: %s: %w", r.job.Name, strings.Join(left, "; "), ErrPartial)
	}
	return nil
}

func openServers(src *config.Source) ([]*extract.Server, error) {
	var servers []*extract.Server
	for _, s := range src.Servers {
		srv, err := extract.Open(s.Name, string(s.DSN), extract.Options{MaxConns: src.MaxConnections, TLS: s.TLS, QueryTimeout: src.QueryTimeout})
		if err != nil {
			closeServers(servers)
			return nil, err
		}
		servers = append(servers, srv)
	}
	return servers, nil
}

func closeServers(servers []*extract.Server) {
	for _, s := range servers {
		s.Close()
	}
}

// discover resolves the tenants, retrying transient errors as tenants are
// retried: a registry query or a listing that meets a busy server waits.
func (r *run) discover(ctx context.Context, servers []*extract.Server) (*extract.Tenants, error) {
	for attempt := 0; ; attempt++ {
		tenants, err := extract.Discover(ctx, servers, r.src.Selector)
		if err == nil || r.o.Retries < 0 || attempt >= r.retries() || !extract.Transient(err) || ctx.Err() != nil {
			return tenants, err
		}
		wait := backoff(attempt)
		r.log.Info("discovery retry", "job", r.job.Name, "attempt", attempt+1, "wait", wait, "error", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// retries is how many times a transient error is retried.
func (r *run) retries() int {
	if r.o.Retries == 0 {
		return 2
	}
	return r.o.Retries
}

// Discover resolves a source's tenants.
func Discover(ctx context.Context, src *config.Source) (*extract.Tenants, error) {
	servers, err := openServers(src)
	if err != nil {
		return nil, err
	}
	defer closeServers(servers)
	return extract.Discover(ctx, servers, src.Selector)
}

// Params returns the query parameters for a run date: the date and the
// day's window, as text, in the date's zone and in UTC.
func Params(date time.Time) map[string]any {
	const dt = "2006-01-02 15:04:05"
	end := date.AddDate(0, 0, 1)
	return map[string]any{
		"date":             date.Format(time.DateOnly),
		"window_start":     date.Format(dt),
		"window_end":       end.Format(dt),
		"window_start_utc": date.UTC().Format(dt),
		"window_end_utc":   end.UTC().Format(dt),
	}
}

// extractAll runs every tenant with bounded concurrency: the source's
// concurrency in workers, each taking the next tenant in the run's order;
// a union job's tenants then go to fewer writers, which pack them into
// parts in the run's order (pack.go). Under policy fail the first failure
// cancels the tenants still running, and extractAll returns that failure:
// the others' errors only say they were cancelled.
func (r *run) extractAll(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu   sync.Mutex
		root error
	)
	// fail reports a tenant that failed, in extraction or after: a part
	// that could not be written fails the tenants packed into it.
	// A tenant that ends in an error after the run's context ended (another
	// tenant failed under policy fail, the run was stopped or timed out)
	// was cancelled, not failed: its error says why.
	fail := func(t *TenantResult) {
		mu.Lock()
		cancelled := ctx.Err() != nil
		if !cancelled && root == nil && r.job.OnTenantError == config.OnErrorFail {
			root = t.Err
		}
		mu.Unlock()
		if cancelled {
			t.Status = TenantCancelled
			r.log.Info("tenant cancelled", "job", r.job.Name, "server", t.Server, "database", t.Database, "error", t.Err)
			return
		}
		t.Status = TenantFailed
		r.o.Progress.TenantsFailed.Add(1)
		r.log.Warn("tenant failed", "job", r.job.Name, "server", t.Server, "database", t.Database, "attempts", t.Attempts, "error", t.Err)
		if r.job.OnTenantError == config.OnErrorFail {
			cancel(fmt.Errorf("cancelled: tenant %s/%s failed", t.Server, t.Database))
		}
	}
	r.parts = nil
	var todo []int
	for i, t := range r.res.Tenants {
		if t.Err != nil {
			r.o.Progress.TenantsDone.Add(1)
			r.o.Progress.TenantsFailed.Add(1)
			continue
		}
		todo = append(todo, i)
	}
	workers := min(r.src.Concurrency, len(todo))
	if workers == 0 {
		return nil
	}
	var h *handoff // nil for merge: aggregate, which packs nothing
	if r.job.Merge != config.MergeAggregate {
		h = newHandoff(ctx, r, todo, workers, fail)
		defer h.close()
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				// The spool is taken before the tenant: every tenant
				// taken has one, so the writers, which wait for tenants
				// in order, always have the next one coming.
				sp := h.spool()
				n := int(next.Add(1)) - 1
				if n >= len(todo) {
					h.release(sp)
					return
				}
				i := todo[n]
				t := r.res.Tenants[i]
				if ctx.Err() != nil {
					t.Err, t.Status = fmt.Errorf("not started: %w", context.Cause(ctx)), TenantNotRun
					h.done(n, nil, sp)
					continue
				}
				s := r.tenant(ctx, i, t, sp)
				r.o.Progress.TenantsDone.Add(1)
				if t.Err != nil {
					fail(t)
				} else {
					t.Status = TenantOK // until a part it is packed into fails
				}
				h.done(n, s, sp)
			}
		})
	}
	if h != nil {
		for range h.writers {
			wg.Go(h.write)
		}
	}
	wg.Wait()
	return root
}

// tenant extracts one tenant, retrying transient errors. It returns the
// sink whose rows sp holds when they are to be packed: the tenant
// succeeded, has rows, and had not outgrown the spool into a part of its
// own. Packing only once the tenant succeeded means that no attempt that
// failed leaves a row behind.
func (r *run) tenant(ctx context.Context, i int, t *TenantResult, sp *spool) *partSink {
	start := time.Now()
	defer func() { t.Duration = time.Since(start) }()
	tctx := ctx
	if d := r.src.TenantTimeout; d > 0 {
		var cancel context.CancelFunc
		tctx, cancel = context.WithTimeoutCause(ctx, d, fmt.Errorf("tenant_timeout %s exceeded", d))
		defer cancel()
	}
	retries := r.retries()
	var s *partSink
	for attempt := 0; ; attempt++ {
		t.Attempts = attempt + 1
		var err error
		s, err = r.attempt(tctx, i, t, sp)
		if err != nil && tctx.Err() != nil && !errors.Is(err, context.Cause(tctx)) {
			// Say why the context ended (tenant_timeout, run_timeout, a
			// failed tenant under policy fail), not just "canceled".
			err = fmt.Errorf("%w: %w", context.Cause(tctx), err)
		}
		if err == nil || retries < 0 || attempt >= retries || !extract.Transient(err) || tctx.Err() != nil {
			if err != nil {
				t.Err = fmt.Errorf("tenant %s/%s: %w", t.Server, t.Database, err)
			}
			break
		}
		wait := backoff(attempt)
		r.log.Info("tenant retry", "job", r.job.Name, "server", t.Server, "database", t.Database, "attempt", attempt+1, "wait", wait, "error", err)
		select {
		case <-time.After(wait):
		case <-tctx.Done():
		}
	}
	if t.Err != nil || s == nil || s.up != nil || sp.rows == 0 {
		return nil
	}
	return s
}

// attempt extracts tenant i once. A union tenant's rows go to the spool
// (the caller packs them), or, past the spool's bound, to a part of the
// tenant's own; the sink says which.
func (r *run) attempt(ctx context.Context, i int, t *TenantResult, sp *spool) (*partSink, error) {
	r.o.Progress.Rows.Add(-t.Rows)
	t.Rows, t.Bytes, t.schema, t.parts, t.agg, t.track = 0, 0, nil, nil, nil, nil
	srv := r.servers[t.Server]
	params := r.res.Params
	if usesTenantParams(r.query) {
		params = maps.Clone(params)
		params["server"], params["database"] = t.Server, t.Database
	}
	params, err := r.cursorParams(t, params)
	if err != nil {
		return nil, err
	}
	args, err := r.query.Args(params)
	if err != nil {
		return nil, err
	}
	prefix := make([][]byte, 0, 2+len(r.attrs))
	prefix = append(prefix, []byte(t.Server), []byte(t.Database))
	prefix = append(prefix, t.tenant.Attrs...)
	if r.job.Merge == config.MergeAggregate {
		s := &aggSink{run: r, t: t, prefix: prefix}
		n, err := srv.Stream(ctx, t.Database, r.query, args, s, extract.Options{QueryTimeout: r.src.QueryTimeout})
		t.Rows = n
		return nil, err
	}
	if err := sp.reset(); err != nil {
		return nil, err
	}
	s := &partSink{run: r, t: t, prefix: prefix, track: t.track, spool: sp, ctx: ctx}
	// A part of the tenant's own uploads on the tenant's context:
	// cancelling the tenant aborts it.
	s.start = func(full schema.Schema, seq int) (*load.Upload, error) {
		key := publish.SplitPartKey(r.job.Name, r.res.RunDate, r.o.Shard, r.res.RunID, i, seq, r.job.Output.Format.Ext())
		return load.NewUpload(ctx, r.store, key, r.job.Output.Format, full, load.UploadOptions{Progress: &r.o.Progress.Bytes})
	}
	_, err = srv.Stream(ctx, t.Database, r.query, args, s, extract.Options{QueryTimeout: r.src.QueryTimeout})
	return s, s.finish(err)
}

func usesTenantParams(q *extract.Query) bool {
	return slices.Contains(q.Params(), "server") || slices.Contains(q.Params(), "database")
}

// backoff is capped exponential backoff with full jitter.
func backoff(attempt int) time.Duration {
	d := 500 * time.Millisecond << attempt
	if d > 10*time.Second {
		d = 10 * time.Second
	}
	return time.Duration(mrand.Int64N(int64(d)))
}

// tenantSchema builds the output schema: tenant columns, registry
// attributes, then the query's columns.
func (r *run) tenantSchema(cols schema.Schema) (schema.Schema, error) {
	out := make(schema.Schema, 0, 2+len(r.attrs)+len(cols))
	out = append(out, schema.Tenant(r.src.Columns.Server), schema.Tenant(r.src.Columns.Database))
	for _, a := range r.attrs {
		out = append(out, schema.Tenant(a))
	}
	seen := map[string]bool{}
	for _, c := range out {
		seen[c.Name] = true
	}
	for _, c := range cols {
		if seen[c.Name] {
			return nil, fmt.Errorf("the query returns a column named %q, which clashes with a tenant column: rename it with AS or set the source's columns", c.Name)
		}
		seen[c.Name] = true
	}
	return append(out, cols...), nil
}

// partSink takes one tenant's rows: into its spool while they fit, or
// else into parts of the tenant's own, the first of which starts with the
// spooled rows; each part closes at output.file_size (or file_rows) and
// the next row opens the next. An empty result writes nothing.
type partSink struct {
	run     *run
	ctx     context.Context // the attempt's
	t       *TenantResult
	prefix  [][]byte
	full    schema.Schema
	row     [][]byte
	spool   *spool
	own     bool                                                    // past the spool: the rows go to parts of the tenant's own
	up      *load.Upload                                            // the tenant's open part, if any
	closing chan partClosed                                         // the previous part's Close, running; nil if none
	started int                                                     // parts started: the next part is number started
	start   func(full schema.Schema, seq int) (*load.Upload, error) // starts the tenant's part number seq
	track   *tracker                                                // mode incremental: skips rows published before
}

func (s *partSink) Start(cols schema.Schema) error {
	full, err := s.run.tenantSchema(cols)
	if err != nil {
		return err
	}
	// Checked before the first row is packed: a name Athena cannot hold
	// is refused with nothing uploaded, not found by athena ddl later.
	if err := athena.CheckColumns(full); err != nil {
		return fmt.Errorf("result columns: %w", err)
	}
	if s.track != nil {
		if err := s.track.start(cols); err != nil {
			return err
		}
	}
	s.t.schema, s.full = cols, full
	s.row = make([][]byte, len(full))
	copy(s.row, s.prefix)
	return nil
}

func (s *partSink) Write(row [][]byte) error {
	if s.track != nil && !s.track.keep(row) {
		return nil
	}
	switch {
	case s.own:
		if err := s.write(row); err != nil {
			return err
		}
	case s.spool.fits(row):
		if err := s.spool.add(row); err != nil {
			return err
		}
	default:
		// Past the spool's bound: the tenant is big enough for parts of
		// its own, and streams into them from here.
		s.own = true
		if err := s.spool.each(len(row), s.write); err != nil {
			return err
		}
		if err := s.spool.reset(); err != nil {
			return err
		}
		if err := s.write(row); err != nil {
			return err
		}
	}
	s.t.Rows++
	s.run.o.Progress.Rows.Add(1)
	return nil
}

// write appends a row to the tenant's open part, opening the next one
// first if none is, and closes the part once it is full.
func (s *partSink) write(vals [][]byte) error {
	if s.up == nil {
		up, err := s.start(s.full, s.started)
		if err != nil {
			return err
		}
		s.up = up
		s.started++
		if s.started == 1 {
			crashpoint("upload")
		}
	}
	copy(s.row[len(s.prefix):], vals)
	if err := s.up.Write(s.row); err != nil {
		return err
	}
	out := s.run.job.Output
	if s.up.Size() >= int64(out.FileSize) || out.FileRows > 0 && s.up.Rows() >= out.FileRows {
		return s.closePart()
	}
	return nil
}

// partClosed is the outcome of a part's Close.
type partClosed struct {
	res load.UploadResult
	err error
}

// closePart completes the tenant's open part in the background: the
// tenant's next rows go on into the next part meanwhile, instead of
// standing still while the store takes the part's last bytes (an fsync,
// or S3's last part and CompleteMultipartUpload). One close at most runs:
// closePart first waits for the previous one, so parts are recorded in
// order and memory holds one closing part beside the open one.
func (s *partSink) closePart() error {
	if err := s.waitClose(); err != nil {
		return err
	}
	up := s.up
	s.up = nil
	done := make(chan partClosed, 1)
	s.closing = done
	go func() {
		res, err := up.Close(s.ctx)
		if err == nil {
			crashpoint("part")
		}
		done <- partClosed{res, err}
	}()
	return nil
}

// waitClose waits for the part being closed, if any, and records it.
func (s *partSink) waitClose() error {
	if s.closing == nil {
		return nil
	}
	c := <-s.closing
	s.closing = nil
	if c.err != nil {
		return c.err
	}
	s.t.parts = append(s.t.parts, Object{URI: s.run.store.URI(c.res.Key), Key: c.res.Key, Rows: c.res.Rows, Bytes: c.res.Bytes, SHA256: c.res.SHA256})
	s.t.Bytes += c.res.Bytes
	return nil
}

// finish completes the tenant's open part, if it has one, after the stream
// ended with err, and waits for every close. When err is not nil, the open
// part is aborted and those already complete are deleted: nothing of a
// failed attempt is left. A failed attempt's spooled rows are dropped by
// the next reset.
func (s *partSink) finish(err error) error {
	if err == nil && s.up != nil {
		err = s.closePart()
	}
	// Even after an error: a part whose close succeeded must be known to
	// be deleted.
	if werr := s.waitClose(); err == nil {
		err = werr
	}
	if err == nil {
		return nil
	}
	if s.up != nil {
		s.up.Abort()
		s.up = nil
	}
	if derr := s.run.dropParts(s.t); derr != nil {
		err = errors.Join(err, derr)
	}
	return err
}

// dropParts deletes the tenant's own parts, if any: those of an attempt
// that failed, or of a tenant left out after it succeeded. The delete does
// not depend on the tenant's context, which may be what ended.
func (r *run) dropParts(t *TenantResult) error {
	if len(t.parts) == 0 {
		return nil
	}
	keys := make([]string, len(t.parts))
	for i, p := range t.parts {
		keys[i] = p.Key
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.store.Delete(ctx, keys...); err != nil {
		return fmt.Errorf("delete the parts of a failed attempt: %w", err)
	}
	t.parts, t.Bytes = nil, 0
	return nil
}

// checkSchemas fails the tenants whose result columns differ from the
// majority's (ties go to the schema of the first tenant in order), so a file
// of another shape is never published beside the others.
func (r *run) checkSchemas() {
	type group struct {
		s     schema.Schema
		n     int
		first int
	}
	var groups []*group
	for i, t := range r.res.Tenants {
		if t.Err != nil || t.schema == nil {
			continue
		}
		var g *group
		for _, x := range groups {
			if x.s.Equal(t.schema) {
				g = x
			}
		}
		if g == nil {
			g = &group{s: t.schema, first: i}
			groups = append(groups, g)
		}
		g.n++
	}
	if len(groups) == 0 {
		return
	}
	sort.SliceStable(groups, func(i, j int) bool {
		if groups[i].n != groups[j].n {
			return groups[i].n > groups[j].n
		}
		return groups[i].first < groups[j].first
	})
	win := groups[0]
	r.res.Schema, _ = r.tenantSchema(win.s)
	for _, t := range r.res.Tenants {
		if t.Err == nil && t.schema != nil && !t.schema.Equal(win.s) {
			t.Err, t.Status = fmt.Errorf("tenant %s/%s: result columns differ from %d other tenant(s), left out: %s", t.Server, t.Database, win.n, win.s.Diff(t.schema)), TenantFailed
			r.o.Progress.TenantsFailed.Add(1)
			r.log.Warn("tenant schema differs", "job", r.job.Name, "server", t.Server, "database", t.Database, "error", t.Err)
		}
	}
}

func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
