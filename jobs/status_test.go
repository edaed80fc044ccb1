package jobs_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/jobs"
)

// TestTenantStatuses checks that each tenant's status says what happened to
// it, that only tenants that failed on their own count as failed, and that
// a failure of a server or of the output is reported as such.
func TestTenantStatuses(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t)
	p := testdb.Prefix()
	bad, good1, good2 := p+"a_bad", p+"b_good", p+"c_good"
	// The bad tenant's t fails its query a moment after it started
	// ("Subquery returns more than 1 row" after 0.3 s), so that under
	// concurrency 3 the good tenants have started by then.
	testdb.Create(t, db, bad)
	testdb.Exec(t, db, "CREATE VIEW `"+bad+"`.t AS SELECT IF(SLEEP(0.3) = 0, (SELECT 1 UNION SELECT 2), 0) AS id")
	for _, name := range []string{good1, good2} {
		testdb.Create(t, db, name)
		testdb.Exec(t, db, "CREATE TABLE `"+name+"`.t (id INT PRIMARY KEY)")
		testdb.Exec(t, db, "INSERT INTO `"+name+"`.t VALUES (1)")
	}
	dir := t.TempDir()
	queries := map[string]string{
		// The good tenants take 2 s, so that a failure or a timeout finds
		// them running.
		"slow.sql": "SELECT id, SLEEP(2) AS slept FROM t",
		"fast.sql": "SELECT id FROM t",
	}
	for name, sql := range queries {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sql), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(tenants, query, policy, extra string, concurrency int) string {
		return fmt.Sprintf(`sources:
  s:
    servers:
      - name: db1
        dsn: %q
      - name: down
        dsn: "root@tcp(127.0.0.1:1)/"
    tenants:
      %s
    concurrency: %d
jobs:
  j:
    source: s
    query: %s
    on_tenant_error: %s
    output: {to: "%s", format: csv}
%s`, testdb.DSN(), tenants, concurrency, query, policy, filepath.Join(dir, "out"), extra)
	}
	list := fmt.Sprintf("list: [db1/%s, db1/%s, db1/%s]", bad, good1, good2)
	goods := fmt.Sprintf("list: [db1/%s, db1/%s]", good1, good2)
	match := fmt.Sprintf(`match: "^%s[bc]_good$"`, p)
	tests := []struct {
		name     string
		config   string
		statuses map[string]string // database -> status
		sentinel error
		errWants []string
		servers  []string // servers reported as failed
	}{
		{"fail: the tenants running are cancelled", config(list, "slow.sql", "fail", "", 3),
			map[string]string{bad: jobs.TenantFailed, good1: jobs.TenantCancelled, good2: jobs.TenantCancelled},
			jobs.ErrFailed, []string{"1 of 3 tenants failed; 2 cancelled (on_tenant_error: fail); first: tenant db1/" + bad}, nil},
		{"fail: the tenants not started are not run", config(list, "slow.sql", "fail", "", 1),
			map[string]string{bad: jobs.TenantFailed, good1: jobs.TenantNotRun, good2: jobs.TenantNotRun},
			jobs.ErrFailed, []string{"1 of 3 tenants failed; 2 not run (on_tenant_error: fail)"}, nil},
		{"skip: the others are published", config(list, "fast.sql", "skip", "", 3),
			map[string]string{bad: jobs.TenantFailed, good1: jobs.TenantOK, good2: jobs.TenantOK},
			jobs.ErrPartial, []string{"1 of 3 tenants failed and were left out"}, nil},
		{"run_timeout: cancelled and not run, none failed", config(goods, "slow.sql", "fail", "    run_timeout: 1s\n", 1),
			map[string]string{good1: jobs.TenantCancelled, good2: jobs.TenantNotRun},
			jobs.ErrFailed, []string{"run_timeout 1s exceeded (1 of 2 tenants cancelled; 1 not run)"}, nil},
		{"skip: a server that cannot list its databases", config(match, "fast.sql", "skip", "", 3),
			map[string]string{good1: jobs.TenantOK, good2: jobs.TenantOK},
			jobs.ErrPartial, []string{"server down failed, its tenants are unknown: list databases: dial tcp 127.0.0.1:1"}, []string{"down"}},
		{"fail: a server that cannot list its databases", config(match, "fast.sql", "fail", "", 3),
			map[string]string{good1: jobs.TenantNotRun, good2: jobs.TenantNotRun},
			jobs.ErrFailed, []string{"job j: server down failed, its tenants are unknown"}, []string{"down"}},
		{"an output that cannot be opened", strings.Replace(config(goods, "fast.sql", "fail", "", 3), filepath.Join(dir, "out"), filepath.Join(dir, "file", "out"), 1),
			map[string]string{good1: jobs.TenantNotRun, good2: jobs.TenantNotRun},
			jobs.ErrFailed, []string{"job j: output " + filepath.Join(dir, "file", "out")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfigIn(t, dir, tt.config)
			res, err := jobs.Run(t.Context(), cfg, "j", jobs.Options{Date: runDate, Retries: -1})
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("got %v, want %v", err, tt.sentinel)
			}
			for _, want := range tt.errWants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			got := map[string]string{}
			for _, tr := range res.Tenants {
				got[tr.Database] = tr.Status
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.statuses) {
				t.Errorf("statuses: got %v, want %v", got, tt.statuses)
			}
			if want := strings.Count(fmt.Sprint(tt.statuses), jobs.TenantFailed); res.Failed != want {
				t.Errorf("Failed: got %d, want %d", res.Failed, want)
			}
			var servers []string
			for _, s := range res.Servers {
				servers = append(servers, s.Server)
			}
			if fmt.Sprint(servers) != fmt.Sprint(tt.servers) {
				t.Errorf("servers failed: got %v, want %v", servers, tt.servers)
			}
		})
	}
}
