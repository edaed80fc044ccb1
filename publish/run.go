package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/schema"
)

// RunManifest is one run's output as published: written before the commit
// (WriteRunManifest), it names everything the run wrote, and readers of the
// published data (symlinks, drift checks, the Athena DDL, QuickSight) read
// it back (ReadRunManifest, LatestRun, Peers). The state records a
// committed run as a CommittedRun pointing here.
type RunManifest struct {
	Job   string `json:"job"`
	RunID string `json:"run_id"`
	// Date is the partition date the run wrote.
	Date string `json:"date"`
	Mode string `json:"mode"`
	// Slot is the part of the partition the run replaces: see
	// CommittedRun.Slot.
	Slot string `json:"slot"`
	// Shard names the shard as in keys (Shard.Dir): "s2of4", or "all".
	Shard    string        `json:"shard"`
	Window   *Window       `json:"window,omitempty"`
	Schema   schema.Schema `json:"schema"`
	Objects  []Object      `json:"objects"`
	Rows     int64         `json:"rows"`
	Tenants  []RunTenant   `json:"tenants"`
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished"`

	// Key is where the manifest is stored; set by WriteRunManifest and by
	// the readers.
	Key string `json:"-"`
}

// Window is a run's query window, in the job's zone.
type Window struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// RunTenant is one tenant's share of a run.
type RunTenant struct {
	Server   string `json:"server"`
	Database string `json:"database"`
	Rows     int64  `json:"rows"`
	Skipped  int64  `json:"skipped_in_lookback,omitempty"`
	Cursor   string `json:"cursor,omitempty"`
	Error    string `json:"error,omitempty"`
}

// WriteRunManifest is the run manifest step: it writes m, after the run's
// data and before the commit, at its key (RunManifestKey of m's job, date,
// shard and run id), sets m.Key, and fills m.Rows from the objects. Errors
// are the store's; the manifest of a run that then fails is removed by
// Discard or, failing that, by a later CleanUp.
func WriteRunManifest(ctx context.Context, st load.Store, m *RunManifest) error {
	m.Rows = 0
	for _, o := range m.Objects {
		m.Rows += o.Rows
	}
	out := *m
	if out.Objects == nil {
		out.Objects = []Object{} // readers get a list, never null
	}
	data, err := json.MarshalIndent(&out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode run manifest: %w", err)
	}
	key := RunManifestKey(m.Job, m.Date, ParseShardName(m.Shard), m.RunID)
	if _, err := st.Put(ctx, key, bytes.NewReader(append(data, '\n'))); err != nil {
		return fmt.Errorf("write run manifest: %w", err)
	}
	m.Key = key
	return nil
}

// ReadRunManifest reads the run manifest at key. Errors are the store's
// (fs.ErrNotExist for a missing manifest), or say it cannot be decoded.
func ReadRunManifest(ctx context.Context, st load.Store, key string) (*RunManifest, error) {
	rc, _, err := st.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read run manifest: %w", err)
	}
	defer rc.Close()
	var m RunManifest
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		return nil, fmt.Errorf("run manifest %s: %w", st.URI(key), err)
	}
	m.Key = key
	return &m, nil
}

// LatestRun reads the manifest of a job's newest committed run (of any
// shard), or returns nil when the job has committed nothing.
func LatestRun(ctx context.Context, st load.Store, job string) (*RunManifest, error) {
	states, err := States(ctx, st, job)
	if err != nil {
		return nil, err
	}
	var newest *State
	for _, s := range states {
		if s.LastRun != "" && (newest == nil || s.Updated.After(newest.Updated)) {
			newest = s
		}
	}
	if newest == nil {
		return nil, nil
	}
	for _, date := range newest.Last {
		if p := newest.Partitions[date]; p != nil {
			for _, cr := range p.Runs {
				if cr.RunID == newest.LastRun {
					return ReadRunManifest(ctx, st, cr.Manifest)
				}
			}
		}
	}
	return nil, fmt.Errorf("state of %s: last run %s is in none of its partitions", job, newest.LastRun)
}

// Peers returns the manifests of the runs a reader of the date's partition
// sees besides the one a run of shard and slot replaces: other shards'
// runs, and for window and incremental modes the other windows and
// appended runs. Committed runs come from the states, the commit point: a
// run manifest alone may be a run that never committed.
func Peers(ctx context.Context, st load.Store, job, date string, shard Shard, slot string) ([]*RunManifest, error) {
	states, err := States(ctx, st, job)
	if err != nil {
		return nil, err
	}
	var out []*RunManifest
	for _, state := range states {
		p := state.Partitions[date]
		if p == nil {
			continue
		}
		for _, cr := range p.Runs {
			if ParseShardName(state.Shard) == shard && cr.Slot == slot {
				continue
			}
			m, err := ReadRunManifest(ctx, st, cr.Manifest)
			if err != nil {
				return nil, fmt.Errorf("run %s: %w", cr.RunID, err)
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// Verify checks, with one listing, that every object of m is stored with
// its size, just before the commit makes the run visible. An error names
// the first object missing or of another size.
func Verify(ctx context.Context, st load.Store, m *RunManifest) error {
	if len(m.Objects) == 0 {
		return nil
	}
	prefix := RunDataPrefix(m.Job, m.Date, ParseShardName(m.Shard), m.RunID)
	list, err := st.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	size := map[string]int64{}
	for _, o := range list {
		size[o.Key] = o.Size
	}
	for _, o := range m.Objects {
		got, ok := size[o.Key]
		switch {
		case !ok:
			return fmt.Errorf("verify: %s is missing", st.URI(o.Key))
		case got != o.Bytes:
			return fmt.Errorf("verify: %s has %d bytes, want %d", st.URI(o.Key), got, o.Bytes)
		}
	}
	return nil
}

// Discard removes what a run that did not commit wrote: its parts, its run
// manifest and its unfinished uploads. Only the run itself (holding the
// lease) calls it; what it cannot remove, a later CleanUp does.
func Discard(ctx context.Context, st load.Store, job, date string, shard Shard, runID string) error {
	prefix := RunDataPrefix(job, date, shard, runID)
	keys := []string{RunManifestKey(job, date, shard, runID)}
	objs, err := st.List(ctx, prefix)
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	if err == nil {
		err = st.Delete(ctx, keys...)
	}
	if err == nil {
		err = st.AbortIncomplete(ctx, prefix)
	}
	if err != nil {
		return fmt.Errorf("discard run %s under %s: %w", runID, st.URI(prefix), err)
	}
	return nil
}
