package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/load/storetest"
	"github.com/mallet-etl/mallet/publish"
	"github.com/mallet-etl/mallet/schema"
)

// quickSightDoc is a manifest as QuickSight documents the format
// (supported-manifest-file-format.html), for the CSV mallet writes: the
// only keys, with every setting a string.
const quickSightDoc = `{
  "fileLocations": [{"URIs": %s}],
  "globalUploadSettings": {"format": "CSV", "delimiter": ",", "textqualifier": "\"", "containsHeader": "true"}
}`

// sameJSON reports whether two JSON documents hold the same values.
func sameJSON(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("manifest is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(g, w)
}

// quickSightURIs returns the URIs the QuickSight manifest at key lists,
// after checking it is in QuickSight's format; nil when there is none.
func quickSightURIs(t *testing.T, st load.Store, key string) []string {
	t.Helper()
	if len(keys(t, st, key)) == 0 {
		return nil
	}
	got := storetest.Read(t, st, key)
	var m publish.QuickSightManifest
	if err := json.Unmarshal(got, &m); err != nil || len(m.FileLocations) != 1 {
		t.Fatalf("%s is not a manifest of one location: %v\n%s", key, err, got)
	}
	uris, err := json.Marshal(m.FileLocations[0].URIs)
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, got, fmt.Sprintf(quickSightDoc, uris)) {
		t.Errorf("%s is not in QuickSight's format:\n%s", key, got)
	}
	return m.FileLocations[0].URIs
}

// TestQuickSightManifests commits runs of two shards into three dates,
// out of order, and writes the QuickSight manifests after each commit:
// each date's manifest lists its files, every shard's in commit order,
// and latest.json stays on the newest date committed. A partition over a
// limit gets no manifest, and latest.json is left as it was.
func TestQuickSightManifests(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx := t.Context()
		s1, s2 := publish.Shard{K: 1, N: 2}, publish.Shard{K: 2, N: 2}
		states := map[publish.Shard]*publish.State{}
		for _, sh := range []publish.Shard{s1, s2} {
			state, err := publish.ReadState(ctx, st, job, sh)
			if err != nil {
				t.Fatal(err)
			}
			states[sh] = state
		}
		files := map[string][]string{}
		steps := []struct {
			shard publish.Shard
			date  string
		}{
			{s1, "2026-11-24"}, {s1, "2026-11-26"}, {s1, "2026-11-25"}, {s2, "2026-11-25"},
		}
		for i, step := range steps {
			m := uploadOn(t, st, step.date, step.shard, "", runID(i+1), "a\n", "b\n")
			states[step.shard] = commit(t, st, states[step.shard], m)
			files[step.date] = append(files[step.date], uris(m)...)
			if unchanged, err := publish.WriteQuickSight(ctx, st, states[step.shard], step.date); err != nil || unchanged {
				t.Fatalf("step %d: WriteQuickSight = unchanged %v, %v; want written", i, unchanged, err)
			}
			if got, want := quickSightURIs(t, st, publish.QuickSightKey(job, step.date)), files[step.date]; !slices.Equal(got, want) {
				t.Errorf("step %d: dt=%s lists %v, want %v", i, step.date, got, want)
			}
		}
		if got, want := quickSightURIs(t, st, publish.QuickSightLatestKey(job)), files["2026-11-26"]; !slices.Equal(got, want) {
			t.Errorf("latest lists %v, want the 26th's %v", got, want)
		}
		if got, want := len(keys(t, st, publish.QuickSightPrefix(job))), 4; got != want {
			t.Errorf("got %d QuickSight manifests, want %d (3 dates and latest)", got, want)
		}

		// Over a limit, nothing is written.
		big := &publish.RunManifest{Job: job, RunID: runID(9), Date: "2026-11-27", Mode: "snapshot", Shard: s1.Dir(), Schema: testSchema}
		for i := range publish.QuickSightMaxFiles + 1 {
			key := publish.PartKey(job, big.Date, s1, big.RunID, i, "csv")
			big.Objects = append(big.Objects, publish.Object{URI: st.URI(key), Key: key})
		}
		if err := publish.WriteRunManifest(ctx, st, big); err != nil {
			t.Fatal(err)
		}
		next := states[s1].Next(big, time.Now())
		if err := publish.Commit(ctx, st, next); err != nil {
			t.Fatal(err)
		}
		if _, err := publish.WriteQuickSight(ctx, st, next, big.Date); !errors.Is(err, publish.ErrQuickSightLimit) {
			t.Errorf("too many files: got %v, want ErrQuickSightLimit", err)
		}
		if got := quickSightURIs(t, st, publish.QuickSightKey(job, big.Date)); got != nil {
			t.Errorf("a manifest over the limit was written: %d files", len(got))
		}
		if got, want := quickSightURIs(t, st, publish.QuickSightLatestKey(job)), files["2026-11-26"]; !slices.Equal(got, want) {
			t.Errorf("latest lists %v after a partition over the limit, want the 26th's still %v", got, want)
		}
	})
}

