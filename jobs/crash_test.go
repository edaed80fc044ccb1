package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/extract"
	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/load/s3test"
	"github.com/mallet-etl/mallet/publish"
)

// crashPoints are the steps of a run the binary is killed at (see
// jobs/crashpoint.go), in the order a run reaches them.
var crashPoints = []string{"start", "upload", "part", "uploaded", "manifest", "committed", "symlinked", "collected"}

// result of one run of the binary.
type binRun struct {
	code   int
	killed bool // by SIGKILL
	out    string
}

func runMallet(t *testing.T, bin string, env []string, args ...string) binRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	r := binRun{out: string(out)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			r.killed = true
		}
	default:
		t.Fatalf("mallet %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// runUntilFree runs the binary, waiting out the lease of a killed run.
func runUntilFree(t *testing.T, bin string, env []string, args ...string) binRun {
	t.Helper()
	for range 50 {
		r := runMallet(t, bin, env, args...)
		if r.code != 4 {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the lease of the killed run never expired")
	return binRun{}
}

// TestCrash kills the real binary with SIGKILL at every step of a run, for
// a snapshot job and an incremental job, on the local folder and on S3.
// The snapshot job's five tenants share parts (three workers): the kill
// at "upload" finds a part open with a tenant in it, at "part" one part
// finished and others open.
// While the killed run is dead, readers see the previous complete run;
// after one clean run, the partition read through its symlink manifests,
// as Athena reads it, holds the source's rows exactly once, value by value.
func TestCrash(t *testing.T) {
	bin := buildMallet(t)
	f := newFleet(t, 5)
	ev := eventFleet(t, 0)
	s3test.Start(t, "bucket") // for every S3 case, each under a prefix of its own
	dir := t.TempDir()
	events := filepath.Join(dir, "events.sql")
	if err := os.WriteFile(events, []byte("SELECT id, v, modified FROM events WHERE modified >= :cursor"), 0o600); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2026, 11, 25, 0, 0, 0, 0, time.FixedZone("JST", 9*3600))
	for _, store := range []string{"dir", "s3"} {
		for _, point := range crashPoints {
			t.Run("snapshot/"+store+"/"+point, func(t *testing.T) {
				t.Parallel()
				to, st := crashStore(t, store)
				cfgPath := filepath.Join(t.TempDir(), "config.yaml")
				text := strings.Replace(f.configText(loginsJob, to), "    output:", "    lease_ttl: 500ms\n    output:", 1)
				if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
				want := source(t, f, mustJob(t, cfgPath, "logins").SQL, jobs.Params(date))
				args := []string{"run", "job", "logins", "--date", "2026-11-25", "--config", cfgPath, "--log-format", "json"}
				if r := runMallet(t, bin, nil, args...); r.code != 0 {
					t.Fatalf("first run: exit %d\n%s", r.code, r.out)
				}
				first := lastRun(t, st, "logins")
				r := runMallet(t, bin, []string{"MALLET_TEST_CRASH_AT=" + point}, args...)
				if !r.killed {
					t.Fatalf("run with MALLET_TEST_CRASH_AT=%s was not killed: exit %d\n%s", point, r.code, r.out)
				}
				got, runs := published(t, st, "logins", "2026-11-25")
				sameRows(t, "after the kill", got, want)
				// Before the symlink write, readers still see the first run.
				visibleFirst := point != "symlinked" && point != "collected"
				if len(runs) != 1 || runs[first] != visibleFirst {
					t.Errorf("after a kill at %s the symlink lists runs %v; the first run was %s", point, runs, first)
				}
				if r := runUntilFree(t, bin, nil, args...); r.code != 0 {
					t.Fatalf("clean run: exit %d\n%s", r.code, r.out)
				}
				got, runs = published(t, st, "logins", "2026-11-25")
				sameRows(t, "after the clean run", got, want)
				if last := lastRun(t, st, "logins"); len(runs) != 1 || !runs[last] {
					t.Errorf("after the clean run the symlink lists %v, want the last committed run %s", runs, last)
				}
				checkNoTemp(t, st, "logins/")
			})
			t.Run("incremental/"+store+"/"+point, func(t *testing.T) {
				t.Parallel()
				to, st := crashStore(t, store)
				db := ev.prefix + "ev_" + store + "_" + point
				testdb.Create(t, ev.db, db)
				ev.exec(t, db, "CREATE TABLE events (id INT PRIMARY KEY, v VARCHAR(20), modified DATETIME(6) NOT NULL)")
				ev.exec(t, db, "INSERT INTO events VALUES (1, 'a', '2026-11-25 10:00:00'), (2, 'b', '2026-11-25 10:01:00'), (3, 'c', '2026-11-25 10:02:00')")
				cfgPath := filepath.Join(t.TempDir(), "config.yaml")
				text := fmt.Sprintf(`sources:
  ev:
    servers: [{name: db1, dsn: %q}]
    tenants: {list: [db1/%s]}
jobs:
  events:
    source: ev
    query: %s
    mode: incremental
    cursor: modified
    key: id
    lookback: 5m
    lease_ttl: 500ms
    output: {to: %q, format: parquet}
`, dsnOf(), db, events, to)
				if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
				one := &fleet{db: ev.db, tenants: []string{db}}
				versions := map[string]bool{}
				snap := func() {
					for _, r := range source(t, one, "SELECT id, v, modified FROM events", nil) {
						versions[r] = true
					}
				}
				args := []string{"run", "job", "events", "--date", "2026-11-25", "--config", cfgPath, "--log-format", "json"}
				if r := runMallet(t, bin, nil, args...); r.code != 0 {
					t.Fatalf("first run: exit %d\n%s", r.code, r.out)
				}
				snap()
				ev.exec(t, db, "INSERT INTO events VALUES (4, 'd', '2026-11-25 10:03:00'), (5, 'late', '2026-11-25 10:01:30')")
				ev.exec(t, db, "UPDATE events SET v = 'a2', modified = '2026-11-25 10:04:00' WHERE id = 1")
				if r := runMallet(t, bin, []string{"MALLET_TEST_CRASH_AT=" + point}, args...); !r.killed {
					t.Fatalf("run with MALLET_TEST_CRASH_AT=%s was not killed: exit %d\n%s", point, r.code, r.out)
				}
				if r := runUntilFree(t, bin, nil, args...); r.code != 0 {
					t.Fatalf("clean run: exit %d\n%s", r.code, r.out)
				}
				snap()
				got, _ := published(t, st, "events", "2026-11-25")
				sameRows(t, "after the kill and a clean run", got, slices.Sorted(mapsKeys(versions)))
				checkNoTemp(t, st, "events/")
			})
		}
	}
	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		to, _ := crashStore(t, "dir")
		// The first run blocks on a table this test holds locked, so it keeps
		// its lease for as long as the test needs, however slowly processes
		// start on a loaded machine (a SLEEP of fixed length did not).
		query := filepath.Join(t.TempDir(), "slow.sql")
		if err := os.WriteFile(query, []byte("SELECT login_code FROM accounts WHERE id = 1"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfgPath := filepath.Join(t.TempDir(), "config.yaml")
		text := f.configText(fmt.Sprintf("  slow:\n    source: crm_all\n    query: %s\n    output: {to: %q, format: csv}\n", query, to), to)
		if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		locker, err := f.db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer locker.Close()
		var tables []string
		for _, db := range f.tenants {
			tables = append(tables, extract.QuoteIdent(db)+".accounts WRITE")
		}
		if _, err := locker.ExecContext(t.Context(), "LOCK TABLES "+strings.Join(tables, ", ")); err != nil {
			t.Fatal(err)
		}
		unlocked := false
		unlock := func() {
			if !unlocked {
				unlocked = true
				if _, err := locker.ExecContext(context.Background(), "UNLOCK TABLES"); err != nil {
					t.Error(err)
				}
			}
		}
		defer unlock()

		args := []string{"run", "job", "slow", "--date", "2026-11-25", "--config", cfgPath}
		first := make(chan binRun, 1)
		go func() { first <- runMallet(t, bin, nil, args...) }()
		lease := filepath.Join(to, "slow", "_mallet", "lease")
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(lease); err == nil {
				break
			}
		}
		// The first run holds the lease and waits on the lock: the second
		// must find the job locked.
		if r := runMallet(t, bin, nil, args...); r.code != 4 {
			t.Errorf("second run while the first holds the lease: exit %d, want 4\n%s", r.code, r.out)
		}
		unlock()
		if r := <-first; r.code != 0 {
			t.Errorf("first run: exit %d, want 0\n%s", r.code, r.out)
		}
	})
}

func crashStore(t *testing.T, kind string) (string, jobs.Store) {
	t.Helper()
	to := t.TempDir()
	if kind == "s3" {
		to = "s3://bucket/" + strings.ReplaceAll(t.Name(), "/", "_")
	}
	st, err := jobs.OpenStore(t.Context(), to, config.S3{})
	if err != nil {
		t.Fatal(err)
	}
	return to, st
}

func mustJob(t *testing.T, path, name string) *config.Job {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Jobs[name]
}

func lastRun(t *testing.T, st jobs.Store, job string) string {
	t.Helper()
	s, err := publish.ReadState(t.Context(), st, job, jobs.Shard{})
	if err != nil {
		t.Fatal(err)
	}
	return s.LastRun
}

// checkNoTemp fails if a local folder holds unfinished writes.
func checkNoTemp(t *testing.T, st jobs.Store, prefix string) {
	t.Helper()
	d, ok := st.(*load.Dir)
	if !ok {
		return
	}
	root := strings.TrimPrefix(d.URI(prefix), "file://")
	_ = filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(de.Name(), ".mallet-tmp-") {
			t.Errorf("unfinished write left behind: %s", p)
		}
		return nil
	})
}
