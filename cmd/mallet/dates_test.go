package main

import (
	"fmt"
	"testing"

	"github.com/mallet-etl/mallet/jobs"
)

// TestExitCodeDate: a run refused for its dates exits 2, like a usage error.
func TestExitCodeDate(t *testing.T) {
	err := fmt.Errorf("job j: --date 2030-01-01 is after today: %w", jobs.ErrDate)
	if got := exitCode(err); got != exitUsage {
		t.Errorf("got exit %d, want %d", got, exitUsage)
	}
}
