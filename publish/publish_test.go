package publish_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/publish"
	"github.com/mallet-etl/mallet/schema"
)

var unsharded = publish.Shard{}

// TestProtocol runs three runs of one snapshot partition through every
// step, in the order a run calls them, and checks what a reader sees after
// each: nothing new before the symlink write, then exactly the new run;
// the run it replaced stays (as Previous, for queries in flight) until the
// next commit, and older runs are deleted.
func TestProtocol(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx := t.Context()
		var prev *publish.RunManifest
		for n := 1; n <= 3; n++ {
			l, err := publish.AcquireLease(ctx, st, job, unsharded, time.Minute, nil)
			if err != nil {
				t.Fatalf("run %d: lease: %v", n, err)
			}
			state, err := publish.ReadState(ctx, st, job, unsharded)
			if err != nil {
				t.Fatal(err)
			}
			if rolled, err := publish.RollForward(ctx, st, state, false); err != nil || len(rolled) != 0 {
				t.Fatalf("run %d: roll forward = %v, %v; want nothing to do", n, rolled, err)
			}
			m := upload(t, st, unsharded, "", runID(n), fmt.Sprintf("run %d, tenant 1\n", n), fmt.Sprintf("run %d, tenant 2\nrow 2\n", n))
			if err := publish.WriteRunManifest(ctx, st, m); err != nil {
				t.Fatal(err)
			}
			if got, want := m.Key, publish.RunManifestKey(job, date, unsharded, runID(n)); got != want {
				t.Errorf("run manifest key %q, want %q", got, want)
			}
			if got, want := m.Rows, int64(3); got != want {
				t.Errorf("run manifest rows = %d, want %d", got, want)
			}
			if err := publish.Verify(ctx, st, m); err != nil {
				t.Fatal(err)
			}
			if err := l.Renew(ctx); err != nil {
				t.Fatal(err)
			}
			next := state.Next(m, time.Now())
			if err := publish.Commit(ctx, st, next); err != nil {
				t.Fatalf("run %d: commit: %v", n, err)
			}
			if got, want := symlinked(t, st, unsharded), uris(prev); !slices.Equal(got, want) {
				t.Errorf("run %d committed, before its symlink: readers see %v, want the previous run's %v", n, got, want)
			}
			if unchanged, err := publish.WriteSymlink(ctx, st, next, date); err != nil || unchanged {
				t.Fatalf("run %d: symlink = unchanged %v, %v; want written", n, unchanged, err)
			}
			if got, want := symlinked(t, st, unsharded), uris(m); !slices.Equal(got, want) {
				t.Errorf("run %d: readers see %v, want %v", n, got, want)
			}
			if err := publish.CleanUp(ctx, st, state, next, date, time.Hour); err != nil {
				t.Fatal(err)
			}
			want := []string{runID(n)}
			if n > 1 {
				want = []string{runID(n - 1), runID(n)}
			}
			if got := runsUnder(t, st, unsharded); !slices.Equal(got, want) {
				t.Errorf("after run %d's clean-up the partition holds runs %v, want %v", n, got, want)
			}
			l.Release(ctx)
			info, _, ok, err := publish.ReadLease(ctx, st, job, unsharded)
			if err != nil || !ok || !info.Expired(time.Now()) {
				t.Errorf("after release: lease %+v, exists %v, %v; want an expired lease", info, ok, err)
			}
			prev = m
		}
		state, err := publish.ReadState(ctx, st, job, unsharded)
		if err != nil {
			t.Fatal(err)
		}
		p := state.Partitions[date]
		if p == nil || len(p.Runs) != 1 || p.Runs[0].RunID != runID(3) || len(p.Previous) != 1 || p.Previous[0].RunID != runID(2) {
			t.Fatalf("state's partition = %+v, want run 3 committed and run 2 previous", p)
		}
		got := p.Runs[0]
		if want := (publish.CommittedRun{RunID: runID(3), Manifest: prev.Key, Rows: 3, Objects: 2, Committed: got.Committed}); got != want || got.Committed.IsZero() {
			t.Errorf("committed run = %+v, want %+v with a commit time", got, want)
		}
		if state.LastRun != runID(3) || !slices.Equal(state.Last, []string{date}) || !state.Schema.Equal(testSchema) {
			t.Errorf("state last run %q, partitions %v, schema %v; want %s, [%s], %v", state.LastRun, state.Last, state.Schema, runID(3), date, testSchema)
		}
	})
}

