package jobs

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Test hook, inert unless the environment sets it: with
// MALLET_TEST_CRASH_AT=<point>[#<n>] the process kills itself with SIGKILL
// the n-th time (default the first) a run reaches that point, so crash
// tests can stop the real binary at an exact step. The points, in the
// order a run reaches them: start (lease held, state read), upload (in the
// middle of the first part's upload), part (a part finished, others may
// still be open), uploaded (all data written),
// manifest (run manifest written), committed (state written), symlinked
// (symlink written), collected (clean-up done, lease still held).
var crashAt = struct {
	point string
	n     int
	mu    sync.Mutex
	seen  int
}{point: os.Getenv("MALLET_TEST_CRASH_AT")}

func init() {
	p, n, ok := strings.Cut(crashAt.point, "#")
	crashAt.point, crashAt.n = p, 1
	if ok {
		crashAt.n, _ = strconv.Atoi(n)
	}
}

// crashpoint kills the process if the test hook names point.
func crashpoint(point string) {
	if crashAt.point != point {
		return
	}
	crashAt.mu.Lock()
	crashAt.seen++
	hit := crashAt.seen == crashAt.n
	crashAt.mu.Unlock()
	if hit {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