// TestQuickSightNewest: latest.json follows the newest date the state
// commits, not the date written nor the manifests stored, so a date whose
// QuickSight step never ran still becomes latest.
func TestQuickSightNewest(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx := t.Context()
		state, err := publish.ReadState(ctx, st, job, unsharded)
		if err != nil {
			t.Fatal(err)
		}
		newer := uploadOn(t, st, "2026-11-26", unsharded, "", runID(1), "26th\n")
		state = commit(t, st, state, newer) // stopped before its QuickSight step
		older := uploadOn(t, st, "2026-11-24", unsharded, "", runID(2), "24th\n")
		state = commit(t, st, state, older)
		if _, err := publish.WriteQuickSight(ctx, st, state, older.Date); err != nil {
			t.Fatal(err)
		}
		if got, want := quickSightURIs(t, st, publish.QuickSightKey(job, older.Date)), uris(older); !slices.Equal(got, want) {
			t.Errorf("dt=%s lists %v, want %v", older.Date, got, want)
		}
		if got, want := quickSightURIs(t, st, publish.QuickSightLatestKey(job)), uris(newer); !slices.Equal(got, want) {
			t.Errorf("latest lists %v, want the newest committed date's %v", got, want)
		}
	})
}

// racingStore runs race once, just before the first Put of key lands, as a
// commit of another run would while this one derives and writes.
type racingStore struct {
	load.Store
	key  string
	race func()
}

func (s *racingStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if key == s.key && s.race != nil {
		race := s.race
		s.race = nil
		race()
	}
	return s.Store.Put(ctx, key, r)
}

// TestQuickSightStalled: a run stalled after its commit resumes its
// QuickSight step while, or after, a newer run of the same partition
// commits and writes the QuickSight manifests; the newer run's files must
// stay listed either way.
func TestQuickSightStalled(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx := t.Context()
		s0, err := publish.ReadState(ctx, st, job, unsharded)
		if err != nil {
			t.Fatal(err)
		}
		stalled := upload(t, st, unsharded, "", runID(1), "old\n")
		s1 := commit(t, st, s0, stalled)
		newer := upload(t, st, unsharded, "", runID(2), "new\n", "new 2\n")
		// The newer run commits and writes its manifests after the
		// stalled run derived its list and before that list lands.
		race := &racingStore{Store: st, key: publish.QuickSightKey(job, date), race: func() {
			s2 := commit(t, st, s1, newer)
			if _, err := publish.WriteQuickSight(ctx, st, s2, date); err != nil {
				t.Error(err)
			}
		}}
		if _, err := publish.WriteQuickSight(ctx, race, s1, date); err != nil {
			t.Fatal(err)
		}
		if race.race != nil {
			t.Fatal("the stalled run wrote nothing: the race never ran")
		}
		for _, key := range []string{publish.QuickSightKey(job, date), publish.QuickSightLatestKey(job)} {
			if got, want := quickSightURIs(t, st, key), uris(newer); !slices.Equal(got, want) {
				t.Errorf("after a commit during the stalled run's write, %s lists %v; want the newer run's %v", key, got, want)
			}
		}
		// The stalled run's step, once more after the newer run is done.
		if unchanged, err := publish.WriteQuickSight(ctx, st, s1, date); err != nil || !unchanged {
			t.Errorf("the stalled run's QuickSight step = unchanged %v, %v; want unchanged", unchanged, err)
		}
		for _, key := range []string{publish.QuickSightKey(job, date), publish.QuickSightLatestKey(job)} {
			if got, want := quickSightURIs(t, st, key), uris(newer); !slices.Equal(got, want) {
				t.Errorf("after the stalled run resumed, %s lists %v; want the newer run's %v", key, got, want)
			}
		}
	})
}

