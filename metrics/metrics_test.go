package metrics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/jobs"
)

func TestOutcomeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, Success},
		{fmt.Errorf("job x: 1 of 3 tenants failed: %w", jobs.ErrPartial), Partial},
		{fmt.Errorf("job x: every tenant failed: %w", jobs.ErrFailed), Failed},
		{fmt.Errorf("job x: lease held by another run: %w", jobs.ErrLocked), Locked},
		{fmt.Errorf("job x: %w: %w", fmt.Errorf("shutdown: %w", context.Canceled), jobs.ErrFailed), Cancelled},
		{fmt.Errorf("job x: %w: glue: get table: denied", jobs.ErrCatalog), Success},
		{fmt.Errorf("job x: %w: glue: %w", jobs.ErrCatalog, context.Canceled), Success},
		{fmt.Errorf("%w; %w", fmt.Errorf("job x: skipped: %w", jobs.ErrPartial), jobs.ErrCatalog), Partial},
		{fmt.Errorf("%w; %w", fmt.Errorf("window 2: %w", jobs.ErrFailed), jobs.ErrCatalog), Failed},
	} {
		if got := OutcomeOf(tc.err); got != tc.want {
			t.Errorf("OutcomeOf(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestObserveAndServe(t *testing.T) {
	m := New()
	m.Init("idle")
	end := time.Unix(1_800_000_000, 0)
	m.Observe(Run{Job: "a", Outcome: Success, Rows: 10, Bytes: 100, Duration: 2 * time.Second, End: end})
	m.Observe(Run{Job: "a", Outcome: Partial, Rows: 5, Bytes: 50, TenantsFailed: 2, Duration: time.Second, End: end.Add(time.Hour)})
	m.Skip("a")
	m.Reload(fmt.Errorf("bad"))
	m.Observe(Run{Job: "b", Outcome: Success, End: end, Steps: []jobs.Step{
		{Step: jobs.StepGlue, Outcome: "unchanged"}, {Step: jobs.StepQuickSight, Outcome: jobs.StepFailed}}})
	m.Observe(Run{Job: "b", Outcome: Success, End: end, Steps: []jobs.Step{
		{Step: jobs.StepGlue, Outcome: "unchanged"}, {Step: jobs.StepQuickSight, Outcome: jobs.StepStarted}}})

	rec := httptest.NewRecorder()
	m.Handler(slog.New(slog.DiscardHandler)).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`mallet_runs_total{mallet_job="a",outcome="success"} 1`,
		`mallet_runs_total{mallet_job="a",outcome="partial"} 1`,
		`mallet_runs_total{mallet_job="a",outcome="skipped"} 1`,
		`mallet_runs_total{mallet_job="idle",outcome="failed"} 0`,
		`mallet_rows_total{mallet_job="a"} 15`,
		`mallet_bytes_total{mallet_job="a"} 150`,
		`mallet_tenants_failed_total{mallet_job="a"} 2`,
		`mallet_run_duration_seconds_count{mallet_job="a"} 2`,
		`mallet_last_success_timestamp_seconds{mallet_job="a"} 1.8e+09`,
		`mallet_config_reloads_total{outcome="failed"} 1`,
		`mallet_post_commit_steps_total{mallet_job="b",outcome="unchanged",step="glue"} 2`,
		`mallet_post_commit_steps_total{mallet_job="b",outcome="failed",step="quicksight"} 1`,
		`mallet_post_commit_steps_total{mallet_job="b",outcome="started",step="quicksight"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, `mallet_last_success_timestamp_seconds{mallet_job="idle"}`) {
		t.Errorf("/metrics has a last-success time for a job that never ran")
	}
}

// The run-end log line uses the metric names without mallet_ and _total.
func TestLogAttrsMatchMetricNames(t *testing.T) {
	r := Run{Job: "a", Outcome: Success, Rows: 1, Bytes: 2, TenantsFailed: 0, Duration: time.Second, End: time.Unix(5, 0)}
	attrs := r.LogAttrs()
	keys := map[string]any{}
	for i := 0; i+1 < len(attrs); i += 2 {
		keys[attrs[i].(string)] = attrs[i+1]
	}
	for _, k := range []string{"job", "outcome", "rows", "bytes", "tenants_failed", "run_duration_seconds", "last_success_timestamp_seconds"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("log attrs lack %q: %v", k, attrs)
		}
	}
	if got := keys["last_success_timestamp_seconds"]; got != int64(5) {
		t.Errorf("last_success_timestamp_seconds = %v, want 5", got)
	}
	r.Steps = []jobs.Step{{Step: jobs.StepGlue, Outcome: "updated"}}
	attrs = r.LogAttrs()
	if got := fmt.Sprint(attrs[len(attrs)-2:]); got != "[post_commit_steps [glue:updated]]" {
		t.Errorf("post-commit steps logged as %s, want [post_commit_steps [glue:updated]]", got)
	}
}
