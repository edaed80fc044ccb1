package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/jobs"
)

// A run with one listed tenant that does not exist, under skip: the report
// names it with the driver's reason and no password, the good tenant's file
// is listed with its size and checksum, and the exit code is 3.
func TestRunReportFailedTenant(t *testing.T) {
	bin := malletBinary(t, "")
	db := testdb.Open(t)
	prefix := testdb.Prefix()
	good, missing := prefix+"good", prefix+"missing"
	testdb.Create(t, db, good)
	testdb.Exec(t, db, "CREATE TABLE `"+good+"`.t (id INT PRIMARY KEY, name VARCHAR(20))")
	testdb.Exec(t, db, "INSERT INTO `"+good+"`.t VALUES (1, 'a'), (2, 'b'), (3, NULL)")

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "q.sql"), []byte("SELECT id, name FROM t ORDER BY id"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := `sources:
  s:
    servers:
      - name: db1
        dsn: "${TEST_DSN}"
    tenants:
      list: [` + good + `, ` + missing + `]
jobs:
  j:
    source: s
    query: q.sql
    on_tenant_error: skip
    output:
      to: out
      format: csv
`
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "job", "j", "--date", "2026-11-25", "--report", "report.json")
	cmd.Dir = dir
	cmd.Env = cleanEnv("TEST_DSN=" + testdb.DSN())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != exitPartial {
		t.Fatalf("exit code %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", code, err, exitPartial, stdout.String(), stderr.String())
	}

	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep runReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	check("job", rep.Job, "j")
	check("run_date", rep.RunDate, "2026-11-25")
	check("exit_code", rep.ExitCode, exitPartial)
	check("run_id set", rep.RunID != "", true)
	check("started set", !rep.Started.IsZero(), true)
	check("error mentions the skip", strings.Contains(rep.Error, "1 of 2 tenants failed"), true)
	if len(rep.Tenants) != 2 {
		t.Fatalf("tenants: got %d, want 2: %+v", len(rep.Tenants), rep.Tenants)
	}
	g, m := rep.Tenants[0], rep.Tenants[1]
	if g.Database != good {
		g, m = m, g
	}
	check("good server", g.Server, "db1")
	check("good database", g.Database, good)
	check("good rows", g.Rows, int64(3))
	check("good bytes > 0", g.Bytes > 0, true)
	check("good attempts", g.Attempts, 1)
	check("good error", g.Error, "")
	check("good status", g.Status, "ok")
	check("missing status", m.Status, "failed")
	check("totals.tenants_cancelled", rep.Totals.TenantsCancelled, 0)
	check("missing database", m.Database, missing)
	check("missing rows", m.Rows, int64(0))
	for _, s := range []string{"db1", missing, "Unknown database"} {
		check("missing error names "+s, strings.Contains(m.Error, s), true)
	}
	check("totals.tenants", rep.Totals.Tenants, 2)
	check("totals.tenants_failed", rep.Totals.TenantsFailed, 1)
	check("totals.rows", rep.Totals.Rows, int64(3))
	check("totals.objects", rep.Totals.Objects, 1)
	if len(rep.Objects) != 1 {
		t.Fatalf("objects: got %d, want 1", len(rep.Objects))
	}
	o := rep.Objects[0]
	check("object rows", o.Rows, int64(3))
	check("totals.object_bytes", rep.Totals.ObjectBytes, o.Bytes)
	p, ok := strings.CutPrefix(o.URI, "file://")
	check("object uri is a file", ok, true)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	check("object bytes", o.Bytes, int64(len(data)))
	check("object sha256", o.SHA256, hex.EncodeToString(sum[:]))
	check("object key in uri", strings.HasSuffix(o.URI, o.Key), true)
	check("file content", string(data), "server,database,id,name\ndb1,"+good+",1,a\ndb1,"+good+",2,b\ndb1,"+good+",3,\n")

	// The human summary: an aligned table and the failure in full.
	for _, s := range []string{"SERVER", "FAILED", missing, "Unknown database", "written:"} {
		check("summary shows "+s, strings.Contains(stdout.String(), s), true)
	}
}

// TestSummaryStatuses checks what the end of a run says about its tenants:
// failures counted apart from the tenants they cancelled, a server or an
// output failure said as such, never as a tenant.
func TestSummaryStatuses(t *testing.T) {
	tenant := func(db, status, err string) *jobs.TenantResult {
		tr := &jobs.TenantResult{Server: "db1", Database: db, Status: status, Error: err}
		if status != jobs.TenantNotRun && status != jobs.TenantSkipped {
			tr.Attempts = 1
		}
		return tr
	}
	tests := []struct {
		name      string
		res       jobs.Result
		want, not []string
	}{
		{"one failed, two cancelled", jobs.Result{Failed: 1, Err: "job j: 1 of 3 tenants failed; 2 cancelled (on_tenant_error: fail)", Tenants: []*jobs.TenantResult{
			tenant("a", jobs.TenantCancelled, "tenant db1/a: cancelled: tenant db1/b failed: context canceled"),
			tenant("b", jobs.TenantFailed, "tenant db1/b: query: Error 1146"),
			tenant("c", jobs.TenantCancelled, "tenant db1/c: cancelled: tenant db1/b failed: context canceled"),
		}}, []string{"1 failed, 2 cancelled", "1 tenant(s) failed:\n  db1/b: tenant db1/b: query: Error 1146", "2 tenant(s) cancelled: db1/a, db1/c", "cancelled\n", "FAILED\n"},
			[]string{"3 failed", "db1/a: tenant db1/a"}},
		{"server failure", jobs.Result{Err: "job j: server db1 failed, its tenants are unknown: list databases: Error 1045",
			Servers: []jobs.ServerFailure{{Server: "db1", Error: "list databases: Error 1045"}}},
			[]string{"server db1 failed, its tenants are unknown: list databases: Error 1045"},
			[]string{"SERVER", "db1/*", "tenant(s) failed", "no tenants"}},
		{"output failure", jobs.Result{Err: "job j: output x: mkdir x: not a directory", Tenants: []*jobs.TenantResult{
			tenant("a", jobs.TenantNotRun, ""), tenant("b", jobs.TenantNotRun, ""), tenant("c", jobs.TenantNotRun, ""),
		}}, []string{"3 tenant(s) found, none run", "error: job j: output x"},
			[]string{"SERVER", " ok", "failed"}},
		{"every window committed", jobs.Result{Tenants: []*jobs.TenantResult{tenant("a", jobs.TenantSkipped, "")}},
			[]string{"1 of 1 tenants skipped: every window is committed already (--force runs them again)"},
			[]string{"SERVER", "no rows"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printSummary(&b, &tt.res)
			for _, want := range tt.want {
				if !strings.Contains(b.String(), want) {
					t.Errorf("summary does not say %q:\n%s", want, b.String())
				}
			}
			for _, not := range tt.not {
				if strings.Contains(b.String(), not) {
					t.Errorf("summary says %q:\n%s", not, b.String())
				}
			}
		})
	}
}
