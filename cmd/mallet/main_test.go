package main

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// binDir holds the binaries this test run builds, removed at the end.
var binDir string

// TestMain also lets a test run this test binary as mallet itself (see
// runSelf): with MALLET_TEST_AS_MAIN=1 it is main, exit code included.
func TestMain(m *testing.M) {
	if os.Getenv("MALLET_TEST_AS_MAIN") == "1" {
		main()
	}
	dir, err := os.MkdirTemp("", "mallet-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build is one binary, built on first use.
type build struct {
	once sync.Once
	path string
	out  []byte
	err  error
}

// builds are the two binaries the tests run: the full one (with the demo)
// and the production one (-tags nodemo, as the Dockerfile builds it).
var builds = map[string]*build{"": {}, "nodemo": {}}

// malletBinary returns the mallet binary built with tags ("" or "nodemo"),
// building it once per test run. Tests that run the binary are the full
// suite's: under -short the test is skipped, so call this first.
func malletBinary(t *testing.T, tags string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the mallet binary: not in -short")
	}
	b := builds[tags]
	b.once.Do(func() {
		b.path = filepath.Join(binDir, "mallet-"+cmp.Or(tags, "full"))
		b.out, b.err = exec.Command("go", "build", "-tags", tags, "-o", b.path, ".").CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("go build -tags %q: %v\n%s", tags, b.err, b.out)
	}
	return b.path
}
