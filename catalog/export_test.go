package catalog

import (
	"testing"
	"time"
)

// FastRetries shortens the SDK's backoff between attempts for the rest of
// t, so tests of throttling and dead endpoints take milliseconds.
func FastRetries(t testing.TB) {
	old := maxBackoff
	maxBackoff = time.Millisecond
	t.Cleanup(func() { maxBackoff = old })
}
