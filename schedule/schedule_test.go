package schedule_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/schedule"
)

// These tests run the scheduler in-process with a fake runner in place of
// jobs.Run: what they check is the loop (turns, skips, slots, reload,
// stop), not a run. TestRunsAndSkips runs on the config's "@every 1s"; the
// others replace it with a turn every tenth of a second, finer than cron's
// whole seconds, to wait less. The process around the loop (signals, exit
// codes, /metrics on a port, real runs) is tested in cmd/mallet.

// every is a schedule with a turn every d.
type every time.Duration

func (d every) Next(t time.Time) time.Time { return t.Add(time.Duration(d)) }

// fast is the turn of the tests that do not need the config's schedule.
const fast = every(100 * time.Millisecond)

// writeConfig writes a valid config with the given jobs section into dir
// and returns its path. No server is contacted: the runner is a fake.
func writeConfig(t *testing.T, dir, jobsYAML string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "q.sql"), []byte("SELECT 1 AS one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := `timezone: Asia/Tokyo
sources:
  crm:
    servers:
      - name: db1
        dsn: "root@tcp(127.0.0.1:1)/"
    tenants:
      list: [crm_t001]
jobs:
` + jobsYAML
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// job is one entry of a jobs section on the given schedule ("" for none).
func job(name, schedule string) string {
	s := "  " + name + ":\n    source: crm\n    query: q.sql\n    output: {to: out, format: csv}\n"
	if schedule != "" {
		s += "    schedule: \"" + schedule + "\"\n"
	}
	return s
}

// runner is a fake Runner. A job's run blocks until the job is released
// (its run then succeeds with one row) or its context is cancelled (it then
// fails with the context's error, as jobs.Run does).
type runner struct {
	mu       sync.Mutex
	calls    map[string]int
	running  int
	most     int             // most runs at once
	started  chan string     // a job's run began
	released map[string]bool // runs of these jobs end at once
	release  map[string]chan struct{}
	stopped  bool // set when Stop returned: no run may start after
	t        *testing.T
}

func newRunner(t *testing.T, released ...string) *runner {
	r := &runner{calls: map[string]int{}, started: make(chan string, 100), released: map[string]bool{}, release: map[string]chan struct{}{}, t: t}
	for _, name := range released {
		r.released[name] = true
	}
	return r
}

func (r *runner) Run(ctx context.Context, cfg *config.Config, name string) (*jobs.Result, error) {
	r.mu.Lock()
	if r.stopped {
		r.t.Errorf("run of %s started after Stop returned", name)
	}
	if cfg.Jobs[name] == nil {
		r.t.Errorf("run of %s with a config that lacks it", name)
	}
	r.calls[name]++
	r.running++
	r.most = max(r.most, r.running)
	free := r.released[name]
	ch := r.release[name]
	if ch == nil {
		ch = make(chan struct{})
		r.release[name] = ch
	}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running--
		r.mu.Unlock()
	}()
	select {
	case r.started <- name:
	default:
	}
	if !free {
		select {
		case <-ch:
		case <-ctx.Done():
			return &jobs.Result{Job: name}, fmt.Errorf("run %s: %w", name, context.Cause(ctx))
		}
	}
	return &jobs.Result{Job: name, Rows: 1, Bytes: 10, RunDate: "2026-11-25", RunID: "r1"}, nil
}

// free lets the job's runs, in progress and to come, end at once.
func (r *runner) free(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.released[name] = true
	if ch := r.release[name]; ch != nil {
		close(ch)
		r.release[name] = nil
	}
}

func (r *runner) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[name]
}

func (r *runner) markStopped() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
}

// waitStart waits for a run of the job (of any job if name is "") to
// begin.
func (r *runner) waitStart(t *testing.T, name string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case got := <-r.started:
			if got == name || name == "" {
				return
			}
		case <-timeout:
			t.Fatalf("no run of %s began within 5s", name)
		}
	}
}

// logs is a JSON log sink safe for concurrent use.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the log lines whose msg is msg.
func (l *logs) lines(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(l.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// start starts a scheduler over the config at path; when turn is not zero,
// every scheduled job takes its turns on it instead of its schedule.
func start(t *testing.T, path string, turn every, r schedule.Runner, maxConcurrent int) (*schedule.Scheduler, *logs) {
	t.Helper()
	l := &logs{}
	load := func() (*config.Config, error) {
		cfg, err := config.Load(path)
		if err != nil || turn == 0 {
			return cfg, err
		}
		for _, j := range cfg.Jobs {
			if j.Cron != nil {
				j.Cron = turn
			}
		}
		return cfg, nil
	}
	s, err := schedule.Start(t.Context(), schedule.Options{
		Load:          load,
		Runner:        r,
		MaxConcurrent: maxConcurrent,
		Log:           slog.New(slog.NewJSONHandler(l, nil)),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Stop(ctx) //nolint:errcheck // a test that failed early may leave runs
		if t.Failed() {
			l.mu.Lock()
			t.Logf("scheduler log:\n%s", l.buf.String())
			l.mu.Unlock()
		}
	})
	return s, l
}

// metric returns one series' value on the scheduler's /metrics, -1 when
// absent.
func metric(t *testing.T, s *schedule.Scheduler, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("/metrics: %s: %v", line, err)
			}
			return f
		}
	}
	return -1
}

func waitMetric(t *testing.T, s *schedule.Scheduler, series string, atLeast float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v := metric(t, s, series)
		if v >= atLeast {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 5s, want at least %v", series, v, atLeast)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// healthz returns /healthz's status code and body.
func healthz(t *testing.T, s *schedule.Scheduler) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("/healthz: %v: %q", err, rec.Body.String())
	}
	return rec.Code, body
}

func stop(t *testing.T, s *schedule.Scheduler, grace time.Duration) (error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	begin := time.Now()
	err := s.Stop(ctx)
	return err, time.Since(begin)
}

// Jobs run on their schedules; a turn that comes while the job's previous
// run goes on is skipped and counted; a job without a schedule never runs;
// Stop with nothing to cancel returns nil, and nothing runs after it.
func TestRunsAndSkips(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeConfig(t, dir, job("slow", "@every 1s")+job("fast", "@every 1s")+job("manual", ""))
	r := newRunner(t, "fast")
	s, l := start(t, path, 0, r, 2)

	for _, name := range []string{"slow", "fast"} {
		lines := slices.DeleteFunc(l.lines("job scheduled"), func(m map[string]any) bool { return m["job"] != name })
		if len(lines) != 1 {
			t.Fatalf("job scheduled lines for %s: got %d, want 1", name, len(lines))
		}
		next, err := time.Parse(time.RFC3339, fmt.Sprint(lines[0]["next"]))
		if err != nil || next.Before(time.Now().Add(-time.Second)) || next.After(time.Now().Add(2*time.Second)) {
			t.Errorf("job %s: next %v (%v), want within a second or two", name, lines[0]["next"], err)
		}
		if lines[0]["timezone"] != "Asia/Tokyo" {
			t.Errorf("job %s: timezone %v, want the config's Asia/Tokyo", name, lines[0]["timezone"])
		}
	}
	if got := l.lines("job not scheduled (no schedule; run it with run job)"); len(got) != 1 || got[0]["job"] != "manual" {
		t.Errorf("not-scheduled lines: %v, want one for manual", got)
	}
	// The metrics of a scheduled job exist before its first run.
	if v := metric(t, s, `mallet_runs_total{mallet_job="slow",outcome="failed"}`); v != 0 {
		t.Errorf("runs_total{slow,failed} = %v before any run, want 0", v)
	}

	r.waitStart(t, "slow")
	waitMetric(t, s, `mallet_runs_total{mallet_job="slow",outcome="skipped"}`, 1)
	waitMetric(t, s, `mallet_runs_total{mallet_job="fast",outcome="success"}`, 2)
	if n := r.count("slow"); n != 1 {
		t.Errorf("slow ran %d times while its first run went on, want 1", n)
	}
	if code, body := healthz(t, s); code != http.StatusOK || body["status"] != "ok" || !slices.Contains(anyStrings(body["running"]), "slow") {
		t.Errorf("/healthz: %d %v, want 200, ok, slow running", code, body)
	}
	if v := metric(t, s, `mallet_run_in_progress{mallet_job="slow"}`); v != 1 {
		t.Errorf("run_in_progress{slow} = %v, want 1", v)
	}

	r.free("slow")
	waitMetric(t, s, `mallet_runs_total{mallet_job="slow",outcome="success"}`, 1)
	if v := metric(t, s, `mallet_rows_total{mallet_job="fast"}`); v < 2 {
		t.Errorf("rows_total{fast} = %v, want at least 2 (one row a run)", v)
	}
	if v := metric(t, s, `mallet_last_success_timestamp_seconds{mallet_job="slow"}`); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last_success{slow} = %v, want about now", v)
	}
	if v := metric(t, s, `mallet_runs_total{mallet_job="manual",outcome="success"}`); v != -1 {
		t.Errorf("the unscheduled job has runs: %v", v)
	}
	if r.count("manual") != 0 {
		t.Errorf("the unscheduled job ran")
	}
	for _, end := range l.lines("run end") {
		if end["job"] == "slow" && end["outcome"] == "success" && (end["run_id"] != "r1" || end["rows"] != 1.0) {
			t.Errorf("run end %v, want run_id and rows from the result", end)
		}
	}

	err, took := stop(t, s, 5*time.Second)
	r.markStopped()
	if err != nil {
		t.Errorf("Stop: %v, want nil (every run ends at once)", err)
	}
	if took > 2*time.Second {
		t.Errorf("Stop took %s with nothing slow running", took)
	}
	if code, body := healthz(t, s); code != http.StatusServiceUnavailable || body["status"] != "stopping" {
		t.Errorf("/healthz after Stop: %d %v, want 503 stopping", code, body)
	}
}

func anyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// Stop lets a run in progress finish within the grace period; past it, the
// run is cancelled, counted as cancelled, and Stop says so.
func TestStopGrace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		finish  time.Duration // after Stop began; 0: never
		grace   time.Duration
		wantErr bool
		outcome string
	}{
		{name: "finishes in grace", finish: 200 * time.Millisecond, grace: 5 * time.Second, outcome: "success"},
		{name: "cancelled after grace", grace: 300 * time.Millisecond, wantErr: true, outcome: "cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, t.TempDir(), job("slow", "@every 1s"))
			r := newRunner(t)
			s, l := start(t, path, fast, r, 1)
			r.waitStart(t, "slow")
			if tc.finish > 0 {
				time.AfterFunc(tc.finish, func() { r.free("slow") })
			}
			// /healthz turns 503 as soon as Stop begins.
			stopping := make(chan struct{})
			go func() {
				defer close(stopping)
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					if code, body := healthz(t, s); code == http.StatusServiceUnavailable {
						if body["status"] != "stopping" || !slices.Contains(anyStrings(body["running"]), "slow") {
							t.Errorf("/healthz while stopping: %v, want stopping with slow running", body)
						}
						return
					}
				}
				t.Errorf("/healthz never turned 503 during Stop")
			}()
			err, took := stop(t, s, tc.grace)
			r.markStopped()
			<-stopping
			if got := errors.Is(err, schedule.ErrCancelled); got != tc.wantErr {
				t.Errorf("Stop: %v; want ErrCancelled: %v", err, tc.wantErr)
			}
			if tc.wantErr && (took < tc.grace || took > tc.grace+2*time.Second) {
				t.Errorf("Stop took %s, want about the %s grace period", took, tc.grace)
			}
			ends := l.lines("run end")
			if len(ends) != 1 || ends[0]["outcome"] != tc.outcome {
				t.Fatalf("run end lines %v, want one with outcome %s", ends, tc.outcome)
			}
			if tc.wantErr && !strings.Contains(fmt.Sprint(ends[0]["error"]), "grace period") {
				t.Errorf("run end error %q, want the cause: the grace period", ends[0]["error"])
			}
			series := fmt.Sprintf(`mallet_runs_total{mallet_job="slow",outcome="%s"}`, tc.outcome)
			if v := metric(t, s, series); v != 1 {
				t.Errorf("%s = %v, want 1", series, v)
			}
			if v := metric(t, s, `mallet_run_in_progress{mallet_job="slow"}`); v != 0 {
				t.Errorf("run_in_progress{slow} = %v after Stop, want 0", v)
			}
		})
	}
}

// With one slot, a second job waits for it instead of running alongside;
// Stop releases the waiting runs without starting them.
func TestSlots(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, t.TempDir(), job("a", "@every 1s")+job("b", "@every 1s")+job("c", "@every 1s"))
	r := newRunner(t)
	s, l := start(t, path, fast, r, 1)
	r.waitStart(t, "")
	deadline := time.Now().Add(5 * time.Second)
	for len(l.lines("run waiting for a slot")) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d runs logged waiting for a slot, want 2", len(l.lines("run waiting for a slot")))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.Running(); len(got) != 3 {
		t.Errorf("running or waiting: %v, want all three", got)
	}
	err, _ := stop(t, s, 200*time.Millisecond)
	r.markStopped()
	if !errors.Is(err, schedule.ErrCancelled) || !strings.Contains(err.Error(), "1 run(s)") {
		t.Errorf("Stop: %v, want ErrCancelled for 1 run", err)
	}
	r.mu.Lock()
	if r.most != 1 || r.calls["a"]+r.calls["b"]+r.calls["c"] != 1 {
		t.Errorf("runs %v, %d at once; want one run and one at once", r.calls, r.most)
	}
	r.mu.Unlock()
	if n := len(l.lines("run not started: shutting down")); n != 2 {
		t.Errorf("%d runs not started on Stop, want the 2 waiting", n)
	}
	if got := s.Running(); len(got) != 0 {
		t.Errorf("running after Stop: %v", got)
	}
}

// A reload that does not load keeps the running schedule and says why; one
// that loads replaces it. Both are counted.
func TestReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeConfig(t, dir, job("tick", "@every 1s"))
	r := newRunner(t, "tick", "tock")
	s, l := start(t, path, fast, r, 2)
	waitMetric(t, s, `mallet_runs_total{mallet_job="tick",outcome="success"}`, 1)

	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(good), "schedule:", "schedul:", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	err = s.Reload()
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "schedul") {
		t.Errorf("Reload of a broken config: %v, want config.ErrInvalid naming the unknown key", err)
	}
	if got := l.lines("config reload failed: keeping the running config"); len(got) != 1 {
		t.Errorf("reload failed lines: %v, want 1", got)
	}
	n := r.count("tick")
	waitMetric(t, s, `mallet_runs_total{mallet_job="tick",outcome="success"}`, float64(n+1))
	if v := metric(t, s, `mallet_config_reloads_total{outcome="failed"}`); v != 1 {
		t.Errorf("config_reloads_total{failed} = %v, want 1", v)
	}

	// A config with nothing scheduled is refused like a broken one.
	writeConfig(t, dir, job("tick", ""))
	if err := s.Reload(); !errors.Is(err, schedule.ErrNothingScheduled) {
		t.Errorf("Reload with nothing scheduled: %v, want ErrNothingScheduled", err)
	}

	writeConfig(t, dir, job("tock", "@every 1s"))
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	n = r.count("tick")
	waitMetric(t, s, `mallet_runs_total{mallet_job="tock",outcome="success"}`, 2)
	if got := r.count("tick"); got > n+1 { // one turn may have been under way
		t.Errorf("tick ran %d more times after the reload removed it", got-n)
	}
	if v := metric(t, s, `mallet_config_reloads_total{outcome="success"}`); v != 1 {
		t.Errorf("config_reloads_total{success} = %v, want 1", v)
	}
	if v := metric(t, s, `mallet_config_reloads_total{outcome="failed"}`); v != 2 {
		t.Errorf("config_reloads_total{failed} = %v, want 2", v)
	}
	if err, _ := stop(t, s, 5*time.Second); err != nil {
		t.Errorf("Stop: %v", err)
	}
	r.markStopped()
}

// Start refuses a config that does not load or schedules nothing, and
// starts nothing then.
func TestStartErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		jobs string
		want error
	}{
		{"nothing scheduled", job("manual", ""), schedule.ErrNothingScheduled},
		{"bad schedule", job("j", "every day"), config.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, t.TempDir(), tc.jobs)
			r := newRunner(t)
			s, err := schedule.Start(t.Context(), schedule.Options{
				Load:   func() (*config.Config, error) { return config.Load(path) },
				Runner: r,
				Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if !errors.Is(err, tc.want) || s != nil {
				t.Errorf("Start: %v, %v; want nil and %v", s, err, tc.want)
			}
		})
	}
}
