package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/load/s3test"
	"github.com/mallet-etl/mallet/load/storetest"
	"github.com/mallet-etl/mallet/publish"
)

// faultStore fails the n-th write (Put, WriteIf or Delete) that is not a
// lease write, counting from 1; 0 never fails. Lease writes are left out
// so that the count does not depend on renewal timing.
type faultStore struct {
	jobs.Store
	failAt int64
	n      atomic.Int64
	// only, when set, restricts counting to keys containing it.
	only string
}

var errInjected = errors.New("injected write failure")

func (f *faultStore) fail(key string) error {
	if strings.Contains(key, "/_mallet/lease") || (f.only != "" && !strings.Contains(key, f.only)) {
		return nil
	}
	if n := f.n.Add(1); n == f.failAt {
		return fmt.Errorf("write %d (%s): %w", n, key, errInjected)
	}
	return nil
}

func (f *faultStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := f.fail(key); err != nil {
		return 0, err
	}
	return f.Store.Put(ctx, key, r)
}

func (f *faultStore) WriteIf(ctx context.Context, key string, data []byte, ifMatch string) (string, error) {
	if err := f.fail(key); err != nil {
		return "", err
	}
	return f.Store.WriteIf(ctx, key, data, ifMatch)
}

func (f *faultStore) Delete(ctx context.Context, keys ...string) error {
	if len(keys) > 0 {
		if err := f.fail(keys[0]); err != nil {
			return err
		}
	}
	return f.Store.Delete(ctx, keys...)
}

// published reads a partition exactly as Athena does: every symlink
// manifest under the partition's folder, then every file they list. It
// returns the rows as text lines (timestamps cut to milliseconds, so
// Parquet and CSV compare alike), sorted, and the run ids the URIs name.
func published(t *testing.T, st jobs.Store, job, date string) (rows []string, runs map[string]bool) {
	t.Helper()
	ctx := context.Background()
	links, err := st.List(ctx, publish.PartitionPrefix(job, date))
	if err != nil {
		t.Fatal(err)
	}
	runs = map[string]bool{}
	root := st.URI("")
	for _, l := range links {
		for _, uri := range strings.Fields(string(storetest.Read(t, st, l.Key))) {
			key, ok := strings.CutPrefix(uri, root)
			if !ok {
				t.Fatalf("symlink %s lists %s, outside the store %s", l.Key, uri, root)
			}
			parts := strings.Split(key, "/")
			runs[parts[len(parts)-2]] = true
			_, rs := decodeFile(t, key, storetest.Read(t, st, key))
			for _, r := range rs {
				rows = append(rows, normText(r))
			}
		}
	}
	slices.Sort(rows)
	return rows, runs
}

func normText(r []*string) string {
	out := make([]*string, len(r))
	for i, v := range r {
		out[i] = msText(v)
		if out[i] != nil {
			s := strings.ReplaceAll(*out[i], "\r\n", "\n")
			out[i] = &s
		}
	}
	return rowText(out)
}

// source returns what MariaDB returns for a job's query in each tenant for
// params, with the tenant columns in front, as published() does.
func source(t *testing.T, f *fleet, sqlText string, params map[string]any) []string {
	t.Helper()
	var rows []string
	for _, db := range f.tenants {
		server, name := "db1", db
		for _, r := range f.query(t, db, sqlText, params) {
			rows = append(rows, normText(append([]*string{&server, &name}, r...)))
		}
	}
	slices.Sort(rows)
	return rows
}

func sameRows(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: the source has no rows: the test proves nothing", what)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: published %d rows, want the source's %d exactly once", what, len(got), len(want))
		for _, d := range diffRows(got, want) {
			t.Log(d)
		}
	}
}

func diffRows(got, want []string) []string {
	count := map[string]int{}
	for _, r := range got {
		count[r]++
	}
	for _, r := range want {
		count[r]--
	}
	var out []string
	for r, n := range count {
		switch {
		case n > 0:
			out = append(out, fmt.Sprintf("  extra x%d: %s", n, r))
		case n < 0:
			out = append(out, fmt.Sprintf("  missing x%d: %s", -n, r))
		}
	}
	slices.Sort(out)
	return out[:min(len(out), 10)]
}

