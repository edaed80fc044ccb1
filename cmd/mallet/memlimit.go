package main

import (
	"errors"
	"log/slog"
	"math"
	"os"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// memoryLimitRatio is the share of the container's memory given to Go's
// soft limit: the rest is for what the limit does not count (the binary's
// own pages, thread stacks) and a margin before the kernel's OOM killer.
const memoryLimitRatio = 0.8

// memoryLimit is what start-up did about Go's soft memory limit.
type memoryLimit struct {
	bytes  int64  // the limit in force; math.MaxInt64 for none
	source string // "GOMEMLIMIT", "cgroup" or "none"
	err    error  // why the container's limit could not be read, if it could not
}

// startMemoryLimit sets Go's soft memory limit to memoryLimitRatio of the
// memory limit that provider reports (the container's, from its cgroup),
// unless GOMEMLIMIT is set, which the Go runtime has applied already. The
// garbage collector then works harder near the limit instead of letting the
// heap grow to twice the live data, so the kernel does not kill a task whose
// data fits.
func startMemoryLimit(provider memlimit.Provider) memoryLimit {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return memoryLimit{bytes: debug.SetMemoryLimit(-1), source: "GOMEMLIMIT"}
	}
	limit, err := memlimit.Set(memlimit.WithRatio(memoryLimitRatio), memlimit.WithProvider(provider))
	switch {
	case err != nil:
		// No cgroup (not Linux, not in a container) is no error here.
		if errors.Is(err, memlimit.ErrNoCgroup) || errors.Is(err, memlimit.ErrCgroupsNotSupported) {
			err = nil
		}
		return memoryLimit{bytes: debug.SetMemoryLimit(-1), source: "none", err: err}
	case limit == math.MaxInt64:
		return memoryLimit{bytes: limit, source: "none"}
	}
	return memoryLimit{bytes: limit, source: "cgroup"}
}

// log says which soft memory limit is in force, and why: the first line
// of the long-running commands.
func (m memoryLimit) log(log *slog.Logger) {
	switch {
	case m.err != nil:
		log.Warn("memory limit: none; the container's limit could not be read", "error", m.err)
	case m.source == "none":
		log.Info("memory limit: none (no container memory limit, no GOMEMLIMIT)")
	case m.source == "cgroup":
		log.Info("memory limit from the container", "gomemlimit", m.bytes, "share", memoryLimitRatio)
	default:
		log.Info("memory limit from GOMEMLIMIT", "gomemlimit", m.bytes)
	}
}

// startup is what main did about the memory limit, for the commands to log.
var startup memoryLimit
