package jobs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/jobs"
)

// TestAthenaTableBeforeFirstRun asks for the DDL of jobs that have never
// run, in every mode, with a query that uses every parameter a query may
// use: the columns come from the LIMIT 0 probe, which must bind them all.
func TestAthenaTableBeforeFirstRun(t *testing.T) {
	f := newFleet(t, 1)
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