// TestRollForward stops a run between its commit and its symlink write, as
// a kill there does: readers still see the previous run, `state show`
// reports the lag, and the next run's roll-forward makes readers see the
// committed run before anything else.
func TestRollForward(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx := t.Context()
		s0, err := publish.ReadState(ctx, st, job, unsharded)
		if err != nil {
			t.Fatal(err)
		}
		m1 := upload(t, st, unsharded, "", runID(1), "one\n")
		s1 := commit(t, st, s0, m1)
		if _, err := publish.WriteSymlink(ctx, st, s1, date); err != nil {
			t.Fatal(err)
		}
		m2 := upload(t, st, unsharded, "", runID(2), "two\n", "three\n")
		commit(t, st, s1, m2) // killed here, before the symlink write

		if got, want := symlinked(t, st, unsharded), uris(m1); !slices.Equal(got, want) {
			t.Fatalf("after the kill readers see %v, want run 1's %v", got, want)
		}
		state, err := publish.ReadState(ctx, st, job, unsharded)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := publish.SymlinkDrift(ctx, st, state); err != nil || !slices.Equal(got, []string{date}) {
			t.Errorf("drift = %v, %v; want [%s]", got, err, date)
		}
		if got, want := symlinked(t, st, unsharded), uris(m1); !slices.Equal(got, want) {
			t.Errorf("SymlinkDrift wrote: readers see %v, want %v", got, want)
		}
		rolled, err := publish.RollForward(ctx, st, state, false)
		if err != nil || !slices.Equal(rolled, []string{date}) {
			t.Fatalf("roll forward = %v, %v; want [%s]", rolled, err, date)
		}
		if got, want := symlinked(t, st, unsharded), uris(m2); !slices.Equal(got, want) {
			t.Errorf("after the roll-forward readers see %v, want run 2's %v", got, want)
		}
		if got, err := publish.SymlinkDrift(ctx, st, state); err != nil || len(got) != 0 {
			t.Errorf("drift after the roll-forward = %v, %v; want none", got, err)
		}
		if rolled, err := publish.RollForward(ctx, st, state, false); err != nil || len(rolled) != 0 {
			t.Errorf("second roll forward = %v, %v; want nothing to do", rolled, err)
		}
	})
}

// TestSymlinkAppends commits runs into slots of one partition, as window
// and incremental runs do: the symlink lists every committed slot's files
// in commit order, a run with no files adds none, and a run replaces only
// its own slot.
func TestSymlinkAppends(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx := t.Context()
		state, err := publish.ReadState(ctx, st, job, unsharded)
		if err != nil {
			t.Fatal(err)
		}
		a := upload(t, st, unsharded, "2026-11-25T13", runID(1), "13h\n")
		empty := upload(t, st, unsharded, "2026-11-25T14", runID(2))
		b := upload(t, st, unsharded, "2026-11-25T15", runID(3), "15h\n", "15h bis\n")
		for _, m := range []*publish.RunManifest{a, empty, b} {
			state = commit(t, st, state, m)
		}
		if _, err := publish.WriteSymlink(ctx, st, state, date); err != nil {
			t.Fatal(err)
		}
		if got, want := symlinked(t, st, unsharded), uris(a, b); !slices.Equal(got, want) {
			t.Errorf("readers see %v, want %v", got, want)
		}
		a2 := upload(t, st, unsharded, "2026-11-25T13", runID(4), "13h again\n")
		state = commit(t, st, state, a2)
		if _, err := publish.WriteSymlink(ctx, st, state, date); err != nil {
			t.Fatal(err)
		}
		if got, want := symlinked(t, st, unsharded), uris(b, a2); !slices.Equal(got, want) {
			t.Errorf("after re-running 13h readers see %v, want %v", got, want)
		}
		if !state.Committed(date, "2026-11-25T14") || state.Committed(date, "2026-11-25T16") {
			t.Errorf("Committed: 14h %v, 16h %v; want true, false", state.Committed(date, "2026-11-25T14"), state.Committed(date, "2026-11-25T16"))
		}
	})
}

