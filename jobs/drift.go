package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/schema"
)

// ErrSchemaDrift is wrapped by the error of a run whose result columns
// differ from the previous published run's in a way the job's schema_drift
// policy does not accept. Nothing is published.
var ErrSchemaDrift = errors.New("schema drift")

// Drift compares a run's result schema with the previous published run's
// under a schema_drift policy. It returns the columns the run adds (nil when
// the schemas are equal or prev is nil: the first run), or an error wrapping
// ErrSchemaDrift that lists every difference. Under allow-add the only
// accepted change is new columns appended after all of prev's columns,
// unchanged and in order; every column mallet writes is nullable, so older
// files read the new columns as NULL.
func Drift(policy string, prev, cur schema.Schema) (schema.Schema, error) {
	if prev == nil || prev.Equal(cur) {
		return nil, nil
	}
	diff := prev.Diff(cur)
	if policy == config.DriftAllowAdd && len(cur) > len(prev) && prev.Equal(cur[:len(prev)]) {
		return append(schema.Schema(nil), cur[len(prev):]...), nil
	}
	hint := "if the change is intended, publish under a new job name or output, or move the old runs away"
	if policy == config.DriftAllowAdd {
		hint = "allow-add accepts only new columns appended at the end; " + hint
	} else if len(cur) > len(prev) && prev.Equal(cur[:len(prev)]) {
		hint = "the change only appends columns: set schema_drift: allow-add to accept it"
	}
	return nil, fmt.Errorf("%w (schema_drift: %s): the result columns differ from the previous published run's: %s (%s)", ErrSchemaDrift, policy, diff, hint)
}

// Run manifests, written by publish as the last step of a run, are at
// <job>/_mallet/runs/dt=<date>/<shard or "all">/<run id>.json. This file
// reads only the parts drift, the Athena DDL and QuickSight need, and takes
// the date, shard and run id from the key.

// RunsPrefix is the key prefix of a job's run manifests.
func RunsPrefix(job string) string { return job + "/_mallet/runs/" }

// PublishedRun is what a run manifest says about the run's output.
type PublishedRun struct {
	Key     string        `json:"-"`
	RunDate string        `json:"-"`
	Shard   string        `json:"-"` // "all" when unsharded
	RunID   string        `json:"-"`
	Schema  schema.Schema `json:"schema"`
	Objects []Object      `json:"objects"`
}

// runKey parses a manifest key; ok is false for other keys.
func runKey(job, key string) (PublishedRun, bool) {
	rest, ok := strings.CutPrefix(key, RunsPrefix(job)+"dt=")
	if !ok {
		return PublishedRun{}, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || !strings.HasSuffix(parts[2], ".json") {
		return PublishedRun{}, false
	}
	return PublishedRun{Key: key, RunDate: parts[0], Shard: parts[1], RunID: strings.TrimSuffix(parts[2], ".json")}, true
}

// PublishedRuns lists a job's run manifests (without reading them), oldest
// run id first; run ids start with their UTC start time.
func PublishedRuns(ctx context.Context, st Store, job string) ([]PublishedRun, error) {
	objs, err := st.List(ctx, RunsPrefix(job))
	if err != nil {
		return nil, fmt.Errorf("list runs of %s: %w", job, err)
	}
	var out []PublishedRun
	for _, o := range objs {
		if r, ok := runKey(job, o.Key); ok {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RunID < out[j].RunID })
	return out, nil
}

// ReadRun reads a run manifest listed by PublishedRuns.
func ReadRun(ctx context.Context, st Store, r PublishedRun) (*PublishedRun, error) {
	rc, _, err := st.Get(ctx, r.Key)
	if err != nil {
		return nil, fmt.Errorf("read run manifest: %w", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read run manifest %s: %w", st.URI(r.Key), err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("run manifest %s: %w", st.URI(r.Key), err)
	}
	return &r, nil
}

// States reads the states of a job: one, or one per shard.
func States(ctx context.Context, st Store, job string) ([]*State, error) {
	objs, err := st.List(ctx, job+"/_mallet/state")
	if err != nil {
		return nil, fmt.Errorf("list states of %s: %w", job, err)
	}
	var out []*State
	for _, o := range objs {
		name, ok := strings.CutPrefix(o.Key, job+"/_mallet/state")
		if !ok || !strings.HasSuffix(name, ".json") {
			continue
		}
		state, err := ReadState(ctx, st, job, ParseShardName(strings.TrimSuffix(strings.TrimPrefix(name, "-"), ".json")))
		if err != nil {
			return nil, err
		}
		out = append(out, state)
	}
	return out, nil
}

// LatestRun reads the manifest of a job's newest committed run (of any
// shard), or returns nil when the job has committed nothing.
func LatestRun(ctx context.Context, st Store, job string) (*PublishedRun, error) {
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
					return readCommitted(ctx, st, job, date, newest.Shard, cr)
				}
			}
		}
	}
	return nil, fmt.Errorf("state of %s: last run %s is in none of its partitions", job, newest.LastRun)
}

