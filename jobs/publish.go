package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/publish"
)

// A run publishes through the steps of package publish (lease, state and
// roll forward, run manifest, verify, commit, symlink, clean-up, release);
// this file calls them in order around the extraction of each window, and
// marks each step for the crash tests (crashpoint).

// runWindows holds the job's lease while it publishes every window the
// run covers, one commit per window. r.res is the run's result; with
// several windows each gets a result of its own in Windows.
func (r *run) runWindows(ctx context.Context) (*Result, error) {
	top := r.res
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	l, err := publish.AcquireLease(ctx, r.store, r.job.Name, r.o.Shard, r.job.LeaseTTL, r.log)
	if errors.Is(err, publish.ErrLocked) {
		return top, err
	}
	if err != nil {
		return top, fmt.Errorf("job %s: %w: %w", r.job.Name, err, ErrFailed)
	}
	r.lease = l
	l.Keep(ctx, cancel)
	defer l.Release(ctx)

	state, err := publish.ReadState(ctx, r.store, r.job.Name, r.o.Shard)
	if err != nil {
		return top, fmt.Errorf("job %s: %w: %w", r.job.Name, err, ErrFailed)
	}
	r.state = state
	crashpoint("start")
	rolled, err := publish.RollForward(ctx, r.store, state, isCSV(r.job.Output.Format))
	for _, date := range rolled {
		r.log.Warn("rolled forward the manifests of a run stopped after its commit", "job", r.job.Name, "partition", date, "run", state.LastRun)
	}
	if errors.Is(err, publish.ErrQuickSightLimit) {
		// Only that partition's QuickSight manifest lags; its own run
		// reported why, and this run may well replace it.
		r.log.Warn("roll forward: a QuickSight manifest stays behind", "job", r.job.Name, "error", err)
		err = nil
	}
	if err != nil {
		return top, fmt.Errorf("job %s: %w: %w", r.job.Name, err, ErrFailed)
	}
	ws, err := r.plan(time.Now(), state)
	if err != nil {
		return top, fmt.Errorf("job %s: %w: %w", r.job.Name, err, ErrFailed)
	}
	top.Mode = r.job.Mode
	if len(ws) == 0 {
		r.log.Info("nothing to run: every window is committed (use --force to run them again)", "job", r.job.Name)
		for _, t := range top.Tenants {
			if t.Status == TenantNotRun {
				t.Status = TenantSkipped
			}
		}
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
			res.Window = &publish.Window{Start: res.Params["window_start"].(string), End: res.Params["window_end"].(string)}
		}
		res.Tenants = make([]*TenantResult, len(tenants))
		for j, t := range tenants {
			res.Tenants[j] = &TenantResult{Server: t.Server, Database: t.Database, Status: t.Status, Err: t.Err, Error: t.Error, tenant: t.tenant}
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

// partKey is the data key of part n of the run: n is the index, in the
// run's tenant order, of the part's first tenant (or of the tenant whose
// own part it is), or 0 for an aggregate.
func (r *run) partKey(n int) string {
	return publish.PartKey(r.job.Name, r.res.RunDate, r.o.Shard, r.res.RunID, n, r.job.Output.Format.Ext())
}

// publish makes the run's uploaded parts visible, step by step, and
// returns the run's manifest. Once r.committed is set, the run is
// published whatever error follows, and the next run finishes what is
// left.
func (r *run) publish(ctx context.Context) (*publish.RunManifest, error) {
	m, err := r.runManifest(ctx)
	if err != nil {
		return nil, err
	}
	crashpoint("uploaded")
	// Nothing is published when the partition holds another shard count,
	// the schema drifted against the policy, or a CSV partition would not
	// fit one QuickSight manifest.
	if err := publish.CheckShardCount(ctx, r.store, r.job.Name, m.Date, r.o.Shard); err != nil {
		return nil, err
	}
	if err := r.checkDrift(ctx); err != nil {
		return nil, err
	}
	if err := r.checkQuickSight(ctx, m); err != nil {
		return nil, err
	}
	if err := publish.WriteRunManifest(ctx, r.store, m); err != nil {
		return nil, err
	}
	crashpoint("manifest")
	prev := r.state
	if err := r.commit(ctx, m); err != nil {
		return nil, err
	}
	crashpoint("committed")
	return m, r.finish(ctx, prev, m)
}

// finish runs the steps after the commit (symlink, QuickSight manifests of
// a CSV job, clean-up) over the state committed over prev. They run even
// if the run is being stopped, within bounds; an error means the run is
// published but its symlink or QuickSight manifests lag, which the next
// run's roll-forward repairs.
func (r *run) finish(ctx context.Context, prev *publish.State, m *publish.RunManifest) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var serr error
	for attempt := 0; attempt < 3; attempt++ {
		if _, serr = publish.WriteSymlink(ctx, r.store, r.state, m.Date); serr == nil {
			break
		}
	}
	if serr != nil {
		return serr
	}
	if isCSV(r.job.Output.Format) {
		for attempt := 0; attempt < 3; attempt++ {
			if _, serr = publish.WriteQuickSight(ctx, r.store, r.state, m.Date); serr == nil || errors.Is(serr, publish.ErrQuickSightLimit) {
				break
			}
		}
		if serr != nil {
			return serr
		}
	}
	crashpoint("symlinked")
	if err := r.lease.Renew(ctx); err != nil {
		r.log.Warn("clean-up skipped: lease lost", "job", r.job.Name, "error", err)
		return nil
	}
	if err := publish.CleanUp(ctx, r.store, prev, r.state, m.Date, r.job.LeaseTTL); err != nil {
		r.log.Warn("clean-up of old runs failed; the next run retries", "job", r.job.Name, "partition", m.Date, "error", err)
	}
	crashpoint("collected")
	return nil
}

// runManifest describes what the window's run wrote: the packed parts and
// the parts of tenants too large to pack, or the aggregate's one part,
// which it writes now.
func (r *run) runManifest(ctx context.Context) (*publish.RunManifest, error) {
	var objs []Object
	if r.job.Merge == config.MergeAggregate {
		o, err := r.writeAggregate(ctx)
		if err != nil {
			return nil, err
		}
		if o != nil {
			objs = append(objs, *o)
		}
	} else {
		keep, drop := r.packedObjects()
		objs = keep
		for _, t := range r.res.Tenants {
			for _, p := range t.parts {
				if t.Err == nil {
					objs = append(objs, p)
				} else {
					drop = append(drop, p.Key)
				}
			}
		}
		if len(drop) > 0 {
			// Parts of tenants left out after they succeeded (their
			// columns differ from the majority's) must not stay beside
			// the run.
			if err := r.store.Delete(ctx, drop...); err != nil {
				return nil, fmt.Errorf("delete the parts of tenants left out: %w", err)
			}
		}
		// Keys name a part's first tenant: in key order, the objects
		// follow the run's tenant order.
		slices.SortFunc(objs, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	}
	m := &publish.RunManifest{
		Job: r.job.Name, RunID: r.res.RunID, Date: r.res.RunDate, Mode: r.job.Mode, Slot: r.slotOf(), Shard: r.o.Shard.Dir(),
		Window: r.res.Window, Schema: r.res.Schema, Objects: objs, Started: r.res.Started, Finished: time.Now().UTC(),
	}
	if len(objs) == 0 && isCSV(r.job.Output.Format) && m.Schema != nil {
		o, err := r.headerOnly(ctx, m)
		if err != nil {
			return nil, err
		}
		if o != nil {
			m.Objects = []Object{*o}
		}
	}
	for _, t := range r.res.Tenants {
		mt := publish.RunTenant{Server: t.Server, Database: t.Database, Rows: t.Rows, Error: t.Error}
		if t.track != nil && t.Err == nil {
			mt.Cursor, mt.Skipped = t.track.max, t.track.skipped
		}
		m.Tenants = append(m.Tenants, mt)
	}
	return m, nil
}

// commit verifies the run's objects, renews the lease and writes the
// state that records the run and the tenants' new cursors: the commit
// point. On success r.state is the new state and r.committed is set.
func (r *run) commit(ctx context.Context, m *publish.RunManifest) error {
	if err := publish.Verify(ctx, r.store, m); err != nil {
		return err
	}
	if err := r.lease.Renew(ctx); err != nil {
		return fmt.Errorf("not committed: %w", err)
	}
	next := r.state.Next(m, time.Now())
	for _, t := range r.res.Tenants {
		if t.track == nil || t.Err != nil {
			continue
		}
		next.SetCursor(t.Server+"/"+t.Database, t.track.state(), t.track.kind)
		t.Cursor, t.Skipped = t.track.max, t.track.skipped
	}
	if err := publish.Commit(ctx, r.store, next); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	r.state, r.committed = next, true
	r.res.Objects = m.Objects
	for _, o := range m.Objects {
		r.res.Rows += o.Rows
		r.res.Bytes += o.Bytes
	}
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
	up, err := load.NewUpload(ctx, r.store, key, r.job.Output.Format, total.out, load.UploadOptions{Progress: &r.o.Progress.Bytes})
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

// headerOnly writes the header-only part of a CSV run that returned no
// row, when no other run of the partition lists a file either: a
// QuickSight manifest must list at least one file, and an empty day must
// read as no rows, not fail the refresh. nil when other files exist.
func (r *run) headerOnly(ctx context.Context, m *publish.RunManifest) (*Object, error) {
	uris, err := publish.PartitionFiles(ctx, r.store, m)
	if err != nil {
		return nil, fmt.Errorf("quicksight check: %w", err)
	}
	if len(uris) > 0 {
		return nil, nil
	}
	key := r.partKey(0)
	up, err := load.NewUpload(ctx, r.store, key, r.job.Output.Format, m.Schema, load.UploadOptions{Progress: &r.o.Progress.Bytes})
	if err != nil {
		return nil, err
	}
	res, err := up.Close(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.store.URI(key), err)
	}
	return &Object{URI: r.store.URI(key), Key: key, Bytes: res.Bytes, SHA256: res.SHA256}, nil
}

// discard removes what a failed, uncommitted run wrote (publish.Discard).
// It runs on a context of its own so that a cancelled run still cleans up;
// what it cannot remove, the next run's clean-up does.
func (r *run) discard(ctx context.Context) {
	if r.store == nil || r.committed || r.res.RunID == "" || r.res.RunDate == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := publish.Discard(ctx, r.store, r.job.Name, r.res.RunDate, r.o.Shard, r.res.RunID); err != nil {
		r.log.Warn("clean up a failed run", "job", r.job.Name, "error", err)
	}
}
