package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/publish"
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

// previousSchema is the schema of the shard's last committed run that
// wrote columns, from its state; nil when nothing was committed.
func previousSchema(ctx context.Context, st Store, job string, shard Shard) (schema.Schema, string, error) {
	state, err := publish.ReadState(ctx, st, job, shard)
	if err != nil {
		return nil, "", err
	}
	return state.Schema, state.LastRun, nil
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
	peers, err := publish.Peers(ctx, r.store, r.job.Name, r.res.RunDate, r.o.Shard, r.slotOf())
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