func readCommitted(ctx context.Context, st Store, job, date, shard string, cr CommittedRun) (*PublishedRun, error) {
	pr, ok := runKey(job, cr.Manifest)
	if !ok {
		pr = PublishedRun{Key: cr.Manifest, RunDate: date, Shard: shardName(ParseShardName(shard)), RunID: cr.RunID}
	}
	return ReadRun(ctx, st, pr)
}

// partitionPeers returns the manifests of the runs a reader of the date's
// partition sees besides the one this run replaces (same shard and slot):
// other shards' runs, and for window and incremental modes the other
// windows and appended runs. Committed runs come from the states, the
// commit point: a run manifest alone may be a run that never committed.
func partitionPeers(ctx context.Context, st Store, job, date string, shard Shard, slot string) ([]*PublishedRun, error) {
	states, err := States(ctx, st, job)
	if err != nil {
		return nil, err
	}
	var out []*PublishedRun
	for _, state := range states {
		p := state.Partitions[date]
		if p == nil {
			continue
		}
		for _, cr := range p.Runs {
			if ParseShardName(state.Shard) == shard && cr.Slot == slot {
				continue
			}
			r, err := readCommitted(ctx, st, job, date, state.Shard, cr)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// previousSchema is the schema of the shard's last committed run that
// wrote columns, from its state; nil when nothing was committed.
func previousSchema(ctx context.Context, st Store, job string, shard Shard) (schema.Schema, string, error) {
	state, err := ReadState(ctx, st, job, shard)
	if err != nil {
		return nil, "", err
	}
	return state.Schema, state.LastRun, nil
}

// shardName names a run's shard in run manifest keys.
func shardName(s Shard) string {
	if n := s.String(); n != "" {
		return n
	}
	return "all"
}

// checkDrift runs before the run's objects are published. It compares the
// result schema with the previous published run's under the job's policy,
// and with the schema of every other shard's files in the same partition,
// which must be equal whatever the policy: one partition never holds files
// of two schemas. Accepted added columns are recorded in the result.
func (r *run) checkDrift(ctx context.Context) error {
	cur := r.res.Schema
	if cur == nil {
		return nil // no tenant returned columns: nothing is written
	}
	prev, prevRun, err := previousSchema(ctx, r.store, r.job.Name, r.o.Shard)
	if err != nil {
		return fmt.Errorf("schema drift check: %w", err)
	}
	if prev != nil {
		added, err := Drift(r.job.SchemaDrift, prev, cur)
		if err != nil {
			return fmt.Errorf("job %s, previous run %s: %w", r.job.Name, prevRun, err)
		}
		if len(added) > 0 {
			r.res.SchemaAdded = added
			r.log.Warn("schema drift accepted (schema_drift: allow-add)", "job", r.job.Name,
				"added", strings.Join(added.Names(), ", "), "previous_run", prevRun,
				"hint", "run mallet athena ddl "+r.job.Name+" --write, or ALTER TABLE ... ADD COLUMNS")
		}
	}
	peers, err := partitionPeers(ctx, r.store, r.job.Name, r.res.RunDate, r.o.Shard, r.slotOf())
	if err != nil {
		return fmt.Errorf("schema drift check: %w", err)
	}
	for _, p := range peers {
		if p.Schema != nil && !p.Schema.Equal(cur) {
			return fmt.Errorf("job %s: %w: partition dt=%s already holds files of shard %s (run %s) with other columns: %s (re-run the whole partition so it has one schema)",
				r.job.Name, ErrSchemaDrift, r.res.RunDate, p.Shard, p.RunID, p.Schema.Diff(cur))
		}
	}
	return nil
}
