package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/publish"
)

func readLease(t *testing.T, st load.Store) publish.LeaseInfo {
	t.Helper()
	info, _, ok, err := publish.ReadLease(t.Context(), st, job, unsharded)
	if err != nil || !ok {
		t.Fatalf("read lease: exists %v, %v", ok, err)
	}
	return info
}

// waitFor polls cond for up to 10 s: the timing tests only ever wait for
// something that must happen, so a slow machine makes them slower, never
// wrong.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

// TestLease takes, renews and releases a lease, and checks that a second
// holder is kept out while it is live and let in once it is released.
func TestLease(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx := t.Context()
		if _, _, ok, err := publish.ReadLease(ctx, st, job, unsharded); ok || err != nil {
			t.Fatalf("lease of a new job: exists %v, %v; want none", ok, err)
		}
		a, err := publish.AcquireLease(ctx, st, job, unsharded, time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		first := readLease(t, st)
		host, _ := os.Hostname()
		if first.Host != host || first.PID != os.Getpid() || first.Job != job || first.Holder == "" || first.Expired(time.Now()) {
			t.Errorf("lease %+v, want held by this process on %s for a minute", first, host)
		}
		_, err = publish.AcquireLease(ctx, st, job, unsharded, time.Minute, nil)
		if !errors.Is(err, publish.ErrLocked) || !strings.Contains(err.Error(), "is held by "+first.Holder) {
			t.Fatalf("second holder: got %v, want ErrLocked naming the holder", err)
		}
		time.Sleep(time.Millisecond)
		if err := a.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		if renewed := readLease(t, st); !renewed.Expires.After(first.Expires) || renewed.Holder != first.Holder || !renewed.Acquired.Equal(first.Acquired) {
			t.Errorf("after renewal: %+v, want %+v with a later expiry", renewed, first)
		}
		a.Release(ctx)
		if info := readLease(t, st); !info.Expired(time.Now()) {
			t.Errorf("after release: %+v, want expired", info)
		}
		b, err := publish.AcquireLease(ctx, st, job, unsharded, time.Minute, nil)
		if err != nil {
			t.Fatalf("after release: %v, want the lease", err)
		}
		defer b.Release(ctx)
		if info := readLease(t, st); info.Holder == first.Holder {
			t.Errorf("the new holder has the old holder's id %s", info.Holder)
		}
	})
}

// TestLeaseExpiry lets a lease expire without renewal: another run takes
// it over, the old holder's renewal then fails for good (ErrLeaseLost),
// and its release leaves the new holder's lease alone.
func TestLeaseExpiry(t *testing.T) {
	for _, renew := range []bool{true, false} {
		name := "release"
		if renew {
			name = "renew, then release"
		}
		t.Run(name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, st *testStore) {
				ctx := t.Context()
				a, err := publish.AcquireLease(ctx, st, job, unsharded, 100*time.Millisecond, nil)
				if err != nil {
					t.Fatal(err)
				}
				old := readLease(t, st)
				waitFor(t, "the lease to expire", func() bool { return old.Expired(time.Now()) })
				b, err := publish.AcquireLease(ctx, st, job, unsharded, time.Minute, nil)
				if err != nil {
					t.Fatalf("take-over of an expired lease: %v", err)
				}
				defer b.Release(ctx)
				taken := readLease(t, st)
				if taken.Holder == old.Holder {
					t.Fatalf("lease still names the old holder after the take-over")
				}
				if renew {
					for i := range 2 {
						if err := a.Renew(ctx); !errors.Is(err, publish.ErrLeaseLost) {
							t.Fatalf("old holder's renewal %d: got %v, want ErrLeaseLost", i+1, err)
						}
					}
				}
				a.Release(ctx)
				if info := readLease(t, st); info.Holder != taken.Holder || info.Expired(time.Now()) {
					t.Errorf("after the old holder's release: %+v, want the new holder's live lease", info)
				}
			})
		})
	}
}

// TestLeaseDamaged takes over a lease object that cannot be read, as if it
// had expired.
func TestLeaseDamaged(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		if _, err := st.Put(t.Context(), publish.LeaseKey(job, unsharded), strings.NewReader("{not json")); err != nil {
			t.Fatal(err)
		}
		l, err := publish.AcquireLease(t.Context(), st, job, unsharded, time.Minute, nil)
		if err != nil {
			t.Fatalf("got %v, want the damaged lease taken over", err)
		}
		l.Release(t.Context())
	})
}

// TestLeaseAfterKill: a holder killed while writing the lease or the state
// leaves unfinished writes; the next holder removes them, and leaves those
// of other shards alone.
func TestLeaseAfterKill(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		other := publish.Shard{K: 1, N: 2}
		for _, key := range []string{publish.LeaseKey(job, unsharded), publish.StateKey(job, unsharded), publish.StateKey(job, other)} {
			st.unfinished(key)
		}
		l, err := publish.AcquireLease(t.Context(), st, job, unsharded, time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release(t.Context())
		if got, want := st.pending(job+"/"), []string{publish.StateKey(job, other)}; !slices.Equal(got, want) {
			t.Errorf("unfinished writes after the take-over: %v, want only the other shard's %v", got, want)
		}
	})
}

