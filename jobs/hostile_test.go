package jobs_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/extract"
	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/jobs"
)

// TestHostileQueries gives jobs query files that would write: validation
// refuses the ones it can see, the read-only transaction stops a stored
// function that writes, and MariaDB shows afterwards that no row changed.
func TestHostileQueries(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 2)
	victim := f.tenants[0]
	outfile := filepath.Join(os.TempDir(), f.prefix+"outfile.txt")
	t.Cleanup(func() { os.Remove(outfile) })
	for _, db := range f.tenants {
		f.exec(t, db, "CREATE TABLE audit (n INT)")
		f.exec(t, db, "CREATE FUNCTION f() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO audit VALUES (1); DELETE FROM logins; RETURN 1; END")
	}
	counts := func() string {
		var b strings.Builder
		for _, db := range f.tenants {
			for _, table := range []string{"logins", "accounts", "audit"} {
				fmt.Fprintf(&b, "%s.%s=%d ", db, table, len(f.query(t, db, "SELECT 1 FROM "+table, nil)))
			}
		}
		return b.String()
	}
	before := counts()
	for _, tt := range []struct {
		name, query string
		invalid     bool // refused by config validation
	}{
		{"drop after select", "SELECT * FROM logins; DROP TABLE logins", true},
		{"insert", "INSERT INTO audit VALUES (2)", true},
		{"insert select", "INSERT INTO audit SELECT 1 FROM logins", true},
		{"into outfile", "SELECT * FROM logins INTO OUTFILE '" + outfile + "'", true},
		{"for update", "SELECT * FROM logins FOR UPDATE", true},
		{"executable comment", "SELECT 1 /*!50000 , (SELECT f()) */", true},
		{"server file", "SELECT LOAD_FILE('/etc/passwd') AS f", true},
		{"writing function", "SELECT f() AS n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			qpath := filepath.Join(t.TempDir(), "q.sql")
			if err := os.WriteFile(qpath, []byte(tt.query), 0o600); err != nil {
				t.Fatal(err)
			}
			text := f.configText(fmt.Sprintf("  j:\n    source: crm_all\n    query: %s\n    on_tenant_error: skip\n    output: {to: %q, format: csv}\n", qpath, t.TempDir()), "")
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if tt.invalid {
				if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), extract.ErrNotReadOnly.Error()) {
					t.Fatalf("config: got %v, want it refused as %q", err, extract.ErrNotReadOnly)
				}
				return
			}
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			res, err := jobs.Run(t.Context(), cfg, "j", jobs.Options{Date: runDate})
			if !errors.Is(err, jobs.ErrFailed) {
				t.Fatalf("got %v, want ErrFailed", err)
			}
			for _, tr := range res.Tenants {
				if tr.Err == nil || !strings.Contains(tr.Error, tr.Database) || !strings.Contains(tr.Error, "READ ONLY") {
					t.Errorf("tenant %s: error %q, want one naming it and the READ ONLY transaction", tr.Database, tr.Error)
				}
				if tr.Attempts != 1 {
					t.Errorf("tenant %s ran %d times; a permanent error is not retried", tr.Database, tr.Attempts)
				}
			}
		})
	}
	if after := counts(); after != before {
		t.Errorf("rows changed:\nbefore %s\nafter  %s", before, after)
	}
	if _, err := os.Stat(outfile); err == nil {
		t.Errorf("%s was written", outfile)
	}
	if len(f.query(t, victim, "SELECT 1 FROM logins", nil)) == 0 {
		t.Error("logins is empty")
	}
}

