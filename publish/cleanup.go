package publish

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mallet-etl/mallet/load"
)

// CleanUp is the clean-up step, after the symlink of partition date is
// written from next (the state just committed over prev). In this shard's
// folder of the partition it deletes the data and run manifests of runs
// that next neither lists nor keeps as Previous, and aborts the shard's
// unfinished writes there (parts, run manifests, its symlink manifest). Runs prev knew and next forgot are deleted at
// once; runs no state ever knew (a crashed or failed run) are kept while
// their newest file is younger than grace, in case their writer is alive
// after losing its lease. Only the lease holder calls it. Errors join the
// store's; what is left, the next clean-up retries.
func CleanUp(ctx context.Context, st load.Store, prev, next *State, date string, grace time.Duration) error {
	shard := ParseShardName(next.Shard)
	keep := map[string]bool{}
	if p := next.Partitions[date]; p != nil {
		keep = runIDs(p.Runs, p.Previous)
	}
	forgotten := map[string]bool{}
	if p := prev.Partitions[date]; p != nil {
		forgotten = runIDs(p.Runs, p.Previous)
	}
	cutoff := time.Now().Add(-grace)
	var doomed []string
	for _, prefix := range []string{shardDataPrefix(next.Job, date, shard), shardRunsPrefix(next.Job, date, shard)} {
		objs, err := st.List(ctx, prefix)
		if err != nil {
			return fmt.Errorf("clean up: %w", err)
		}
		newest := map[string]time.Time{}
		byRun := map[string][]string{}
		for _, o := range objs {
			rest := strings.TrimPrefix(o.Key, prefix)
			id, _, _ := strings.Cut(rest, "/")
			id = strings.TrimSuffix(id, ".json")
			byRun[id] = append(byRun[id], o.Key)
			if o.Modified.After(newest[id]) {
				newest[id] = o.Modified
			}
		}
		for _, id := range slices.Sorted(maps.Keys(byRun)) {
			if keep[id] || (!forgotten[id] && newest[id].After(cutoff)) {
				continue
			}
			doomed = append(doomed, byRun[id]...)
		}
	}
	var errs []error
	if len(doomed) > 0 {
		errs = append(errs, st.Delete(ctx, doomed...))
	}
	for _, prefix := range []string{shardDataPrefix(next.Job, date, shard), shardRunsPrefix(next.Job, date, shard), SymlinkKey(next.Job, date, shard)} {
		errs = append(errs, st.AbortIncomplete(ctx, prefix))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean up: %w", err)
	}
	return nil
}

// runIDs returns the run ids of runs.
func runIDs(runs ...[]CommittedRun) map[string]bool {
	out := map[string]bool{}
	for _, rs := range runs {
		for _, r := range rs {
			out[r.RunID] = true
		}
	}
	return out
}
