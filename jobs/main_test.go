package jobs_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mallet-etl/mallet/internal/testdb"
)

// binDir holds the mallet binary the crash and stall tests run, built once
// per test run and removed at the end.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mallet-jobs-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var binary struct {
	once sync.Once
	path string
	out  []byte
	err  error
}

// buildMallet returns the real binary, building it on first use. Tests
// that run it (and kill or stop it) are the full suite's: under -short the
// test is skipped, so call this first.
func buildMallet(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the mallet binary: not in -short")
	}
	binary.once.Do(func() {
		binary.path = filepath.Join(binDir, "mallet")
		cmd := exec.Command("go", "build", "-o", binary.path, "./cmd/mallet")
		cmd.Dir = testdb.Root()
		binary.out, binary.err = cmd.CombinedOutput()
	})
	if binary.err != nil {
		t.Fatalf("go build: %v\n%s", binary.err, binary.out)
	}
	return binary.path
}