// TestCommitConflict commits two runs that read the same state: exactly
// the first wins, the second gets ErrStateChanged and changes nothing,
// whether the state existed (If-Match) or not (If-None-Match).
func TestCommitConflict(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx := t.Context()
		for i, name := range []string{"create", "replace"} {
			t.Run(name, func(t *testing.T) {
				a, err := publish.ReadState(ctx, st, job, unsharded)
				if err != nil {
					t.Fatal(err)
				}
				b, err := publish.ReadState(ctx, st, job, unsharded)
				if err != nil {
					t.Fatal(err)
				}
				ma := upload(t, st, unsharded, "", runID(2*i+1), "a\n")
				mb := upload(t, st, unsharded, "", runID(2*i+2), "b\n")
				for _, m := range []*publish.RunManifest{ma, mb} {
					if err := publish.WriteRunManifest(ctx, st, m); err != nil {
						t.Fatal(err)
					}
				}
				if err := publish.Commit(ctx, st, a.Next(ma, time.Now())); err != nil {
					t.Fatalf("first commit: %v", err)
				}
				err = publish.Commit(ctx, st, b.Next(mb, time.Now()))
				if !errors.Is(err, publish.ErrStateChanged) {
					t.Fatalf("second commit: got %v, want ErrStateChanged", err)
				}
				got, err := publish.ReadState(ctx, st, job, unsharded)
				if err != nil {
					t.Fatal(err)
				}
				if got.LastRun != ma.RunID || len(got.Partitions[date].Runs) != 1 {
					t.Errorf("state after the race: last run %s, partition %+v; want only %s", got.LastRun, got.Partitions[date], ma.RunID)
				}
				if len(b.Partitions) != i {
					t.Errorf("the losing run's state was changed: %+v", b.Partitions)
				}
			})
		}
	})
}

// lostResponse applies conditional writes of the state and then fails
// them as if the response had been lost and the retry had failed its
// condition: what S3 does when a PUT's response is lost in transit, a
// fault that cannot be produced on demand.
type lostResponse struct{ load.Store }

func (s lostResponse) WriteIf(ctx context.Context, key string, data []byte, ifMatch string) (string, error) {
	if _, err := s.Store.WriteIf(ctx, key, data, ifMatch); err != nil {
		return "", err
	}
	return "", fmt.Errorf("write %s: %w", key, load.ErrPrecondition)
}

// TestCommitLostResponse: a commit whose write was applied but answered
// with a failed condition is a won commit (the stored state is ours), and
// the next commit over it works.
func TestCommitLostResponse(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx := t.Context()
		s0, err := publish.ReadState(ctx, st, job, unsharded)
		if err != nil {
			t.Fatal(err)
		}
		m1 := upload(t, st, unsharded, "", runID(1), "one\n")
		if err := publish.WriteRunManifest(ctx, st, m1); err != nil {
			t.Fatal(err)
		}
		s1 := s0.Next(m1, time.Now())
		if err := publish.Commit(ctx, lostResponse{st}, s1); err != nil {
			t.Fatalf("commit with a lost response: got %v, want success", err)
		}
		m2 := upload(t, st, unsharded, "", runID(2), "two\n")
		if err := publish.WriteRunManifest(ctx, st, m2); err != nil {
			t.Fatal(err)
		}
		if err := publish.Commit(ctx, st, s1.Next(m2, time.Now())); err != nil {
			t.Fatalf("next commit: got %v, want success (the first commit's ETag kept)", err)
		}
	})
}

