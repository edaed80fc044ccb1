package jobs_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mallet-etl/mallet/catalog/gluetest"
	"github.com/mallet-etl/mallet/catalog/quicksighttest"
	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/load/s3test"
)

const qsAccount = "123456789012"

// catalogRig is a fleet publishing to a fake S3, with a fake Glue and a
// fake QuickSight holding the dataset "logins".
type catalogRig struct {
	f    *fleet
	s3   *s3test.Server
	glue *gluetest.Server
	qs   *quicksighttest.Server
}

func newCatalogRig(t *testing.T) *catalogRig {
	t.Helper()
	rig := &catalogRig{f: sharedFleet(t, 2)}
	s3, err := s3test.NewServer("bucket")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s3.Close)
	s3test.Setenv(t, s3.URL)
	rig.s3 = s3
	rig.glue = gluetest.Start(t)
	rig.qs = quicksighttest.Start(t)
	rig.qs.AddDataset(qsAccount, "logins", quicksighttest.Outcome{Rows: 42})
	return rig
}

// config writes a config whose job logins has format, lists datasets and
// waits for them when wait is set.
func (rig *catalogRig) config(t *testing.T, format, wait string, datasets ...string) *config.Config {
	t.Helper()
	job := fmt.Sprintf(`
  logins:
    source: crm_all
    query: {{queries}}/daily_logins.sql
    output: {to: "s3://bucket/out", format: %s}
    quicksight: {datasets: [%s]}
`, format, strings.Join(datasets, ", "))
	text := rig.f.configText(job, "")
	top := "athena: {database: analytics, glue: true, first_date: 2026-11-01}\nquicksight: {account_id: \"" + qsAccount + "\"" + wait + "}\n"
	return writeConfig(t, strings.Replace(text, "sources:\n", top+"sources:\n", 1))
}

func stepsOf(res *jobs.Result) string {
	var out []string
	for _, s := range res.Steps {
		out = append(out, s.Step+" "+s.Target+" "+s.Outcome)
	}
	return strings.Join(out, "; ")
}

// TestAfterCommit: a run that published keeps the Glue table and the
// SPICE dataset in step; an ordinary second run makes one GetTable and
// one CreateIngestion; a failure of either is reported (ErrCatalog), never
// unpublishes, and the next run does the work.
func TestAfterCommit(t *testing.T) {
	rig := newCatalogRig(t)
	cfg := rig.config(t, "parquet", ", wait: 10s", "logins")

	res, err := jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: runDate})
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	if got, want := stepsOf(res), "glue analytics.logins created; quicksight logins completed"; got != want {
		t.Errorf("first run's steps: %s, want %s", got, want)
	}
	table, ok := rig.glue.Table("analytics", "logins")
	if !ok || table.StorageDescriptor.Location != "s3://bucket/out/logins/symlinks/" || table.Parameters["projection.dt.range"] != "2026-11-01,NOW+1DAYS" {
		t.Errorf("glue table %+v, want logins over s3://bucket/out/logins/symlinks/ from 2026-11-25", table)
	}
	ing := rig.qs.Ingestions(qsAccount, "logins")
	if len(ing) != 1 || ing[0].ID != "mallet-"+res.RunID || ing[0].Type != "FULL_REFRESH" {
		t.Errorf("ingestions %+v, want one FULL_REFRESH named after run %s", ing, res.RunID)
	}

	// An ordinary run: the catalog is read once and left alone, one
	// ingestion is started and described once.
	glueBefore, qsBefore, s3Before := rig.glue.AllCalls(), rig.qs.AllCalls(), rig.s3.AllRequests()
	res, err = jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: runDate})
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if got, want := stepsOf(res), "glue analytics.logins unchanged; quicksight logins completed"; got != want {
		t.Errorf("second run's steps: %s, want %s", got, want)
	}
	glueCalls, qsCalls := diffCalls(glueBefore, rig.glue.AllCalls()), diffCalls(qsBefore, rig.qs.AllCalls())
	if want := map[string]int{"GetTable": 1}; !maps.Equal(glueCalls, want) {
		t.Errorf("an ordinary run made Glue calls %v, want %v", glueCalls, want)
	}
	if want := map[string]int{"CreateIngestion": 1, "DescribeIngestion": 1}; !maps.Equal(qsCalls, want) {
		t.Errorf("an ordinary run made QuickSight calls %v, want %v", qsCalls, want)
	}
	t.Logf("an ordinary run: glue %v, quicksight %v, s3 %v", glueCalls, qsCalls, diffCalls(s3Before, rig.s3.AllRequests()))

	// Glue refuses: the run published all the same, says so (ErrCatalog,
	// not ErrFailed), and still refreshes the dataset.
	rig.glue.Fail("GetTable", gluetest.Fault{Code: "AccessDeniedException"})
	res, err = jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: runDate})
	if !errors.Is(err, jobs.ErrCatalog) || errors.Is(err, jobs.ErrFailed) || !strings.Contains(err.Error(), "AccessDeniedException") {
		t.Fatalf("got %v, want ErrCatalog naming AccessDeniedException", err)
	}
	if got, want := stepsOf(res), "glue analytics.logins failed; quicksight logins completed"; got != want {
		t.Errorf("steps: %s, want %s", got, want)
	}
	if len(res.Objects) == 0 || res.Steps[0].Error == "" {
		t.Errorf("result %+v: want the objects published and the glue error reported", res)
	}
	st, err := jobs.OpenStore(t.Context(), "s3://bucket/out", config.S3{})
	if err != nil {
		t.Fatal(err)
	}
	if _, runs := published(t, st, "logins", "2026-11-25"); !runs[res.RunID] {
		t.Errorf("partition lists runs %v, want the run %s whose catalog step failed", runs, res.RunID)
	}

	// A column added under allow-add reaches the catalog on the next run.
	tb, _ := rig.glue.Table("analytics", "logins")
	tb.StorageDescriptor.Columns = tb.StorageDescriptor.Columns[:len(tb.StorageDescriptor.Columns)-1]
	rig.glue.PutTable("analytics", tb)
	res, err = jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: runDate})
	if err != nil {
		t.Fatalf("run after a column went missing from the catalog: %v", err)
	}
	if !strings.Contains(res.Steps[0].Detail, "columns added: ") || res.Steps[0].Outcome != "updated" {
		t.Errorf("glue step %+v, want updated with the column added", res.Steps[0])
	}
}

