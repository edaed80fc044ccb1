package main

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

func TestStartMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	boom := errors.New("cannot read memory.max")
	tests := []struct {
		name       string
		env        string // GOMEMLIMIT, "" for unset
		provider   memlimit.Provider
		wantBytes  int64
		wantSource string
		wantLog    string
	}{
		{"container limit", "", memlimit.Limit(1 << 30), 858993459, "cgroup", `"memory limit from the container" gomemlimit=858993459 share=0.8`},
		{"GOMEMLIMIT wins", "300MiB", memlimit.Limit(1 << 30), 300 << 20, "GOMEMLIMIT", `"memory limit from GOMEMLIMIT" gomemlimit=314572800`},
		{"no container limit", "", func() (uint64, error) { return 0, memlimit.ErrNoLimit }, math.MaxInt64, "none", `memory limit: none`},
		{"not in a cgroup", "", func() (uint64, error) { return 0, memlimit.ErrNoCgroup }, math.MaxInt64, "none", `memory limit: none`},
		{"unreadable", "", func() (uint64, error) { return 0, boom }, math.MaxInt64, "none", `level=WARN msg="memory limit: none; the container's limit could not be read" error=`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			if tt.env != "" {
				t.Setenv("GOMEMLIMIT", tt.env)
				// The runtime reads GOMEMLIMIT at start; this test process
				// started without it.
				debug.SetMemoryLimit(300 << 20)
			}
			got := startMemoryLimit(tt.provider)
			if got.bytes != tt.wantBytes || got.source != tt.wantSource {
				t.Errorf("got %d bytes from %q, want %d from %q", got.bytes, got.source, tt.wantBytes, tt.wantSource)
			}
			if in := debug.SetMemoryLimit(-1); in != tt.wantBytes {
				t.Errorf("limit in force: got %d, want %d", in, tt.wantBytes)
			}
			var out bytes.Buffer
			got.log(slog.New(slog.NewTextHandler(&out, nil)))
			if !strings.Contains(out.String(), tt.wantLog) {
				t.Errorf("log: got %q, want it to contain %q", out.String(), tt.wantLog)
			}
		})
	}
}
