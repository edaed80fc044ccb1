package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/load/s3test"
	"github.com/mallet-etl/mallet/load/storetest"
	"github.com/mallet-etl/mallet/publish"
)

// TestCleanUpFolders runs a job many times into a folder: clean-up keeps
// the last run and the one before it (for queries in flight), and leaves no
// empty folder behind, so data/ holds two run folders, not one per run.
func TestCleanUpFolders(t *testing.T) {
	f := sharedFleet(t, 2)
	out := t.TempDir()
	cfg := writeConfig(t, f.configText(loginsJob, out))
	const runs = 6
	date := time.Date(2026, 11, 25, 0, 0, 0, 0, cfg.Jobs["logins"].Location)
	for range runs {
		if _, err := jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: date}); err != nil {
			t.Fatal(err)
		}
	}
	var empty []string
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || p == out {
			return err
		}
		ents, err := os.ReadDir(p)
		if err == nil && len(ents) == 0 {
			empty = append(empty, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(empty) > 0 {
		t.Errorf("after %d runs %d empty folders are left, want none: %v", runs, len(empty), empty)
	}
	folders, err := filepath.Glob(filepath.Join(out, "logins", "data", "dt=2026-11-25", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(folders), 2; got != want {
		t.Errorf("after %d runs data/dt=2026-11-25 holds %d run folders, want %d (the last run and the one it replaced)", runs, got, want)
	}
}

// TestStalledRun stops the real binary (SIGSTOP, as a frozen VM would)
// between its commit and its symlink write, for longer than its lease; a
// second run takes the lease and publishes; then the first resumes.
// Readers must go on seeing what is committed: the symlink and, the job
// writing CSV, the QuickSight manifests (dt=D.json, latest.json) are
// derived from the state committed now, not from the state a run
// committed. When the second run publishes the same partition, readers
// see only it. When it publishes an earlier date, the stalled run's
// partition stays the newest: its manifest lists it (the second run's
// roll-forward writes it, whatever the stalled run does) and latest.json
// points at it, not at the date written last.
func TestStalledRun(t *testing.T) {
	bin := buildMallet(t)
	f := newFleet(t, 2)
	s3test.Start(t, "bucket")
	const stalledDate = "2026-11-25"
	cases := []struct {
		name   string
		second string // the second run's date
	}{
		{"same date", stalledDate},
		{"earlier date", "2026-11-24"},
	}
	for _, store := range []string{"dir", "s3"} {
		for _, tc := range cases {
			t.Run(store+"/"+tc.name, func(t *testing.T) {
				to, st := crashStore(t, store)
				cfgPath := filepath.Join(t.TempDir(), "config.yaml")
				text := strings.Replace(f.configText(loginsJob, to), "    output:", "    lease_ttl: 500ms\n    output:", 1)
				if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
				args := func(date string) []string {
					return []string{"run", "job", "logins", "--date", date, "--config", cfgPath, "--log-format", "json"}
				}
				ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
				defer cancel()
				stalled := exec.CommandContext(ctx, bin, args(stalledDate)...)
				stalled.Env = append(os.Environ(), "MALLET_TEST_PAUSE_AT=committed")
				var out bytes.Buffer
				stalled.Stdout, stalled.Stderr = &out, &out
				if err := stalled.Start(); err != nil {
					t.Fatal(err)
				}
				defer func() {
					_ = stalled.Process.Signal(syscall.SIGCONT)
				}()
				waitStopped(t, stalled.Process.Pid)
				first := lastRun(t, st, "logins")
				if r := runUntilFree(t, bin, nil, args(tc.second)...); r.code != 0 {
					t.Fatalf("the second run: exit %d\n%s", r.code, r.out)
				}
				second := lastRun(t, st, "logins")
				if second == first {
					t.Fatalf("the second run committed nothing (last run %s)", second)
				}
				if err := stalled.Process.Signal(syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
				err := stalled.Wait()
				t.Logf("the stalled run resumed and ended: %v\n%s", err, out.String())
				// What readers of the stalled run's partition must see.
				want, whose := second, "the newer run"
				if tc.second != stalledDate {
					want, whose = first, "the stalled run, still the partition's committed run"
				}
				if _, runs := published(t, st, "logins", stalledDate); len(runs) != 1 || !runs[want] {
					t.Errorf("after the stalled run %s resumed, the symlink of dt=%s lists runs %v; want only %s %s", first, stalledDate, runs, whose, want)
				}
				// QuickSight reads the same partition through its
				// manifests, which must not roll back either.
				for _, key := range []string{publish.QuickSightKey("logins", stalledDate), publish.QuickSightLatestKey("logins")} {
					if runs := quickSightRuns(t, st, key); len(runs) != 1 || !runs[want] {
						t.Errorf("after the stalled run %s resumed, %s lists runs %v; want only %s %s", first, key, runs, whose, want)
					}
				}
				if tc.second != stalledDate {
					key := publish.QuickSightKey("logins", tc.second)
					if runs := quickSightRuns(t, st, key); len(runs) != 1 || !runs[second] {
						t.Errorf("%s lists runs %v; want only the second run %s", key, runs, second)
					}
				}
			})
		}
	}
}

// quickSightRuns returns the run ids whose files the QuickSight manifest at
// key lists; none when there is no manifest.
func quickSightRuns(t *testing.T, st jobs.Store, key string) map[string]bool {
	t.Helper()
	runs := map[string]bool{}
	rc, _, err := st.Get(t.Context(), key)
	if errors.Is(err, fs.ErrNotExist) {
		return runs
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var m publish.QuickSightManifest
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	for _, loc := range m.FileLocations {
		for _, uri := range loc.URIs {
			parts := strings.Split(uri, "/")
			if len(parts) < 2 {
				t.Fatalf("%s lists %q, not a data file", key, uri)
			}
			runs[parts[len(parts)-2]] = true
		}
	}
	return runs
}

// waitStopped waits until process pid is stopped by a signal.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	stat := "/proc/" + strconv.Itoa(pid) + "/stat"
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(stat)
		if err != nil {
			t.Fatalf("the paused run is gone: %v", err)
		}
		// The state is the field after the command name's closing paren.
		if i := bytes.LastIndexByte(b, ')'); i > 0 && len(b) > i+2 && b[i+2] == 'T' {
			return
		}
	}
	t.Fatal("the run never reached its pause point")
}

// TestEmptyDayQuickSight runs a CSV job over a day with a row, then over a
// later day with none: the empty day's manifest and latest.json are valid
// QuickSight manifests that list one file, a part holding the header only,
// so a refresh succeeds and shows no rows for the day.
func TestEmptyDayQuickSight(t *testing.T) {
	f := newFleet(t, 2)
	for _, sc := range storeCases {
		t.Run(sc.name, func(t *testing.T) {
			to, st := sc.open(t)
			cfg := writeConfig(t, f.configText(loginsJob, to))
			loc := cfg.Jobs["logins"].Location
			for _, day := range []time.Time{time.Date(2026, 11, 25, 0, 0, 0, 0, loc), time.Date(2020, 1, 1, 0, 0, 0, 0, loc), time.Date(2020, 1, 2, 0, 0, 0, 0, loc)} {
				if _, err := jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: day}); err != nil {
					t.Fatal(err)
				}
			}
			for _, key := range []string{publish.QuickSightKey("logins", "2020-01-01"), publish.QuickSightKey("logins", "2020-01-02")} {
				var m publish.QuickSightManifest
				if err := json.Unmarshal(storetest.Read(t, st, key), &m); err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				if len(m.FileLocations) != 1 || len(m.FileLocations[0].URIs) != 1 {
					t.Fatalf("%s lists %+v, want one file", key, m.FileLocations)
				}
				part, ok := strings.CutPrefix(m.FileLocations[0].URIs[0], st.URI(""))
				if !ok {
					t.Fatalf("%s lists %s, outside the store", key, m.FileLocations[0].URIs[0])
				}
				if got, want := string(storetest.Read(t, st, part)), "server,database,login_code,login_count,first_login,last_login\n"; got != want {
					t.Errorf("%s: the empty day's part holds %q, want the header only %q", key, got, want)
				}
			}
			// latest.json stays on the newest date, 2026-11-25, with its rows:
			// it is that day's manifest, however packing split the two
			// tenants into parts.
			latest := storetest.Read(t, st, publish.QuickSightLatestKey("logins"))
			if want := storetest.Read(t, st, publish.QuickSightKey("logins", "2026-11-25")); !bytes.Equal(latest, want) {
				t.Errorf("latest.json holds\n%s\nwant the manifest of 2026-11-25\n%s", latest, want)
			}
			if rows, _ := published(t, st, "logins", "2026-11-25"); len(rows) == 0 {
				t.Error("2026-11-25 reads no rows, want the 2 tenants' logins")
			}
			rows, _ := published(t, st, "logins", "2020-01-01")
			if len(rows) != 0 {
				t.Errorf("the empty day reads %d rows through its symlink, want none", len(rows))
			}
		})
	}
}

// TestRunDates: a run dated in the future is refused and writes nothing;
// after manual runs of D-5 and D-2, a run without --date publishes every
// other day of the catch-up horizon up to yesterday.
func TestRunDates(t *testing.T) {
	f := newFleet(t, 1)
	out := t.TempDir()
	cfg := writeConfig(t, f.configText(`
  logins:
    source: crm_all
    query: {{queries}}/daily_logins.sql
    mode: window
    schedule: "30 3 * * *"
    catch_up: 168h
    output: {to: "{{out}}", format: csv}
`, out))
	loc := cfg.Jobs["logins"].Location
	today := time.Now().In(loc)
	today = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, loc)
	_, err := jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: today.AddDate(0, 0, 30)})
	if !errors.Is(err, jobs.ErrDate) || !strings.Contains(err.Error(), "today is "+today.Format(time.DateOnly)) {
		t.Fatalf("a run 30 days ahead: got %v, want ErrDate naming today %s", err, today.Format(time.DateOnly))
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("the refused run wrote %d entries into the output, want none", len(ents))
	}
	for _, back := range []int{5, 2} {
		if _, err := jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: today.AddDate(0, 0, -back)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := jobs.Run(t.Context(), cfg, "logins", jobs.Options{}); err != nil {
		t.Fatal(err)
	}
	st, err := load.NewDir(out)
	if err != nil {
		t.Fatal(err)
	}
	state, err := publish.ReadState(t.Context(), st, "logins", jobs.Shard{})
	if err != nil {
		t.Fatal(err)
	}
	for back := 1; back <= 7; back++ {
		d := today.AddDate(0, 0, -back).Format(time.DateOnly)
		if !state.Committed(d, d) {
			t.Errorf("day %s (D-%d) is not committed after the catch-up run", d, back)
		}
	}
	if d := today.Format(time.DateOnly); state.Committed(d, d) {
		t.Errorf("today %s, not complete yet, was committed", d)
	}
	if m := jobs.Missing(cfg.Jobs["logins"], state, time.Now()); len(m) != 0 {
		t.Errorf("missing after the catch-up: %v, want none", m)
	}
}