func diffCalls(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func TestAfterCommitFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault test that fails Glue and QuickSight calls one run at a time: not in -short")
	}
	tests := []struct {
		name     string
		format   string
		wait     string
		datasets []string
		setup    func(rig *catalogRig)
		want     string // in the error
		steps    string
	}{
		{"dataset not found", "parquet", "", []string{"nope", "logins"}, nil,
			"ResourceNotFoundException", "glue analytics.logins created; quicksight nope failed; quicksight logins started"},
		{"ingestion failed", "parquet", ", wait: 10s", []string{"logins"}, func(rig *catalogRig) {
			rig.qs.AddDataset(qsAccount, "logins", quicksighttest.Outcome{Status: "FAILED", ErrorType: "SOURCE_API_LIMIT_EXCEEDED_FAILURE", ErrorMessage: "slow down"})
		}, "FAILED SOURCE_API_LIMIT_EXCEEDED_FAILURE: slow down", "glue analytics.logins created; quicksight logins failed"},
		{"still running after the wait", "parquet", ", wait: 1ms", []string{"logins"}, func(rig *catalogRig) {
			rig.qs.AddDataset(qsAccount, "logins", quicksighttest.Outcome{Status: "RUNNING"})
		}, "it goes on in QuickSight", "glue analytics.logins created; quicksight logins failed"},
		{"csv view not created yet", "csv", "", nil, nil,
			"Glue cannot create Athena views", "glue analytics.logins_raw failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rig := newCatalogRig(t)
			if tt.setup != nil {
				tt.setup(rig)
			}
			cfg := rig.config(t, tt.format, tt.wait, tt.datasets...)
			res, err := jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: runDate})
			if !errors.Is(err, jobs.ErrCatalog) || errors.Is(err, jobs.ErrFailed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrCatalog saying %q", err, tt.want)
			}
			if got := stepsOf(res); got != tt.steps {
				t.Errorf("steps: %s, want %s", got, tt.steps)
			}
			if len(res.Objects) == 0 {
				t.Error("nothing published")
			}
		})
	}
}

// A run that publishes nothing touches neither Glue nor QuickSight.
func TestAfterCommitNotWhenNothingPublished(t *testing.T) {
	rig := newCatalogRig(t)
	bad := filepath.Join(t.TempDir(), "bad.sql")
	if err := os.WriteFile(bad, []byte("SELECT no_such_column FROM accounts"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(rig.f.configText(`
  logins:
    source: crm_all
    query: `+bad+`
    output: {to: "s3://bucket/out", format: parquet}
    quicksight: {datasets: [logins]}
`, ""), "sources:\n", "athena: {glue: true}\nquicksight: {account_id: \""+qsAccount+"\"}\nsources:\n", 1)
	cfg := writeConfig(t, text)
	res, err := jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: runDate})
	if !errors.Is(err, jobs.ErrFailed) || errors.Is(err, jobs.ErrCatalog) {
		t.Fatalf("got %v, want ErrFailed only", err)
	}
	if len(res.Steps) != 0 || len(rig.glue.AllCalls()) != 0 || len(rig.qs.AllCalls()) != 0 {
		t.Errorf("steps %+v, glue calls %v, quicksight calls %v; want none", res.Steps, rig.glue.AllCalls(), rig.qs.AllCalls())
	}
}
