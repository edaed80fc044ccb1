package jobs

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Test hooks, inert unless the environment sets them: with
// MALLET_TEST_CRASH_AT=<point>[#<n>] the process kills itself with SIGKILL
// the n-th time (default the first) a run reaches that point, so crash
// tests can stop the real binary at an exact step; with
// MALLET_TEST_PAUSE_AT=<point>[#<n>] it stops itself with SIGSTOP there
// instead, frozen whole (its lease keeper too) as by a frozen VM, until
// the test sends SIGCONT. The points, in the order a run reaches them:
// start (lease held, state read), upload (in the middle of the first
// part's upload), part (a part finished, others may still be open),
// uploaded (all data written), manifest (run manifest
// written), committed (state written), symlinked (symlink and, for CSV,
// QuickSight manifests written), collected (clean-up done, lease still held).
var (
	crashAt = newHook("MALLET_TEST_CRASH_AT", syscall.SIGKILL)
	pauseAt = newHook("MALLET_TEST_PAUSE_AT", syscall.SIGSTOP)
)

type hook struct {
	point string
	n     int
	sig   syscall.Signal
	mu    sync.Mutex
	seen  int
}

func newHook(env string, sig syscall.Signal) *hook {
	h := &hook{n: 1, sig: sig}
	p, n, ok := strings.Cut(os.Getenv(env), "#")
	h.point = p
	if ok {
		h.n, _ = strconv.Atoi(n)
	}
	return h
}

// hit reports whether this is the time the hook fires at point.
func (h *hook) hit(point string) bool {
	if h.point != point {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen++
	return h.seen == h.n
}

// crashpoint kills or pauses the process if a test hook names point.
func crashpoint(point string) {
	if pauseAt.hit(point) {
		// SIGSTOP stops every thread at once; SIGCONT resumes here.
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	}
	if crashAt.hit(point) {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
