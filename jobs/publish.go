package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/load"
)

// A run publishes in this order; docs/publishing.md tells what a reader
// sees between the steps and after a crash at each:
//
//  1. take the lease (ErrLocked if another run holds it), read the state,
//     rewrite the symlinks of the last commit if a crash left them behind;
//  2. per window: upload the parts straight to their final keys under the
//     run's own folder (invisible: no symlink lists them yet);
//  3. write the run manifest;
//  4. check the objects are all there and the lease is still held, then
//     write the state conditionally on the ETag read: the commit point;
//  5. write the partition's symlink manifest from the state (one PUT, so
//     Athena reads the old list or the new one);
//  6. delete the data of runs that are neither committed nor the previous
//     one, and abort unfinished uploads under the shard's partition folder.

// runWindows holds the job's lease while it publishes every window the
// run covers, one commit per window. r.res is the run's result; with
// several windows each gets a result of its own in Windows.
func (r *run) runWindows(ctx context.Context) (*Result, error) {
	top := r.res
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	l, err := acquireLease(ctx, r.store, r.job.Name, r.o.Shard, r.job.LeaseTTL, r.log)
	if errors.Is(err, ErrLocked) {
		return top, err
	}
	if err != nil {
		return top, fmt.Errorf("job %s: %w: %w", r.job.Name, err, ErrFailed)
	}
	r.lease = l
	l.keep(ctx, cancel)
	defer l.release(ctx)

	state, err := ReadState(ctx, r.store, r.job.Name, r.o.Shard)
	if err != nil {
		return top, fmt.Errorf("job %s: %w: %w", r.job.Name, err, ErrFailed)
	}
	r.state = state
	crashpoint("start")
	for _, date := range state.Last {
		unchanged, err := writeSymlink(ctx, r.store, state, date)
		if err != nil {
			return top, fmt.Errorf("job %s: roll forward the last commit: %w: %w", r.job.Name, err, ErrFailed)
		}
		if !unchanged {
			r.log.Warn("rolled forward the symlink of a run stopped after its commit", "job", r.job.Name, "partition", date, "run", state.LastRun)
		}
	}
	ws, err := r.plan(time.Now(), state)
	if err != nil {
		return top, fmt.Errorf("job %s: %w: %w", r.job.Name, err, ErrFailed)
	}
	top.Mode = r.job.Mode
	if len(ws) == 0 {
		r.log.Info("nothing to run: every window is committed (use --force to run them again)", "job", r.job.Name)
		top.Tenants = nil
		return top, nil
	}
	tenants := top.Tenants
	var firstErr error
	for i, w := range ws {
		res := top
		if len(ws) > 1 {
			res = &Result{Job: top.Job, RunID: top.RunID, Started: time.Now(), Query: top.Query, Mode: top.Mode}
			if i > 0 {
				res.RunID = newRunID()
			}
			top.Windows = append(top.Windows, res)
		}
		res.RunDate = w.partition()
		res.Params = windowParams(w)
		if w.slot != "" {
			res.Window = &Window{Start: res.Params["window_start"].(string), End: res.Params["window_end"].(string)}
		}
		res.Tenants = make([]*TenantResult, len(tenants))
		for j, t := range tenants {
			res.Tenants[j] = &TenantResult{Server: t.Server, Database: t.Database, Err: t.Err, Error: t.Error, tenant: t.tenant}
		}
		r.res, r.win, r.committed = res, w, false
		err := r.runWindow(ctx)
		r.published = r.published || r.committed
		res.Duration = time.Since(res.Started)
		if err != nil {
			res.Err = err.Error()
		}
		if len(ws) > 1 {
			top.Objects = append(top.Objects, res.Objects...)
			top.Rows += res.Rows
			top.Bytes += res.Bytes
			top.Failed += res.Failed
			top.Tenants, top.Schema, top.RunDate = res.Tenants, res.Schema, res.RunDate
		}
		if err != nil && !errors.Is(err, ErrPartial) {
			r.res = top
			if len(ws) > 1 {
				err = fmt.Errorf("window %s: %w", windowName(w), err)
			}
			return top, err
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	r.res = top
	return top, firstErr
}

func windowName(w window) string {
	if w.slot != "" {
		return w.slot
	}
	return w.partition()
}

// partKey is the data key of part n of the run: n is the tenant's index
// in the run's tenant order, or 0 for an aggregate.
func (r *run) partKey(n int) string {
	name := "part-"
	if s := r.o.Shard.String(); s != "" {
		name += s + "-"
	}
	return fmt.Sprintf("%s%s%05d.%s", runDataPrefix(r.job.Name, r.res.RunDate, r.o.Shard, r.res.RunID), name, n, r.job.Output.Format)
}

// publish makes the run's uploaded parts visible: run manifest, commit,
// symlink, clean-up. Once r.committed is set, the run is published
// whatever error follows, and the next run finishes what is left.
func (r *run) publish(ctx context.Context) error {
	var objs []Object
	if r.job.Merge == config.MergeAggregate {
		o, err := r.writeAggregate(ctx)
		if err != nil {
			return err
		}
		if o != nil {
			objs = append(objs, *o)
		}
	} else {
		for _, t := range r.res.Tenants {
			if t.Err == nil && t.key != "" {
				objs = append(objs, Object{URI: r.store.URI(t.key), Key: t.key, Rows: t.Rows, Bytes: t.Bytes, SHA256: t.sum})
			}
		}
	}
	crashpoint("uploaded")
	// Issue 4 hooks: nothing is published when the schema drifted against
	// the policy or a CSV partition would not fit one QuickSight manifest.
	if err := r.checkShardCount(ctx); err != nil {
		return err
	}
	if err := r.checkDrift(ctx); err != nil {
		return err
	}
	if err := r.checkQuickSight(ctx, len(objs)); err != nil {
		return err
	}

	date := r.res.RunDate
	m := RunManifest{
		Job: r.job.Name, RunID: r.res.RunID, Date: date, Mode: r.job.Mode, Slot: r.slotOf(), Shard: shardDir(r.o.Shard),
		Window: r.res.Window, Schema: r.res.Schema, Objects: objs, Started: r.res.Started, Finished: time.Now().UTC(),
	}
	if m.Objects == nil {
		m.Objects = []Object{}
	}
	for _, o := range objs {
		m.Rows += o.Rows
	}
	for _, t := range r.res.Tenants {
		mt := ManifestTenant{Server: t.Server, Database: t.Database, Rows: t.Rows, Error: t.Error}
		if t.track != nil && t.Err == nil {
			mt.Cursor, mt.Skipped = t.track.max, t.track.skipped
		}
		m.Tenants = append(m.Tenants, mt)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode run manifest: %w", err)
	}
	mkey := runManifestKey(r.job.Name, date, r.o.Shard, r.res.RunID)
	if _, err := r.store.Put(ctx, mkey, bytes.NewReader(append(data, '\n'))); err != nil {
		return fmt.Errorf("write run manifest: %w", err)
	}
	crashpoint("manifest")

	if err := verifyObjects(ctx, r.store, runDataPrefix(r.job.Name, date, r.o.Shard, r.res.RunID), objs); err != nil {
		return err
	}
	if err := r.lease.renew(ctx); err != nil {
		return fmt.Errorf("not committed: %w", err)
	}
	next := r.state.clone()
	var replaced map[string]bool
	if p := next.Partitions[date]; p != nil {
		replaced = runIDs(p.Previous)
	}
	next.commit(date, CommittedRun{Slot: m.Slot, RunID: m.RunID, Manifest: mkey, Rows: m.Rows, Objects: len(objs), Committed: time.Now().UTC()})
	if r.res.Schema != nil {
		next.Schema = r.res.Schema
	}
	for _, t := range r.res.Tenants {
		if t.track == nil || t.Err != nil {
			continue
		}
		if next.Tenants == nil {
			next.Tenants = map[string]*TenantState{}
		}
		next.Tenants[t.Server+"/"+t.Database] = t.track.state()
		if t.track.kind != "" {
			next.CursorKind = t.track.kind
		}
		t.Cursor, t.Skipped = t.track.max, t.track.skipped
	}
	if err := writeState(ctx, r.store, next); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	r.state, r.committed = next, true
	r.res.Objects = objs
	for _, o := range objs {
		r.res.Rows += o.Rows
		r.res.Bytes += o.Bytes
	}
	crashpoint("committed")

	// Committed: finish even if the run is being stopped, within bounds.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var serr error
	for attempt := 0; attempt < 3; attempt++ {
		if _, serr = writeSymlink(ctx, r.store, next, date); serr == nil {
			break
		}
	}
	if serr != nil {
		return serr
	}
	crashpoint("symlinked")
	if err := r.lease.renew(ctx); err != nil {
		r.log.Warn("clean-up skipped: lease lost", "job", r.job.Name, "error", err)
		return nil
	}
	if err := collect(ctx, r.store, next, date, replaced, r.job.LeaseTTL); err != nil {
		r.log.Warn("clean-up of old runs failed; the next run retries", "job", r.job.Name, "partition", date, "error", err)
	}
	crashpoint("collected")
	return nil
}

// slotOf is the slot this run replaces in its partition.
func (r *run) slotOf() string {
	if r.job.Mode == config.ModeIncremental {
		return r.res.RunID
	}
	return r.win.slot
}

// writeAggregate merges the successful tenants' groups and writes them as
// the run's one part; nil when no tenant returned a row.
func (r *run) writeAggregate(ctx context.Context) (*Object, error) {
	var total *aggregator
	for _, t := range r.res.Tenants {
		if t.Err != nil || t.agg == nil {
			continue
		}
		if total == nil {
			total = t.agg
			continue
		}
		if err := total.merge(t.agg); err != nil {
			return nil, err
		}
	}
	if total == nil || len(total.groups) == 0 {
		if total != nil {
			r.res.Schema = total.out
		}
		return nil, nil
	}
	r.res.Schema = total.out
	key := r.partKey(0)
	up, err := load.NewUpload(ctx, r.store, key, load.Format(r.job.Output.Format), total.out, load.UploadOptions{Progress: &r.o.Progress.Bytes})
	if err != nil {
		return nil, err
	}
	if err := total.each(up.Write); err != nil {
		up.Abort()
		return nil, fmt.Errorf("%s: %w", r.store.URI(key), err)
	}
	res, err := up.Close(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.store.URI(key), err)
	}
	return &Object{URI: r.store.URI(key), Key: key, Rows: res.Rows, Bytes: res.Bytes, SHA256: res.SHA256}, nil
}

// discard removes what a failed, uncommitted run wrote: its parts, its run
// manifest and its unfinished uploads. It runs on a context of its own so
// that a cancelled run still cleans up; what it cannot remove, the next
// run's clean-up does.
func (r *run) discard(ctx context.Context) {
	if r.store == nil || r.committed || r.res.RunID == "" || r.res.RunDate == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	prefix := runDataPrefix(r.job.Name, r.res.RunDate, r.o.Shard, r.res.RunID)
	keys := []string{runManifestKey(r.job.Name, r.res.RunDate, r.o.Shard, r.res.RunID)}
	objs, err := r.store.List(ctx, prefix)
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	if err == nil {
		err = r.store.Delete(ctx, keys...)
	}
	if err == nil {
		err = r.store.AbortIncomplete(ctx, prefix)
	}
	if err != nil {
		r.log.Warn("clean up a failed run", "job", r.job.Name, "prefix", r.store.URI(prefix), "error", err)
	}
}

// checkShardCount refuses to publish into a partition whose symlink
// manifests were written with another shard count: Athena reads every
// manifest of the partition, so mixing counts would show some tenants twice,
// and removing the others' manifests would show a partial partition until
// all new shards had run.
func (r *run) checkShardCount(ctx context.Context) error {
	n := max(r.o.Shard.N, 1)
	prefix := PartitionPrefix(r.job.Name, r.res.RunDate)
	objs, err := r.store.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("list %s: %w", r.store.URI(prefix), err)
	}
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, prefix)
		other := 0
		switch {
		case name == "manifest":
			other = 1
		case strings.HasPrefix(name, "manifest-"):
			other = max(ParseShardName(strings.TrimPrefix(name, "manifest-")).N, 1)
		default:
			continue
		}
		if other != n {
			return fmt.Errorf("partition dt=%s was published with %d shard(s), this run has %d: run it with --shard K/%d, or delete %s first",
				r.res.RunDate, other, n, other, r.store.URI(prefix))
		}
	}
	return nil
}
