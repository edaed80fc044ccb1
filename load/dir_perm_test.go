package load_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mallet-etl/mallet/load"
)

// TestDirNotWorldReadable checks that a local output's files (data, state
// written with WriteIf) are 0640 and its folders 0750 even under umask 0:
// tenant data must not be readable by other users of the machine.
func TestDirNotWorldReadable(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	root := filepath.Join(t.TempDir(), "out")
	d, err := load.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := d.Put(ctx, "job/data/dt=2026-11-25/run/part-00000.csv", strings.NewReader("a,b\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WriteIf(ctx, "job/_mallet/state.json", []byte("{}"), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Put(ctx, "job/symlinks/dt=2026-11-25/manifest", bytes.NewReader([]byte("x\n"))); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o640)
		if e.IsDir() {
			want = 0o750
		}
		if got := info.Mode().Perm(); got != want && path != root {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
		if info.Mode().Perm()&0o007 != 0 {
			t.Errorf("%s: mode %v is open to other users", path, info.Mode().Perm())
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Fatalf("walked only %d entries", n)
	}
	if info, err := os.Stat(root); err != nil || info.Mode().Perm()&0o007 != 0 {
		t.Errorf("root %s: %v %v", root, info.Mode(), err)
	}
}