// TestStateVersion refuses a state written by a newer mallet.
func TestStateVersion(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		if _, err := st.Put(t.Context(), publish.StateKey(job, unsharded), strings.NewReader(`{"version": 2, "job": "logins"}`)); err != nil {
			t.Fatal(err)
		}
		_, err := publish.ReadState(t.Context(), st, job, unsharded)
		if err == nil || !strings.Contains(err.Error(), "version 2 is newer than this mallet's 1") {
			t.Errorf("got %v, want a version error", err)
		}
	})
}

// TestNext checks the state a commit writes, per mode: a snapshot or a
// window replaces its slot (the replaced run becomes Previous), an
// incremental run appends, and a run without columns keeps the schema.
func TestNext(t *testing.T) {
	run := func(slot, id string, s schema.Schema) *publish.RunManifest {
		return &publish.RunManifest{Job: job, RunID: id, Date: date, Slot: slot, Schema: s, Key: "k/" + id}
	}
	other := schema.Schema{schema.Tenant("x")}
	tests := []struct {
		name         string
		runs         []*publish.RunManifest
		wantRuns     []string
		wantPrevious []string
		wantSchema   schema.Schema
	}{
		{"snapshot replaces", []*publish.RunManifest{run("", "r1", testSchema), run("", "r2", other)}, []string{"r2"}, []string{"r1"}, other},
		{"previous only the last replaced", []*publish.RunManifest{run("", "r1", testSchema), run("", "r2", testSchema), run("", "r3", testSchema)}, []string{"r3"}, []string{"r2"}, testSchema},
		{"windows keep other slots", []*publish.RunManifest{run("T13", "r1", testSchema), run("T14", "r2", testSchema), run("T13", "r3", testSchema)}, []string{"r2", "r3"}, []string{"r1"}, testSchema},
		{"incremental appends", []*publish.RunManifest{run("r1", "r1", testSchema), run("r2", "r2", testSchema)}, []string{"r1", "r2"}, nil, testSchema},
		{"no columns keeps the schema", []*publish.RunManifest{run("", "r1", testSchema), run("", "r2", nil)}, []string{"r2"}, []string{"r1"}, testSchema},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &publish.State{Job: job}
			var states []*publish.State
			for _, m := range tt.runs {
				states = append(states, s)
				s = s.Next(m, time.Now())
			}
			ids := func(rs []publish.CommittedRun) []string {
				var out []string
				for _, r := range rs {
					out = append(out, r.RunID)
				}
				return out
			}
			p := s.Partitions[date]
			if got := ids(p.Runs); !slices.Equal(got, tt.wantRuns) {
				t.Errorf("runs %v, want %v", got, tt.wantRuns)
			}
			if got := ids(p.Previous); !slices.Equal(got, tt.wantPrevious) {
				t.Errorf("previous %v, want %v", got, tt.wantPrevious)
			}
			if !s.Schema.Equal(tt.wantSchema) {
				t.Errorf("schema %v, want %v", s.Schema, tt.wantSchema)
			}
			if last := tt.runs[len(tt.runs)-1]; s.LastRun != last.RunID || p.Runs[len(p.Runs)-1].Manifest != last.Key {
				t.Errorf("last run %s (manifest %s), want %s (%s)", s.LastRun, p.Runs[len(p.Runs)-1].Manifest, last.RunID, last.Key)
			}
			for i, old := range states[1:] {
				if got := len(old.Partitions[date].Runs); got > i+1 {
					t.Errorf("Next changed the state it was called on: %d runs", got)
				}
			}
		})
	}
}

