package jobs_test

import (
	"bytes"
	"context"
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
	"github.com/mallet-etl/mallet/load/s3test"
)

// TestCleanUpFolders runs a job many times into a folder: clean-up keeps
// the last run and the one before it (for queries in flight), and leaves no
// empty folder behind, so data/ holds two run folders, not one per run.
func TestCleanUpFolders(t *testing.T) {
	f := newFleet(t, 2)
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
// second run takes the lease and publishes the same partition; then the
// first resumes. Readers must go on seeing the second run: the symlink
// the first writes is derived from the state committed now, not from the
// state it committed.
func TestStalledRun(t *testing.T) {
	bin := buildMallet(t)
	f := newFleet(t, 2)
	s3test.Start(t, "bucket")
	for _, store := range []string{"dir", "s3"} {
		t.Run(store, func(t *testing.T) {
			to, st := crashStore(t, store)
			cfgPath := filepath.Join(t.TempDir(), "config.yaml")
			text := strings.Replace(f.configText(loginsJob, to), "    output:", "    lease_ttl: 500ms\n    output:", 1)
			if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"run", "job", "logins", "--date", "2026-11-25", "--config", cfgPath, "--log-format", "json"}
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			stalled := exec.CommandContext(ctx, bin, args...)
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
			if r := runUntilFree(t, bin, nil, args...); r.code != 0 {
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
			_, runs := published(t, st, "logins", "2026-11-25")
			if len(runs) != 1 || !runs[second] {
				t.Errorf("after the stalled run %s resumed, the symlink lists runs %v; want only the newer run %s", first, runs, second)
			}
		})
	}
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
