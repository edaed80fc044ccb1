package jobs_test

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/jobs"
)

// seqJob is a job over the fleet's tenants whose every tenant returns rows
// numbered 1..n with its own name, so that each part can be checked for
// whole tenants in order.
func seqJob(n int) string {
	return fmt.Sprintf("SELECT seq, DATABASE() AS db, REPEAT('x', 100) AS pad FROM seq_1_to_%d ORDER BY seq", n)
}

// checkPacked reads every part of the run and checks that each tenant that
// succeeded has its rows 1..n, in order, in exactly one part, or, for a
// tenant with parts of its own, in its parts one after the other (the
// next one's key is the first's with "_001", "_002"...); that a part holds
// whole tenants in the run's tenant order; and that no other tenant has a
// row anywhere. It returns the number of parts.
func checkPacked(t *testing.T, res *jobs.Result, open func(string) []byte, n int) int {
	t.Helper()
	order := map[string]int{}
	for i, tr := range res.Tenants {
		order[tr.Database] = i
	}
	seen := map[string]string{} // tenant -> part
	carry, next := "", 0        // a tenant that goes on in the next part, and its rows so far
	for _, o := range res.Objects {
		header, rows := decodeFile(t, o.Key, open(o.Key))
		seq, db := slices.Index(header, "seq"), slices.Index(header, "db")
		if int64(len(rows)) != o.Rows {
			t.Errorf("%s: %d rows, the manifest says %d", o.Key, len(rows), o.Rows)
		}
		split := strings.Contains(path.Base(o.Key), "_")
		if split != (carry != "") {
			t.Errorf("%s: a split part's key %v, after a part that ended inside tenant %q", o.Key, split, carry)
		}
		last := -1
		for i, r := range rows {
			if r[db] == nil || r[1] == nil {
				t.Fatalf("%s row %d: NULL tenant", o.Key, i)
			}
			name := *r[db]
			if *r[1] != name {
				t.Fatalf("%s row %d: tenant column %s, rows of %s", o.Key, i, *r[1], name)
			}
			switch {
			case next == 0:
				if p, ok := seen[name]; ok {
					t.Fatalf("tenant %s is in %s and %s", name, p, o.Key)
				}
				seen[name] = o.Key
				if order[name] <= last {
					t.Errorf("%s: tenant %s (#%d) after #%d: want tenant order", o.Key, name, order[name], last)
				}
				last = order[name]
			case i == 0 && name != carry:
				t.Fatalf("%s starts with tenant %s, want the rest of %s", o.Key, name, carry)
			}
			next++
			if got, _ := strconv.Atoi(*r[seq]); got != next {
				t.Fatalf("%s row %d: tenant %s seq %d, want %d", o.Key, i, name, got, next)
			}
			carry = name
			if next == n {
				carry, next = "", 0
			}
		}
	}
	if carry != "" {
		t.Errorf("the last part ends inside tenant %s, after %d of its %d rows", carry, next, n)
	}
	for _, tr := range res.Tenants {
		if _, ok := seen[tr.Database]; ok != (tr.Err == nil) {
			t.Errorf("tenant %s: in a part %v, failed %v (%s)", tr.Database, ok, tr.Err != nil, tr.Error)
		}
	}
	return len(res.Objects)
}

// checkRunFolder checks that the folder of job j's run of 2026-11-25 under
// out holds exactly the run's published parts: nothing a failed attempt
// or a tenant left out wrote stays beside them.
func checkRunFolder(t *testing.T, res *jobs.Result, out string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(out, "j", "data", "dt=2026-11-25", "all", res.RunID, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range res.Objects {
		keys = append(keys, filepath.Join(out, filepath.FromSlash(o.Key)))
	}
	slices.Sort(files)
	slices.Sort(keys)
	if !slices.Equal(files, keys) {
		t.Errorf("run folder holds %v, want the published parts %v", files, keys)
	}
}

// TestPacking runs eight tenants of 50 rows over three workers: parts hold
// whole tenants in order, every row exactly once, and as many tenants as
// file_size and file_rows let them; a tenant larger than the spool gets a
// part of its own.
func TestPacking(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 8)
	const rows = 50
	tests := []struct {
		name     string
		format   string
		output   string // extra output settings
		min, max int    // parts
	}{
		{"default size csv", "csv", "", 1, 3},
		{"default size parquet", "parquet", "", 1, 3},
		{"default size csv.gz", "csv.gz", "", 1, 3},
		// 120 rows: a part closes after its third tenant.
		{"file_rows", "csv", ", file_rows: 120", 3, 5},
		// About 8 KB of CSV a tenant: a part closes after its second.
		{"file_size", "csv", ", file_size: 12KiB", 4, 6},
		// A tenant's spooled rows pass 2 KiB: each streams into parts of
		// its own, split at 2 KiB, several a tenant.
		{"over the spool", "parquet", ", file_size: 2KiB", 16, 64},
		// 20 rows a part: each tenant streams into 3 parts of its own.
		{"file_rows split", "csv", ", file_rows: 20", 24, 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := t.TempDir()
			qpath := filepath.Join(t.TempDir(), "q.sql")
			if err := os.WriteFile(qpath, []byte(seqJob(rows)), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := writeConfig(t, f.configText(fmt.Sprintf(`
  j:
    source: crm_all
    query: %s
    output: {to: "{{out}}", format: %s%s}
`, qpath, tt.format, tt.output), out))
			res, err := jobs.Run(t.Context(), cfg, "j", jobs.Options{Date: runDate})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			parts := checkPacked(t, res, dirOpener(t, out), rows)
			if parts < tt.min || parts > tt.max {
				t.Errorf("%d parts, want %d to %d", parts, tt.min, tt.max)
			}
			if got, want := res.Rows, int64(len(f.tenants)*rows); got != want {
				t.Errorf("rows = %d, want %d", got, want)
			}
		})
	}
}

