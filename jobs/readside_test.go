package jobs_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/jobs"
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