// TestRollForwardQuickSight stops a CSV run between its commit and its
// QuickSight step: the next run's roll-forward writes the partition's
// manifest and latest.json, and only for a job that has them.
func TestRollForwardQuickSight(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		ctx := t.Context()
		s0, err := publish.ReadState(ctx, st, job, unsharded)
		if err != nil {
			t.Fatal(err)
		}
		m := upload(t, st, unsharded, "", runID(1), "one\n", "two\n")
		commit(t, st, s0, m) // killed here
		state, err := publish.ReadState(ctx, st, job, unsharded)
		if err != nil {
			t.Fatal(err)
		}
		if rolled, err := publish.RollForward(ctx, st, state, false); err != nil || !slices.Equal(rolled, []string{date}) {
			t.Fatalf("roll forward without QuickSight = %v, %v; want [%s]", rolled, err, date)
		}
		if got := keys(t, st, publish.QuickSightPrefix(job)); len(got) != 0 {
			t.Errorf("roll forward of a job without QuickSight wrote %v", got)
		}
		rolled, err := publish.RollForward(ctx, st, state, true)
		if err != nil || !slices.Equal(rolled, []string{date}) {
			t.Fatalf("roll forward = %v, %v; want [%s]", rolled, err, date)
		}
		for _, key := range []string{publish.QuickSightKey(job, date), publish.QuickSightLatestKey(job)} {
			if got, want := quickSightURIs(t, st, key), uris(m); !slices.Equal(got, want) {
				t.Errorf("after the roll-forward %s lists %v, want %v", key, got, want)
			}
		}
		if rolled, err := publish.RollForward(ctx, st, state, true); err != nil || len(rolled) != 0 {
			t.Errorf("second roll forward = %v, %v; want nothing to do", rolled, err)
		}
	})
}

func TestQuickSightLimits(t *testing.T) {
	wide := make(schema.Schema, publish.QuickSightMaxColumns+1)
	for i := range wide {
		wide[i] = schema.Tenant(fmt.Sprintf("c%d", i))
	}
	long := schema.Schema{schema.Tenant(strings.Repeat("x", publish.QuickSightMaxColumnName+1))}
	tests := []struct {
		name  string
		s     schema.Schema
		files int
		want  string
	}{
		{"at the limits", schema.Schema{schema.Tenant(strings.Repeat("x", publish.QuickSightMaxColumnName))}, publish.QuickSightMaxFiles, ""},
		{"too many files", schema.Schema{schema.Tenant("a")}, publish.QuickSightMaxFiles + 1, "1001 files, QuickSight reads at most 1000 per manifest"},
		{"too many columns", wide, 1, "1001 columns, QuickSight reads at most 1000 per file"},
		{"long column name", long, 1, "128-character name, QuickSight allows 127"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := publish.CheckQuickSight(tt.s, tt.files)
			if tt.want == "" {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, publish.ErrQuickSightLimit) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want ErrQuickSightLimit containing %q", err, tt.want)
			}
		})
	}
}