// TestPackedTenantFailsMidStream: a tenant whose query fails after rows
// have streamed (a permanent error, so no retry) leaves none of them in a
// part, under on_tenant_error: skip, while the others are packed whole;
// with file_rows 50 every tenant streams into parts of its own, split
// every 50 rows, and the victim's four finished parts are deleted: the
// run's folder holds exactly the published parts.
func TestPackedTenantFailsMidStream(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 5)
	victim := f.tenants[2]
	const rows = 300
	// Row 200 of the victim raises "Subquery returns more than 1 row".
	query := fmt.Sprintf(`SELECT seq, DATABASE() AS db, IF(seq = 200 AND DATABASE() = '%s', (SELECT 1 UNION SELECT 2), seq) AS v FROM seq_1_to_%d ORDER BY seq`, victim, rows)
	qpath := filepath.Join(t.TempDir(), "q.sql")
	if err := os.WriteFile(qpath, []byte(query), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, output string
		parts        int // 0: any number
	}{
		{"packed", "", 0},
		{"split parts of their own", ", file_rows: 50", 4 * 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			cfg := writeConfig(t, f.configText(fmt.Sprintf(`
  j:
    source: crm_all
    query: %s
    on_tenant_error: skip
    output: {to: "{{out}}", format: csv%s}
`, qpath, tt.output), out))
			res, err := jobs.Run(t.Context(), cfg, "j", jobs.Options{Date: runDate, Retries: -1})
			if !errors.Is(err, jobs.ErrPartial) {
				t.Fatalf("got %v, want ErrPartial", err)
			}
			for _, tr := range res.Tenants {
				if (tr.Database == victim) != (tr.Err != nil) {
					t.Errorf("tenant %s: error %q", tr.Database, tr.Error)
				}
				if tr.Database == victim && tr.Rows < 199 {
					t.Errorf("the victim streamed %d rows before failing, want 199: the test proves nothing", tr.Rows)
				}
			}
			parts := checkPacked(t, res, dirOpener(t, out), rows)
			if tt.parts > 0 && parts != tt.parts {
				t.Errorf("%d parts, want %d", parts, tt.parts)
			}
			if got, want := res.Rows, int64((len(f.tenants)-1)*rows); got != want {
				t.Errorf("rows = %d, want %d", got, want)
			}
			checkRunFolder(t, res, out)
		})
	}
}

// TestPackedMinoritySchema: a tenant whose columns differ from the
// majority's is packed into a part of its own shape, then left out with
// it: the run's folder holds exactly the published parts, and those hold
// every row of the other tenants.
func TestPackedMinoritySchema(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 5)
	odd := f.tenants[3]
	f.exec(t, odd, "ALTER TABLE accounts ADD COLUMN plan VARCHAR(16) NULL")
	out := t.TempDir()
	cfg := f.faultJob(t, "SELECT * FROM accounts ORDER BY id", "    on_tenant_error: skip\n", "", out)
	res, err := jobs.Run(t.Context(), cfg, "j", jobs.Options{Date: runDate})
	if !errors.Is(err, jobs.ErrPartial) {
		t.Fatalf("got %v, want ErrPartial", err)
	}
	for _, tr := range res.Tenants {
		if (tr.Database == odd) != (tr.Err != nil) {
			t.Errorf("tenant %s: error %q", tr.Database, tr.Error)
		}
	}
	checkRunFolder(t, res, out)
	var good []string
	for _, db := range f.tenants {
		if db != odd {
			good = append(good, db)
		}
	}
	_, rows := readOutput(t, res, dirOpener(t, out))
	compareRows(t, res, rows, f.want(t, cfg, good), false)
}

// TestPackedFewerWriters: with one core, one writer packs what three
// workers extract: every tenant lands, whole and in the run's order, in a
// single part, although the first tenant finishes last (it sleeps while
// the others are extracted, and the writer waits for it).
func TestPackedFewerWriters(t *testing.T) {
	// Not parallel: GOMAXPROCS is the process's, and the parallel tests
	// wait until the sequential ones are done.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f := newFleet(t, 8)
	const rows = 50
	slow := f.tenants[0]
	query := fmt.Sprintf("SELECT seq, DATABASE() AS db, REPEAT('x', 100) AS pad FROM seq_1_to_%d WHERE seq > SLEEP(IF(DATABASE() = '%s' AND seq = 1, 1, 0)) ORDER BY seq", rows, slow)
	qpath := filepath.Join(t.TempDir(), "q.sql")
	if err := os.WriteFile(qpath, []byte(query), 0o600); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cfg := writeConfig(t, f.configText(fmt.Sprintf(`
  j:
    source: crm_all
    query: %s
    output: {to: "{{out}}", format: parquet}
`, qpath), out))
	res, err := jobs.Run(t.Context(), cfg, "j", jobs.Options{Date: runDate})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if parts := checkPacked(t, res, dirOpener(t, out), rows); parts != 1 {
		t.Errorf("%d parts, want 1 from the one writer", parts)
	}
	if got, want := res.Rows, int64(len(f.tenants)*rows); got != want {
		t.Errorf("rows = %d, want %d", got, want)
	}
	var first, others time.Duration
	for _, tr := range res.Tenants {
		if tr.Database == slow {
			first = tr.Duration
		} else {
			others += tr.Duration
		}
	}
	if first < time.Second {
		t.Errorf("the first tenant took %v, less than its sleep: the test proves nothing", first)
	}
	t.Logf("the first tenant took %v, the 7 others %v in all", first, others)
}