// TestVerify checks the last look before a commit: every part is stored,
// with the size the run counted.
func TestVerify(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		m := upload(t, st, unsharded, "", runID(1), "one\n", "two\n")
		tests := []struct {
			name string
			edit func(m *publish.RunManifest)
			want string // "" for no error
		}{
			{"all there", func(*publish.RunManifest) {}, ""},
			{"no parts", func(m *publish.RunManifest) { m.Objects = nil }, ""},
			{"part missing", func(m *publish.RunManifest) {
				key := publish.PartKey(job, date, unsharded, runID(1), 7, "csv")
				m.Objects = append(m.Objects, publish.Object{Key: key, URI: st.URI(key), Bytes: 4})
			}, "part-00007.csv is missing"},
			{"part short", func(m *publish.RunManifest) { m.Objects[1].Bytes++ }, "part-00001.csv has 4 bytes, want 5"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := *m
				c.Objects = slices.Clone(m.Objects)
				tt.edit(&c)
				err := publish.Verify(t.Context(), st, &c)
				checkErr(t, err, tt.want)
			})
		}
	})
}

// TestCleanUp checks what clean-up deletes in a shard's folder of a
// partition, and what it must leave: the committed and previous runs, a
// run no state knows while it is younger than the grace period (its
// writer may be alive after losing its lease), and everything of the
// other shards, which run at the same time.
func TestCleanUp(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx := t.Context()
		mine, other := publish.Shard{K: 1, N: 2}, publish.Shard{K: 2, N: 2}
		s0, err := publish.ReadState(ctx, st, job, mine)
		if err != nil {
			t.Fatal(err)
		}
		s1 := commit(t, st, s0, upload(t, st, mine, "", runID(1), "one\n"))
		s2 := commit(t, st, s1, upload(t, st, mine, "", runID(2), "two\n"))
		// A run that failed after its manifest, and one killed mid-upload.
		orphan := upload(t, st, mine, "", runID(3), "three\n")
		if err := publish.WriteRunManifest(ctx, st, orphan); err != nil {
			t.Fatal(err)
		}
		st.unfinished(publish.PartKey(job, date, mine, runID(4), 0, "csv"))
		// Killed while writing a run manifest and the symlink manifest.
		st.unfinished(publish.RunManifestKey(job, date, mine, runID(4)))
		st.unfinished(publish.SymlinkKey(job, date, mine))
		// The other shard's run in flight: its parts and pending writes.
		upload(t, st, other, "", runID(5), "five\n")
		st.unfinished(publish.PartKey(job, date, other, runID(5), 1, "csv"))
		st.unfinished(publish.RunManifestKey(job, date, other, runID(5)))
		st.unfinished(publish.SymlinkKey(job, date, other))
		otherKeys := keys(t, st, publish.DataPrefix(job, date)+other.Dir()+"/")

		steps := []struct {
			name   string
			prev   *publish.State
			next   func() *publish.State
			grace  time.Duration
			want   []string // runs left in the shard's folders
			reason string
		}{
			{"within grace", s1, func() *publish.State { return s2 }, time.Hour,
				[]string{runID(1), runID(2), runID(3)}, "run 1 is previous, run 3 young"},
			{"grace over", s1, func() *publish.State { return s2 }, 0,
				[]string{runID(1), runID(2)}, "run 3 was never committed and is older than the grace"},
			{"forgotten at once", s2, func() *publish.State {
				return commit(t, st, s2, upload(t, st, mine, "", runID(6), "six\n"))
			}, time.Hour, []string{runID(2), runID(6)}, "run 1 left the state: no grace"},
		}
		for _, step := range steps {
			next := step.next()
			if err := publish.CleanUp(ctx, st, step.prev, next, date, step.grace); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			if got := runsUnder(t, st, mine); !slices.Equal(got, step.want) {
				t.Errorf("%s: runs left %v, want %v (%s)", step.name, got, step.want, step.reason)
			}
			if got := st.pending(job + "/"); len(got) != 3 || slices.ContainsFunc(got, func(k string) bool { return strings.Contains(k, mine.Dir()) }) {
				t.Errorf("%s: unfinished writes left: %v, want only the other shard's 3", step.name, got)
			}
			if got := keys(t, st, publish.DataPrefix(job, date)+other.Dir()+"/"); !slices.Equal(got, otherKeys) {
				t.Errorf("%s: the other shard's files are %v, want untouched %v", step.name, got, otherKeys)
			}
		}
	})
}

