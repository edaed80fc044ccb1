package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/catalog/gluetest"
	"github.com/mallet-etl/mallet/catalog/quicksighttest"
	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/load/s3test"
)

// TestRunExitCatalog runs the binary against fake S3, Glue and QuickSight:
// when the catalog sync after the commit is refused, the run still
// publishes, exits 5, and says so in the summary and the report; the next
// run catches up and exits 0.
func TestRunExitCatalog(t *testing.T) {
	bin := malletBinary(t, "nodemo")
	db := testdb.Open(t)
	tenant := testdb.Prefix() + "t1"
	testdb.Create(t, db, tenant)
	testdb.Exec(t, db, "CREATE TABLE `"+tenant+"`.t (id INT PRIMARY KEY, name VARCHAR(20))")
	testdb.Exec(t, db, "INSERT INTO `"+tenant+"`.t VALUES (1, 'a'), (2, 'b')")
	s3test.Start(t, "bucket")
	glue := gluetest.Start(t)
	qs := quicksighttest.Start(t)
	qs.AddDataset("123456789012", "ds-1", quicksighttest.Outcome{Rows: 2})

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "q.sql"), []byte("SELECT id, name FROM t ORDER BY id"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := `athena: {database: analytics, glue: true}
quicksight: {account_id: "123456789012", wait: 30s}
sources:
  s:
    servers:
      - name: db1
        dsn: "${TEST_DSN}"
    tenants:
      list: [` + tenant + `]
jobs:
  j:
    source: s
    query: q.sql
    output: {to: "s3://bucket/out", format: parquet}
    quicksight: {datasets: [ds-1]}
`
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() (int, runReport, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "run", "job", "j", "--date", "2026-11-25", "--report", "report.json")
		cmd.Dir = dir
		cmd.Env = cleanEnv("TEST_DSN=" + testdb.DSN())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Run()
		b, err := os.ReadFile(filepath.Join(dir, "report.json"))
		if err != nil {
			t.Fatalf("%v\nstderr:\n%s", err, stderr.String())
		}
		var rep runReport
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), rep, stdout.String() + stderr.String()
	}

	glue.Fail("GetTable", gluetest.Fault{Code: "AccessDeniedException"})
	code, rep, out := run()
	if code != exitCatalog || rep.ExitCode != exitCatalog {
		t.Fatalf("exit code %d (report %d), want %d\n%s", code, rep.ExitCode, exitCatalog, out)
	}
	if len(rep.Steps) != 2 || rep.Steps[0].Step != "glue" || rep.Steps[0].Outcome != "failed" ||
		!strings.Contains(rep.Steps[0].Error, "AccessDeniedException") || rep.Steps[1].Outcome != "completed" {
		t.Errorf("report steps %+v, want glue failed (access denied), quicksight completed", rep.Steps)
	}
	if rep.Totals.Rows != 2 || rep.Totals.Objects != 1 {
		t.Errorf("report totals %+v, want 2 rows in 1 object published", rep.Totals)
	}
	for _, want := range []string{"after the commit:", "glue", "AccessDeniedException", "published, but the catalog or a dashboard refresh failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, ok := glue.Table("analytics", "j"); ok {
		t.Error("the table exists although Glue refused")
	}

	code, rep, out = run()
	if code != exitOK {
		t.Fatalf("next run: exit code %d, want 0\n%s", code, out)
	}
	if len(rep.Steps) != 2 || rep.Steps[0].Outcome != "created" || rep.Steps[1].Outcome != "completed" {
		t.Errorf("next run's steps %+v, want glue created, quicksight completed", rep.Steps)
	}
	if n := len(qs.Ingestions("123456789012", "ds-1")); n != 2 {
		t.Errorf("%d ingestions, want one per run (2)", n)
	}
}

// TestScheduleKeepsRunningWhenCatalogFails: under schedule, a job whose
// Glue sync fails on every run goes on running and publishing; /metrics
// counts the failed step apart from the runs, which are successes.
func TestScheduleKeepsRunningWhenCatalogFails(t *testing.T) {
	bin := malletBinary(t, "nodemo")
	prefix := schedFleet(t, 1)
	s3test.Start(t, "bucket")
	glue := gluetest.Start(t)
	faults := make([]gluetest.Fault, 1000)
	for i := range faults {
		faults[i].Code = "AccessDeniedException"
	}
	glue.Fail("GetTable", faults...)
	qs := quicksighttest.Start(t)
	qs.AddDataset("123456789012", "ds-1", quicksighttest.Outcome{})
	dir := t.TempDir()
	cfg := schedConfig(t, dir, prefix, `  fast:
    source: crm
    query: fast.sql
    schedule: "@every 1s"
    athena: {glue: true}
    quicksight: {datasets: [ds-1]}
    output:
      to: "s3://bucket/out"
`, map[string]string{"fast.sql": fastSQL})
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text = []byte(strings.Replace(string(text), "sources:\n", "quicksight: {account_id: \"123456789012\"}\nsources:\n", 1))
	if err := os.WriteFile(cfg, text, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startMallet(t, bin, "schedule", "--config", cfg, "--listen", "127.0.0.1:0", "--log-format", "json", "--shutdown-timeout", "5s")
	addr := listenAddr(p)
	waitMetric(t, p, addr, `mallet_post_commit_steps_total{mallet_job="fast",outcome="failed",step="glue"}`, 2, 30*time.Second)
	waitMetric(t, p, addr, `mallet_post_commit_steps_total{mallet_job="fast",outcome="started",step="quicksight"}`, 2, 5*time.Second)
	if v := metric(t, addr, `mallet_runs_total{mallet_job="fast",outcome="success"}`); v < 2 {
		t.Errorf("runs_total{success} = %v, want at least 2: the data was published", v)
	}
	if v := metric(t, addr, `mallet_runs_total{mallet_job="fast",outcome="failed"}`); v > 0 {
		t.Errorf("runs_total{failed} = %v, want 0", v)
	}
	p.waitLog(0, time.Second, "a run end naming the step", func(m map[string]any) bool {
		return m["msg"] == "run end" && strings.Contains(fmt.Sprint(m["post_commit_steps"]), "glue:failed")
	})
	if code, _ := p.exit(syscall.SIGTERM, 10*time.Second); code != exitOK {
		t.Errorf("schedule exit code %d, want 0", code)
	}
}