// TestLeaseKeep: the holder's goroutine renews the lease, and when someone
// else writes the lease, it cancels the run with ErrLeaseLost; the release
// then leaves the other writer's lease alone.
func TestLeaseKeep(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx, cancel := context.WithCancelCause(t.Context())
		defer cancel(nil)
		l, err := publish.AcquireLease(ctx, st, job, unsharded, 3*time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.Keep(ctx, cancel)
		first := readLease(t, st)
		waitFor(t, "a renewal", func() bool { return readLease(t, st).Expires.After(first.Expires) })
		if ctx.Err() != nil {
			t.Fatalf("run cancelled while its lease was renewed: %v", context.Cause(ctx))
		}
		intruder := `{"holder": "intruder", "host": "elsewhere", "pid": 1, "job": "logins", "expires": "2999-01-01T00:00:00Z"}`
		if _, err := st.Put(t.Context(), publish.LeaseKey(job, unsharded), strings.NewReader(intruder)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the run was not cancelled within 10 s of losing its lease")
		}
		if err := context.Cause(ctx); !errors.Is(err, publish.ErrLeaseLost) {
			t.Errorf("run cancelled with %v, want ErrLeaseLost", err)
		}
		l.Release(t.Context())
		if info := readLease(t, st); info.Holder != "intruder" {
			t.Errorf("release overwrote the lease that was taken: %+v", info)
		}
	})
}

// TestLeaseRace: of runs that ask for a free lease at the same moment,
// exactly one gets it.
func TestLeaseRace(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		const n = 4
		errs := make([]error, n)
		leases := make([]*publish.Lease, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				leases[i], errs[i] = publish.AcquireLease(t.Context(), st, job, unsharded, time.Minute, nil)
			})
		}
		wg.Wait()
		won, locked := 0, 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
				leases[i].Release(t.Context())
			case errors.Is(err, publish.ErrLocked):
				locked++
			default:
				t.Errorf("acquire: %v", err)
			}
		}
		if won != 1 || locked != n-1 {
			t.Errorf("got %d holders and %d locked out, want 1 and %d", won, locked, n-1)
		}
	})
}

// logRecords is a slog handler that keeps every record, at every level.
type logRecords struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecords) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *logRecords) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecords) WithGroup(string) slog.Handler      { return h }

// TestLeaseTakeOverLog checks what acquiring a lease logs: nothing above
// debug after a clean release (the ordinary run), a warning with how stale
// it was after a holder that never released it.
func TestLeaseTakeOverLog(t *testing.T) {
	released := func(t *testing.T, st load.Store) {
		l, err := publish.AcquireLease(t.Context(), st, job, unsharded, time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.Release(t.Context())
	}
	crashed := func(t *testing.T, st load.Store) {
		// What a killed run leaves: its lease, expired 90 s ago.
		data, err := json.Marshal(publish.LeaseInfo{Holder: "0123456789abcdef", Host: "old-host", PID: 42, Job: job,
			Acquired: time.Now().Add(-3 * time.Minute).UTC(), Expires: time.Now().Add(-90 * time.Second).UTC()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.WriteIf(t.Context(), publish.LeaseKey(job, unsharded), data, ""); err != nil {
			t.Fatal(err)
		}
	}
	damaged := func(t *testing.T, st load.Store) {
		if _, err := st.WriteIf(t.Context(), publish.LeaseKey(job, unsharded), []byte("{not json"), ""); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		before func(*testing.T, load.Store)
		level  slog.Level
		msg    string
		attrs  map[string]string // attributes the record must have, with a prefix of their value
	}{
		{"first run", func(*testing.T, load.Store) {}, slog.LevelDebug, "lease acquired", nil},
		{"after a clean release", released, slog.LevelDebug, "lease acquired", nil},
		{"after a crash", crashed, slog.LevelWarn, "lease taken over from a run that never released it",
			map[string]string{"holder": "0123456789abcdef", "host": "old-host", "pid": "42", "stale": "1m3"}},
		{"damaged lease", damaged, slog.LevelWarn, "lease taken over: the lease object was unreadable", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, st *testStore) {
				tt.before(t, st)
				h := &logRecords{}
				l, err := publish.AcquireLease(t.Context(), st, job, unsharded, time.Minute, slog.New(h))
				if err != nil {
					t.Fatal(err)
				}
				defer l.Release(t.Context())
				var found *slog.Record
				for i, r := range h.records {
					if r.Level > slog.LevelDebug && r.Message != tt.msg {
						t.Errorf("logged %s %q, want nothing above debug but %q", r.Level, r.Message, tt.msg)
					}
					if r.Message == tt.msg {
						found = &h.records[i]
					}
				}
				if found == nil {
					t.Fatalf("no %q record in %d records", tt.msg, len(h.records))
				}
				if found.Level != tt.level {
					t.Errorf("%q logged at %s, want %s", tt.msg, found.Level, tt.level)
				}
				got := map[string]string{}
				found.Attrs(func(a slog.Attr) bool { got[a.Key] = a.Value.String(); return true })
				for k, prefix := range tt.attrs {
					if !strings.HasPrefix(got[k], prefix) {
						t.Errorf("attribute %s: got %q, want it to start with %q (record %v)", k, got[k], prefix, got)
					}
				}
			})
		})
	}
}