// TestDiscard removes what a failed run wrote, and only that.
func TestDiscard(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx := t.Context()
		s0, err := publish.ReadState(ctx, st, job, unsharded)
		if err != nil {
			t.Fatal(err)
		}
		commit(t, st, s0, upload(t, st, unsharded, "", runID(1), "one\n"))
		failed := upload(t, st, unsharded, "", runID(2), "two\n", "three\n")
		if err := publish.WriteRunManifest(ctx, st, failed); err != nil {
			t.Fatal(err)
		}
		st.unfinished(publish.PartKey(job, date, unsharded, runID(2), 2, "csv"))
		if err := publish.Discard(ctx, st, job, date, unsharded, runID(2)); err != nil {
			t.Fatal(err)
		}
		if got, want := runsUnder(t, st, unsharded), []string{runID(1)}; !slices.Equal(got, want) {
			t.Errorf("after discarding run 2 the partition holds runs %v, want %v", got, want)
		}
		if got := st.pending(publish.RunDataPrefix(job, date, unsharded, runID(2))); len(got) != 0 {
			t.Errorf("unfinished writes of the failed run left: %v", got)
		}
	})
}

// TestCheckShardCount refuses to publish into a partition whose symlink
// manifests were written with another shard count.
func TestCheckShardCount(t *testing.T) {
	tests := []struct {
		name     string
		existing []publish.Shard // shards whose symlink manifest exists
		run      publish.Shard
		want     string
	}{
		{"first", nil, publish.Shard{K: 1, N: 2}, ""},
		{"same count", []publish.Shard{{K: 1, N: 2}}, publish.Shard{K: 2, N: 2}, ""},
		{"unsharded again", []publish.Shard{unsharded}, unsharded, ""},
		{"sharded over unsharded", []publish.Shard{unsharded}, publish.Shard{K: 1, N: 2}, "published with 1 shard(s), this run has 2"},
		{"unsharded over sharded", []publish.Shard{{K: 1, N: 4}}, unsharded, "published with 4 shard(s), this run has 1"},
		{"other count", []publish.Shard{{K: 3, N: 4}}, publish.Shard{K: 1, N: 2}, "published with 4 shard(s), this run has 2: run it with --shard K/4"},
	}
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					st := sc.open(t)
					for _, s := range tt.existing {
						if _, err := st.Put(t.Context(), publish.SymlinkKey(job, date, s), strings.NewReader("")); err != nil {
							t.Fatal(err)
						}
					}
					err := publish.CheckShardCount(t.Context(), st, job, date, tt.run)
					checkErr(t, err, tt.want)
				})
			}
		})
	}
}