// TestHostileDatabaseNames runs a job over tenant databases named "a`b"
// and "x; DROP DATABASE y", found by discovery and by a registry: the
// query runs in each, and the names are never executed as SQL.
func TestHostileDatabaseNames(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t)
	prefix := testdb.Prefix()
	canary := prefix + "y"
	names := []string{prefix + "a`b", prefix + "x; DROP DATABASE " + canary, prefix + "sp ace"}
	f := &fleet{db: db, prefix: prefix}
	for _, name := range append([]string{canary}, names...) {
		testdb.Create(t, db, name)
		f.exec(t, name, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40))")
		f.exec(t, name, "INSERT INTO t VALUES (1, ?), (2, 'two')", name)
	}
	reg := prefix + "reg"
	testdb.Create(t, db, reg)
	f.exec(t, reg, "CREATE TABLE tenants (server VARCHAR(10), `database` VARCHAR(64))")
	for _, name := range names {
		f.exec(t, reg, "INSERT INTO tenants VALUES ('db1', ?)", name)
	}
	qpath := filepath.Join(t.TempDir(), "q.sql")
	if err := os.WriteFile(qpath, []byte("SELECT id, v, :database AS param, DATABASE() AS current FROM t ORDER BY id"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sel := range []struct{ name, tenants string }{
		{"match", fmt.Sprintf("match: %q", "^"+prefix+"(a|x|sp)")},
		{"registry", fmt.Sprintf("registry: {server: db1, query: %q}", "SELECT server, `database` FROM "+reg+".tenants")},
		{"list", fmt.Sprintf("list: [%q, %q, %q]", names[0], names[1], names[2])},
	} {
		t.Run(sel.name, func(t *testing.T) {
			out := t.TempDir()
			text := fmt.Sprintf(`sources:
  s:
    servers: [{name: db1, dsn: %q}]
    tenants: {%s}
jobs:
  j:
    source: s
    query: %s
    output: {to: %q, format: csv}
`, testdb.DSN(), sel.tenants, qpath, out)
			cfg := writeConfig(t, text)
			res, err := jobs.Run(t.Context(), cfg, "j", jobs.Options{Date: runDate})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if got, want := len(res.Tenants), len(names); got != want {
				t.Fatalf("got %d tenants, want %d", got, want)
			}
			_, rows := readOutput(t, res, dirOpener(t, out))
			var want [][]*string
			sorted := slices.Sorted(slices.Values(names)) // the run's tenant order
			for _, name := range sorted {
				for _, r := range f.query(t, name, "SELECT id, v, DATABASE(), DATABASE() FROM t ORDER BY id", nil) {
					want = append(want, tenantRows(name, [][]*string{r})...)
				}
			}
			compareRows(t, res, rows, want, false)
			if n := len(f.query(t, canary, "SELECT 1 FROM t", nil)); n != 2 {
				t.Errorf("canary database %s has %d rows, want 2", canary, n)
			}
		})
	}
}

// TestSystemSchemasRefused names the server's own schemas as tenants
// through a registry and a match: a registry's are refused one by one
// (reported once across shards) while the real tenant still runs, and a
// match never considers them. No query runs in a system schema.
func TestSystemSchemasRefused(t *testing.T) {
	db := testdb.Open(t)
	prefix := testdb.Prefix()
	tenant, reg := prefix+"t1", prefix+"reg"
	f := &fleet{db: db, prefix: prefix}
	testdb.Create(t, db, tenant)
	testdb.Create(t, db, reg)
	system := []string{"information_schema", "mysql", "performance_schema", "sys"}
	f.exec(t, reg, "CREATE TABLE tenants (server VARCHAR(10), `database` VARCHAR(64))")
	for _, name := range append([]string{tenant}, system...) {
		f.exec(t, reg, "INSERT INTO tenants VALUES ('db1', ?)", name)
	}
	qpath := filepath.Join(t.TempDir(), "q.sql")
	if err := os.WriteFile(qpath, []byte("SELECT DATABASE() AS current"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sel := range []struct {
		name, tenants string
		refused       []string
	}{
		{"registry", fmt.Sprintf("registry: {server: db1, query: %q}", "SELECT server, `database` FROM "+reg+".tenants"), system},
		{"match", fmt.Sprintf("match: %q", "^("+strings.Join(system, "|")+"|"+tenant+")$"), nil},
	} {
		t.Run(sel.name, func(t *testing.T) {
			out := t.TempDir()
			cfg := writeConfig(t, fmt.Sprintf(`sources:
  s:
    servers: [{name: db1, dsn: %q}]
    tenants: {%s}
jobs:
  j:
    source: s
    query: %s
    on_tenant_error: skip
    output: {to: %q, format: csv}
`, testdb.DSN(), sel.tenants, qpath, out))
			refused := map[string]int{}
			var rows [][]*string
			for k := 1; k <= 2; k++ {
				res, err := jobs.Run(t.Context(), cfg, "j", jobs.Options{Date: runDate, Shard: jobs.Shard{K: k, N: 2}})
				if err != nil && !errors.Is(err, jobs.ErrPartial) && !(len(sel.refused) > 0 && errors.Is(err, jobs.ErrFailed)) {
					t.Fatalf("shard %d: %v", k, err)
				}
				for _, tr := range res.Tenants {
					if tr.Err == nil {
						continue
					}
					if !errors.Is(tr.Err, extract.ErrSystemDatabase) || !strings.Contains(tr.Error, "db1/"+tr.Database) {
						t.Errorf("tenant %s: error %q, want a system schema refusal naming db1/%s", tr.Database, tr.Error, tr.Database)
					}
					refused[tr.Database]++
				}
				if len(res.Objects) > 0 {
					_, r := readOutput(t, res, dirOpener(t, out))
					rows = append(rows, r...)
				}
			}
			for _, name := range system {
				want := 0
				if slices.Contains(sel.refused, name) {
					want = 1
				}
				if got := refused[name]; got != want {
					t.Errorf("%s refused %d times over 2 shards, want %d", name, got, want)
				}
			}
			if len(rows) != 1 || rows[0][1] == nil || *rows[0][1] != tenant || rows[0][2] == nil || *rows[0][2] != tenant {
				var got []string
				for _, r := range rows {
					got = append(got, rowText(r))
				}
				t.Errorf("published rows %q, want one, from %s", got, tenant)
			}
		})
	}
}