// storeCase is a store the publishing tests run against: the local folder
// and the fake S3 server.
type storeCase struct {
	name string
	open func(t *testing.T) (to string, st jobs.Store)
}

var storeCases = []storeCase{
	{"dir", func(t *testing.T) (string, jobs.Store) {
		out := t.TempDir()
		st, err := load.NewDir(out)
		if err != nil {
			t.Fatal(err)
		}
		return out, st
	}},
	{"s3", func(t *testing.T) (string, jobs.Store) {
		s3test.Start(t, "bucket")
		st, err := jobs.OpenStore(t.Context(), "s3://bucket/out", config.S3{})
		if err != nil {
			t.Fatal(err)
		}
		return "s3://bucket/out", st
	}},
}

const loginsJob = `
  logins:
    source: crm_all
    query: {{queries}}/daily_logins.sql
    output: {to: "{{out}}", format: csv}
`

// TestFaultEveryWrite fails each write of a run in turn (parts, run
// manifest, state, symlink, clean-up), then runs again cleanly: the
// partition must hold the source's rows exactly once, and a failed run
// before the commit must leave the partition as it was.
func TestFaultEveryWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault test that runs a job once per write: not in -short")
	}
	f := newFleet(t, 3)
	for _, sc := range storeCases {
		t.Run(sc.name, func(t *testing.T) {
			to, st := sc.open(t)
			cfg := writeConfig(t, f.configText(loginsJob, to))
			want := source(t, f, cfg.Jobs["logins"].SQL, jobs.Params(time.Date(2026, 11, 25, 0, 0, 0, 0, cfg.Jobs["logins"].Location)))
			// A first clean run, counting its writes; the second run of the
			// same date also deletes the first's data (a Delete write).
			count := &faultStore{Store: st}
			for range 2 {
				if _, err := jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: runDate, Store: count}); err != nil {
					t.Fatalf("clean run: %v", err)
				}
			}
			writes := count.n.Load() / 2
			if writes < 6 {
				t.Fatalf("a run made %d writes, want at least 6 (3 parts, manifest, state, symlink)", writes)
			}
			for n := int64(1); n <= writes+1; n++ {
				before, beforeRuns := published(t, st, "logins", "2026-11-25")
				fs := &faultStore{Store: st, failAt: n}
				_, err := jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: runDate, Store: fs})
				got, runs := published(t, st, "logins", "2026-11-25")
				if err != nil && errors.Is(err, jobs.ErrFailed) {
					if !slices.Equal(got, before) || !mapsEqual(runs, beforeRuns) {
						t.Errorf("write %d failed (%v) but the partition changed", n, err)
					}
				}
				t.Logf("failing write %d of %d: %v", n, writes, err)
				sameRows(t, fmt.Sprintf("after failing write %d (%v)", n, err), got, want)
				if _, err := jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: runDate, Store: st}); err != nil {
					t.Fatalf("clean run after failing write %d: %v", n, err)
				}
				got, _ = published(t, st, "logins", "2026-11-25")
				sameRows(t, fmt.Sprintf("clean run after failing write %d", n), got, want)
			}
		})
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// TestIncremental runs an incremental job three times with inserts and
// updates in between, one of them a row committed late (its cursor value
// is older than the last cursor, within the look-back): every row version
// is published exactly once, none twice through the look-back.
func TestIncremental(t *testing.T) {
	f := eventFleet(t, 2)
	dir := t.TempDir()
	query := filepath.Join(dir, "events.sql")
	if err := os.WriteFile(query, []byte("SELECT id, v, modified FROM events WHERE modified >= :cursor ORDER BY modified, id"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sc := range storeCases {
		t.Run(sc.name, func(t *testing.T) {
			for _, db := range f.tenants {
				f.exec(t, db, "TRUNCATE events")
			}
			to, st := sc.open(t)
			cfg := writeConfig(t, f.eventConfig(fmt.Sprintf(`
  events:
    source: ev
    query: %s
    mode: incremental
    cursor: modified
    key: id
    lookback: 10m
    output: {to: "%s", format: parquet}
`, query, to)))
			all := map[string]bool{} // every row version the source held at a run
			step := func(name string, changes ...string) {
				t.Helper()
				for _, db := range f.tenants {
					for _, c := range changes {
						f.exec(t, db, c)
					}
				}
				res, err := jobs.Run(t.Context(), cfg, "events", jobs.Options{Date: runDate, Store: st})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				for _, r := range source(t, f, "SELECT id, v, modified FROM events", nil) {
					all[r] = true
				}
				want := slices.Sorted(mapsKeys(all))
				got, runs := published(t, st, "events", "2026-11-25")
				sameRows(t, name, got, want)
				t.Logf("%s: %d rows in %d runs, %d skipped in the look-back by tenant 1", name, len(got), len(runs), res.Tenants[0].Skipped)
			}
			step("run 1",
				"INSERT INTO events VALUES (1, 'a', '2026-11-25 10:00:00'), (2, 'b', '2026-11-25 10:01:00'), (3, 'c', '2026-11-25 10:05:00.250000'), (4, 'd', '2026-11-25 10:09:00'), (5, 'e', '2026-11-25 10:10:00')")
			step("run 2",
				"INSERT INTO events VALUES (6, 'f', '2026-11-25 10:11:00')",
				"UPDATE events SET v = 'b2', modified = '2026-11-25 10:12:00' WHERE id = 2",
				// committed late: older than the cursor (10:10), within 10m
				"INSERT INTO events VALUES (7, 'late', '2026-11-25 10:06:00')")
			step("run 3",
				"INSERT INTO events VALUES (8, 'h', '2026-11-25 10:20:00')",
				"UPDATE events SET v = 'f2', modified = '2026-11-25 10:21:00.5' WHERE id = 6",
				"INSERT INTO events VALUES (9, 'late2', '2026-11-25 10:04:00')")
			state, err := publish.ReadState(t.Context(), st, "events", jobs.Shard{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(state.Partitions["2026-11-25"].Runs), 3; got != want {
				t.Errorf("got %d committed runs in the partition, want %d appended", got, want)
			}
			for k, ts := range state.Tenants {
				if got, want := ts.Cursor, "2026-11-25 10:21:00.500000"; got != want {
					t.Errorf("tenant %s cursor = %q, want %q", k, got, want)
				}
				if len(ts.Seen) > 4 {
					t.Errorf("tenant %s keeps %d keys in the look-back, want those within 10m of the cursor only", k, len(ts.Seen))
				}
			}
		})
	}
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// eventFleet creates n tenant databases with an events table.
func eventFleet(t *testing.T, n int) *fleet {
	t.Helper()
	f := &fleet{db: testdb.Open(t), prefix: testdb.Prefix()}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%sev%d", f.prefix, i)
		testdb.Create(t, f.db, name)
		f.exec(t, name, "CREATE TABLE events (id INT PRIMARY KEY, v VARCHAR(20), modified DATETIME(6) NOT NULL, KEY (modified))")
		f.tenants = append(f.tenants, name)
	}
	return f
}

func (f *fleet) eventConfig(jobsText string) string {
	return fmt.Sprintf(`timezone: Asia/Tokyo
sources:
  ev:
    servers:
      - name: db1
        dsn: %q
    tenants:
      match: "^%sev[0-9]+$"
jobs:
%s`, dsnOf(), f.prefix, jobsText)
}

// TestBackfillResume backfills five days of a window job, interrupted
// after the third commit, then resumes: days 1-3 are not run again, days
// 4-5 are, and every partition holds its day's rows exactly once.
func TestBackfillResume(t *testing.T) {
	f := sharedFleet(t, 2)
	for _, sc := range storeCases {
		t.Run(sc.name, func(t *testing.T) {
			to, st := sc.open(t)
			cfg := writeConfig(t, f.configText(`
  logins:
    source: crm_all
    query: {{queries}}/daily_logins.sql
    mode: window
    schedule: "30 3 * * *"
    output: {to: "{{out}}", format: parquet}
`, to))
			loc := cfg.Jobs["logins"].Location
			from, until := time.Date(2026, 11, 21, 0, 0, 0, 0, loc), time.Date(2026, 11, 25, 0, 0, 0, 0, loc)
			o := jobs.Options{From: from, To: until, Store: &faultStore{Store: st, failAt: 4, only: "/_mallet/state"}}
			if _, err := jobs.Run(t.Context(), cfg, "logins", o); !errors.Is(err, errInjected) || !errors.Is(err, jobs.ErrFailed) {
				t.Fatalf("interrupted backfill: got %v, want the injected failure of the 4th commit", err)
			}
			state, err := publish.ReadState(t.Context(), st, "logins", jobs.Shard{})
			if err != nil {
				t.Fatal(err)
			}
			first := map[string]string{}
			for date, p := range state.Partitions {
				first[date] = p.Runs[0].RunID
			}
			if got, want := slices.Sorted(mapsKeys(boolSet(first))), []string{"2026-11-21", "2026-11-22", "2026-11-23"}; !slices.Equal(got, want) {
				t.Fatalf("committed after the interruption: %v, want %v", got, want)
			}
			o.Store = st
			res, err := jobs.Run(t.Context(), cfg, "logins", o)
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if got, want := len(res.Windows), 2; got != want {
				t.Errorf("the resumed backfill ran %d windows, want %d", got, want)
			}
			state, err = publish.ReadState(t.Context(), st, "logins", jobs.Shard{})
			if err != nil {
				t.Fatal(err)
			}
			for d := from; !d.After(until); d = d.AddDate(0, 0, 1) {
				date := d.Format(time.DateOnly)
				p := state.Partitions[date]
				if p == nil || len(p.Runs) != 1 {
					t.Fatalf("partition %s: got %+v, want one committed run", date, p)
				}
				if id, ok := first[date]; ok && p.Runs[0].RunID != id {
					t.Errorf("partition %s was run again on resume (%s, was %s)", date, p.Runs[0].RunID, id)
				}
				got, _ := published(t, st, "logins", date)
				sameRows(t, date, got, source(t, f, cfg.Jobs["logins"].SQL, jobs.Params(d)))
			}
		})
	}
}

func boolSet(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// TestConcurrentRuns starts two runs of one job at once: exactly one
// publishes, the other fails with ErrLocked and writes nothing.
func TestConcurrentRuns(t *testing.T) {
	f := sharedFleet(t, 2)
	dir := t.TempDir()
	query := filepath.Join(dir, "slow.sql")
	// SLEEP keeps the winner's lease held while the loser asks for it.
	if err := os.WriteFile(query, []byte("SELECT login_code, SLEEP(0.5) AS slept FROM accounts WHERE id = 1"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sc := range storeCases {
		t.Run(sc.name, func(t *testing.T) {
			to, st := sc.open(t)
			cfg := writeConfig(t, f.configText(fmt.Sprintf(`
  slow:
    source: crm_all
    query: %s
    output: {to: "{{out}}", format: csv}
`, query), to))
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i := range errs {
				wg.Go(func() {
					_, errs[i] = jobs.Run(t.Context(), cfg, "slow", jobs.Options{Date: runDate, Store: st})
				})
			}
			wg.Wait()
			ok, locked := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, jobs.ErrLocked):
					locked++
				default:
					t.Errorf("run failed: %v", err)
				}
			}
			if ok != 1 || locked != 1 {
				t.Fatalf("got %d published and %d locked out (%v), want 1 and 1", ok, locked, errs)
			}
			state, err := publish.ReadState(t.Context(), st, "slow", jobs.Shard{})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(state.Partitions["2026-11-25"].Runs); got != 1 {
				t.Errorf("got %d committed runs, want 1", got)
			}
			runs, err := st.List(t.Context(), "slow/_mallet/runs/")
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 1 {
				t.Errorf("got run manifests %v, want only the winner's", runs)
			}
		})
	}
}
