package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mallet-etl/mallet/athena"
	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/load"
)

// TestAthenaTableBeforeFirstRun asks for the DDL of jobs that have never
// run, in every mode, with a query that uses every parameter a query may
// use: the columns come from the LIMIT 0 probe, which must bind them all.
func TestAthenaTableBeforeFirstRun(t *testing.T) {
	f := sharedFleet(t, 1)
	var uses []string
	for _, p := range config.Params {
		uses = append(uses, fmt.Sprintf(":%s IS NOT NULL", p))
	}
	qpath := filepath.Join(t.TempDir(), "all_params.sql")
	query := "SELECT id, modified_at, subject FROM mail_requests\nWHERE modified_at >= :cursor AND " + strings.Join(uses, " AND ") + "\n"
	if err := os.WriteFile(qpath, []byte(query), 0o600); err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, mode := range []string{config.ModeSnapshot, config.ModeWindow, config.ModeIncremental} {
		// Only incremental binds :cursor in a run; the others get a
		// query without it (config refuses :cursor there).
		q := qpath
		extra := ""
		if mode != config.ModeIncremental {
			q = filepath.Join(t.TempDir(), mode+".sql")
			body := strings.Replace(strings.Replace(query, "modified_at >= :cursor AND ", "", 1), " AND :cursor IS NOT NULL", "", 1)
			if err := os.WriteFile(q, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		} else {
			extra = "\n    cursor: modified_at\n    key: id"
		}
		fmt.Fprintf(&text, "  j_%s:\n    source: crm_all\n    query: %s\n    mode: %s%s\n    output: {to: %q, format: parquet}\n", mode, q, mode, extra, t.TempDir())
	}
	cfg := writeConfig(t, f.configText(text.String(), ""))
	for _, mode := range []string{config.ModeSnapshot, config.ModeWindow, config.ModeIncremental} {
		t.Run(mode, func(t *testing.T) {
			tb, from, err := jobs.AthenaTable(t.Context(), cfg, "j_"+mode)
			if err != nil {
				t.Fatalf("athena table before the first run: %v", err)
			}
			if !strings.Contains(from, "no run published yet") {
				t.Errorf("columns from %q, want the query's", from)
			}
			if got, want := strings.Join(tb.Schema.Names(), ","), "server,database,id,modified_at,subject"; got != want {
				t.Errorf("columns %s, want %s", got, want)
			}
		})
	}
}

// putRecorder records the keys of every Put.
type putRecorder struct {
	jobs.Store
	mu   sync.Mutex
	keys []string
}

func (p *putRecorder) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	p.mu.Lock()
	p.keys = append(p.keys, key)
	p.mu.Unlock()
	return p.Store.Put(ctx, key, r)
}

// TestAthenaNamesRefusedBeforeUpload runs queries whose result columns an
// Athena table cannot hold: each run fails, every tenant's error names the
// columns and the fix, and no data object was even started.
func TestAthenaNamesRefusedBeforeUpload(t *testing.T) {
	f := sharedFleet(t, 2)
	tests := []struct {
		name, query, merge string
		want               []string
	}{
		{"equal but for case", "SELECT id AS x, login_code AS X FROM accounts", "", []string{`columns "x" and "X" are the same name in Athena`, "rename one with AS"}},
		{"expression without alias", "SELECT id, UPPER(name) FROM accounts", "", []string{`column "UPPER(name)"`, "AS upper_name"}},
		{"partition column", "SELECT id, created_at AS DT FROM accounts", "", []string{`column "DT" clashes with the partition column dt`}},
		{"tenant column but for case", "SELECT id, name AS Server FROM accounts", "", []string{`columns "server" and "Server"`}},
		{"aggregate output", "SELECT LEFT(name, 1) AS `first letter`, id FROM accounts", "\n    group_by: [first letter]\n    sum: [id]", []string{`column "first letter"`, "AS first_letter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qpath := filepath.Join(t.TempDir(), "q.sql")
			if err := os.WriteFile(qpath, []byte(tt.query), 0o600); err != nil {
				t.Fatal(err)
			}
			merge := ""
			if tt.merge != "" {
				merge = "\n    merge: aggregate" + tt.merge
			}
			out := t.TempDir()
			cfg := writeConfig(t, f.configText(fmt.Sprintf("  j:\n    source: crm_all\n    query: %s%s\n    on_tenant_error: skip\n    output: {to: %q, format: parquet}\n", qpath, merge, out), ""))
			dir, err := load.NewDir(out)
			if err != nil {
				t.Fatal(err)
			}
			st := &putRecorder{Store: dir}
			res, err := jobs.Run(t.Context(), cfg, "j", jobs.Options{Date: runDate, Store: st})
			if !errors.Is(err, jobs.ErrFailed) {
				t.Fatalf("run: got %v, want ErrFailed", err)
			}
			if got, want := len(res.Tenants), len(f.tenants); got != want {
				t.Fatalf("got %d tenants, want %d", got, want)
			}
			for _, tr := range res.Tenants {
				if !errors.Is(tr.Err, athena.ErrSchema) {
					t.Errorf("tenant %s: got %v, want athena.ErrSchema", tr.Database, tr.Err)
				}
				for _, w := range tt.want {
					if !strings.Contains(tr.Error, w) {
						t.Errorf("tenant %s: error %q lacks %q", tr.Database, tr.Error, w)
					}
				}
			}
			for _, k := range st.keys {
				if strings.Contains(k, "/data/") {
					t.Errorf("data object %s was written", k)
				}
			}
		})
	}
}
