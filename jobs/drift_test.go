package jobs_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/publish"
	"github.com/mallet-etl/mallet/schema"
)

func TestDriftPolicy(t *testing.T) {
	a, b, c := schema.Tenant("a"), schema.Tenant("b"), schema.Tenant("c")
	tests := []struct {
		name      string
		policy    string
		prev, cur schema.Schema
		added     []string
		err       string
	}{
		{"first run", config.DriftFail, nil, schema.Schema{a}, nil, ""},
		{"equal", config.DriftFail, schema.Schema{a, b}, schema.Schema{a, b}, nil, ""},
		{"added, fail", config.DriftFail, schema.Schema{a}, schema.Schema{a, b}, nil, `column "b" (string) added (the change only appends columns: set schema_drift: allow-add`},
		{"added, allow-add", config.DriftAllowAdd, schema.Schema{a}, schema.Schema{a, b, c}, []string{"b", "c"}, ""},
		{"inserted, allow-add", config.DriftAllowAdd, schema.Schema{a, b}, schema.Schema{a, c, b}, nil, `column "b" moved from position 2 to 3; column "c" (string) added`},
		{"removed, allow-add", config.DriftAllowAdd, schema.Schema{a, b}, schema.Schema{a}, nil, `column "b" (string) removed`},
		{"retyped, allow-add", config.DriftAllowAdd, schema.Schema{a, b}, schema.Schema{a, {Name: "b", Kind: schema.Int64}}, nil, `column "b" changed from string to bigint`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			added, err := jobs.Drift(tt.policy, tt.prev, tt.cur)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
			} else if !errors.Is(err, jobs.ErrSchemaDrift) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %v, want ErrSchemaDrift containing %q", err, tt.err)
			}
			if got, want := strings.Join(added.Names(), ","), strings.Join(tt.added, ","); got != want {
				t.Errorf("added %q, want %q", got, want)
			}
		})
	}
}

// TestDriftTenantGainsColumn runs a job, migrates the tenants (ALTER TABLE
// adds a column that SELECT * returns), and runs it again under each policy.
func TestDriftTenantGainsColumn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy string
		alter  string
		err    string // "" when the second run publishes
	}{
		{"fail", "fail", "ALTER TABLE accounts ADD COLUMN plan VARCHAR(16) NULL", `column "plan" (string) added`},
		{"allow-add", "allow-add", "ALTER TABLE accounts ADD COLUMN plan VARCHAR(16) NULL", ""},
		{"allow-add, column in the middle", "allow-add", "ALTER TABLE accounts ADD COLUMN plan VARCHAR(16) NULL AFTER login_code", `column "plan" (string) added`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(t, 2)
			out := t.TempDir()
			qdir := t.TempDir()
			if err := os.WriteFile(filepath.Join(qdir, "accounts.sql"), []byte("SELECT * FROM accounts ORDER BY id"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := writeConfig(t, f.configText(fmt.Sprintf(`
  accounts:
    source: crm_all
    query: %s
    schema_drift: %s
    output: {to: "{{out}}", format: parquet}
`, filepath.Join(qdir, "accounts.sql"), tt.policy), out))
			day1 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
			res1, err := jobs.Run(t.Context(), cfg, "accounts", jobs.Options{Date: day1})
			if err != nil {
				t.Fatalf("first run: %v", err)
			}
			for _, db := range f.tenants {
				testdb.Exec(t, f.db, "USE `"+db+"`; "+tt.alter+"; UPDATE accounts SET plan = 'gold' WHERE id = 1")
			}
			res2, err := jobs.Run(t.Context(), cfg, "accounts", jobs.Options{Date: runDate})
			latest, lerr := publish.LatestRun(t.Context(), mustDir(t, out), "accounts")
			if lerr != nil {
				t.Fatal(lerr)
			}
			if tt.err != "" {
				if !errors.Is(err, jobs.ErrSchemaDrift) || !errors.Is(err, jobs.ErrFailed) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("second run: got %v, want ErrSchemaDrift and ErrFailed containing %q", err, tt.err)
				}
				if len(res2.Objects) != 0 {
					t.Errorf("second run published %d objects, want none", len(res2.Objects))
				}
				if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(publish.PartitionPrefix("accounts", "2026-11-25")))); !os.IsNotExist(err) {
					t.Errorf("partition of the refused run exists (stat: %v)", err)
				}
				if latest.RunID != res1.RunID {
					t.Errorf("latest run is %s, want the first run %s", latest.RunID, res1.RunID)
				}
				return
			}
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if got, want := strings.Join(res2.SchemaAdded.Names(), ","), "plan"; got != want {
				t.Errorf("schema added %q, want %q", got, want)
			}
			header, rows := readOutput(t, res2, dirOpener(t, out))
			if got, want := header[len(header)-1], "plan"; got != want {
				t.Errorf("last column %q, want %q", got, want)
			}
			gold := 0
			for _, r := range rows {
				if v := r[len(r)-1]; v != nil && *v == "gold" {
					gold++
				}
			}
			if gold != len(f.tenants) {
				t.Errorf("got %d rows with plan gold, want %d", gold, len(f.tenants))
			}
			if latest.RunID != res2.RunID || latest.Schema.Index("plan") != len(latest.Schema)-1 {
				t.Errorf("latest run %s schema %v, want run %s ending in plan", latest.RunID, latest.Schema.Names(), res2.RunID)
			}
			// The DDL follows the newest schema, and the first run's files
			// (without the column) stay in their own partition.
			tb, _, err := jobs.AthenaTable(t.Context(), cfg, "accounts")
			if err != nil {
				t.Fatal(err)
			}
			if got := tb.Schema[len(tb.Schema)-1]; got.Name != "plan" || got.Athena() != "string" {
				t.Errorf("DDL schema ends in %+v, want plan string", got)
			}
			// The range starts at athena.first_date (default), not at the
			// earliest run: a later backfill stays inside it.
			if got, want := tb.FirstDate, config.DefaultFirstDate; got != want {
				t.Errorf("DDL first date %s, want %s", got, want)
			}
			h1, _ := readOutput(t, res1, dirOpener(t, out))
			if strings.Contains(strings.Join(h1, ","), "plan") {
				t.Errorf("first run's files changed: %v", h1)
			}
		})
	}
}

func mustDir(t *testing.T, root string) *load.Dir {
	t.Helper()
	d, err := load.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
