package jobs_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	for _, f := range slices.Backward(atEnd.fns) {
		f()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// atEnd holds clean-ups that outlive the test that registered them (the
// shared fleets'); TestMain runs them, last first, after every test.
var atEnd struct {
	mu  sync.Mutex
	fns []func()
}

// runScoped is a test whose clean-ups wait for the end of the test run;
// its failures and skips are the test's.
type runScoped struct{ testing.TB }

func (r runScoped) Cleanup(f func()) {
	atEnd.mu.Lock()
	defer atEnd.mu.Unlock()
	atEnd.fns = append(atEnd.fns, f)
}

var shared struct {
	mu     sync.Mutex
	fleets map[int]*fleet
}

// sharedFleet returns a fleet of n tenants built once per test run, for
// the tests that only read it: no DDL, no writes, no locks, no users.
// Loading the sample is most of what those tests cost.
func sharedFleet(t *testing.T, n int) *fleet {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if f := shared.fleets[n]; f != nil {
		return f
	}
	f := newFleet(runScoped{t}, n)
	if shared.fleets == nil {
		shared.fleets = map[int]*fleet{}
	}
	shared.fleets[n] = f
	return f
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