// TestPeers reads the partition as the other shards' runs see it: a run
// sees the committed runs of the other shards (not their uncommitted
// ones, and not the run its own commit replaces), and LatestRun is the
// newest commit of any shard.
func TestPeers(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx := t.Context()
		s1, s2 := publish.Shard{K: 1, N: 2}, publish.Shard{K: 2, N: 2}
		if latest, err := publish.LatestRun(ctx, st, job); err != nil || latest != nil {
			t.Fatalf("latest run before any commit = %v, %v; want nil", latest, err)
		}
		read := func(s publish.Shard) *publish.State {
			state, err := publish.ReadState(ctx, st, job, s)
			if err != nil {
				t.Fatal(err)
			}
			return state
		}
		m1 := upload(t, st, s1, "", runID(1), "one\n")
		commit(t, st, read(s1), m1)
		m2 := upload(t, st, s2, "", runID(2), "two\n", "three\n")
		commit(t, st, read(s2), m2)
		uncommitted := upload(t, st, s2, "", runID(3), "four\n")
		if err := publish.WriteRunManifest(ctx, st, uncommitted); err != nil {
			t.Fatal(err)
		}

		peers, err := publish.Peers(ctx, st, job, date, s1, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(peers) != 1 || peers[0].RunID != m2.RunID || peers[0].Shard != "s2of2" || !slices.Equal(uris(peers[0]), uris(m2)) {
			t.Errorf("peers of shard 1 = %+v, want shard 2's committed run %s", peers, m2.RunID)
		}
		next := upload(t, st, s1, "", runID(4), "five\n")
		files, err := publish.PartitionFiles(ctx, st, next)
		if err != nil {
			t.Fatal(err)
		}
		if want := uris(next, m2); !slices.Equal(files, want) {
			t.Errorf("partition files once run 4 commits = %v, want %v", files, want)
		}
		latest, err := publish.LatestRun(ctx, st, job)
		if err != nil {
			t.Fatal(err)
		}
		if latest == nil || latest.RunID != m2.RunID || latest.Key != m2.Key || !latest.Schema.Equal(testSchema) || latest.Date != date {
			t.Errorf("latest run = %+v, want %s at %s", latest, m2.RunID, m2.Key)
		}
	})
}

// TestResetCursors forgets cursors only while no run holds the lease, and
// with a conditional write like a commit.
func TestResetCursors(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx := t.Context()
		s0, err := publish.ReadState(ctx, st, job, unsharded)
		if err != nil {
			t.Fatal(err)
		}
		m := upload(t, st, unsharded, "r1", runID(1), "one\n")
		if err := publish.WriteRunManifest(ctx, st, m); err != nil {
			t.Fatal(err)
		}
		next := s0.Next(m, time.Now())
		next.SetCursor("db1/a", &publish.TenantState{Cursor: "5", Seen: map[string]string{"k": "5"}}, "int")
		next.SetCursor("db1/b", &publish.TenantState{Cursor: "7"}, "")
		if err := publish.Commit(ctx, st, next); err != nil {
			t.Fatal(err)
		}
		l, err := publish.AcquireLease(ctx, st, job, unsharded, time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := publish.ResetCursors(ctx, st, job, unsharded, ""); !errors.Is(err, publish.ErrLocked) {
			t.Errorf("reset while a run holds the lease: got %v, want ErrLocked", err)
		}
		l.Release(ctx)
		steps := []struct {
			tenant string
			n      int
			err    string
			left   []string
			kind   string
		}{
			{"db1/c", 0, `no cursor for tenant "db1/c" (tenants: db1/a, db1/b)`, []string{"db1/a", "db1/b"}, "int"},
			{"db1/a", 1, "", []string{"db1/b"}, "int"},
			{"", 1, "", nil, ""},
			{"", 0, "", nil, ""},
		}
		for _, step := range steps {
			n, err := publish.ResetCursors(ctx, st, job, unsharded, step.tenant)
			if step.err != "" && (err == nil || !strings.Contains(err.Error(), step.err)) || step.err == "" && err != nil {
				t.Fatalf("reset %q: got %v, want error %q", step.tenant, err, step.err)
			}
			if n != step.n {
				t.Errorf("reset %q reset %d tenants, want %d", step.tenant, n, step.n)
			}
			state, err := publish.ReadState(ctx, st, job, unsharded)
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for k := range state.Tenants {
				left = append(left, k)
			}
			slices.Sort(left)
			if !slices.Equal(left, step.left) || state.CursorKind != step.kind {
				t.Errorf("after reset %q: cursors of %v (kind %q), want %v (%q)", step.tenant, left, state.CursorKind, step.left, step.kind)
			}
			if !state.Committed(date, "r1") {
				t.Errorf("after reset %q the committed run is gone", step.tenant)
			}
		}
	})
}

// checkErr checks err against want: nil when want is empty, else an error
// whose text contains want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" && err != nil {
		t.Errorf("got %v, want nil", err)
	}
	if want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
		t.Errorf("got %v, want an error containing %q", err, want)
	}
}
