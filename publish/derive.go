package publish

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/mallet-etl/mallet/load"
)

// Readers' views of a partition (its symlink manifests, its QuickSight
// manifest, latest.json) are derived from the committed state, never from
// what the writing run committed: a run stalled after its commit (a frozen
// VM, SIGSTOP) may resume after a newer run committed and wrote them, and
// writing its own older list would roll readers back. settle is the one
// way they are written.

// settleAttempts bounds how often a view is derived again while commits
// keep landing; the committer of the last of them writes it too.
const settleAttempts = 4

// settle reads the committed state (read returns it and a version that
// changes with every commit), has write derive the views from it and store
// them, then reads the state again: should a commit have landed meanwhile,
// its own write may have been overwritten by this older one, so the views
// are derived and written again. changed reports whether any write
// changed a stored view. Errors are read's or write's.
func settle[S any](ctx context.Context, read func(context.Context) (S, string, error), write func(context.Context, S) (bool, error)) (changed bool, err error) {
	cur, ver, err := read(ctx)
	if err != nil {
		return false, err
	}
	for attempt := 1; ; attempt++ {
		c, err := write(ctx, cur)
		changed = changed || c
		if err != nil {
			return changed, err
		}
		after, aver, err := read(ctx)
		if err != nil {
			return changed, err
		}
		if aver == ver || attempt == settleAttempts {
			return changed, nil
		}
		cur, ver = after, aver
	}
}

// readShardState is settle's read of one shard's state, versioned by its
// ETag.
func readShardState(st load.Store, job string, shard Shard) func(context.Context) (*State, string, error) {
	return func(ctx context.Context) (*State, string, error) {
		s, err := ReadState(ctx, st, job, shard)
		if err != nil {
			return nil, "", err
		}
		return s, s.etag, nil
	}
}

// readJobStates is settle's read of every shard's state of a job,
// versioned by their keys and ETags, so that a shard's first commit
// changes the version too.
func readJobStates(st load.Store, job string) func(context.Context) ([]*State, string, error) {
	return func(ctx context.Context) ([]*State, string, error) {
		states, err := States(ctx, st, job)
		if err != nil {
			return nil, "", err
		}
		var ver strings.Builder
		for _, s := range states {
			fmt.Fprintf(&ver, "%s=%s;", s.Shard, s.etag)
		}
		return states, ver.String(), nil
	}
}

// putChanged writes data at key unless key holds it already, and reports
// whether it wrote. Errors are the store's write errors; a key it cannot
// read is written.
func putChanged(ctx context.Context, st load.Store, key string, data []byte) (bool, error) {
	if rc, _, err := st.Get(ctx, key); err == nil {
		b, rerr := io.ReadAll(rc)
		rc.Close()
		if rerr == nil && bytes.Equal(b, data) {
			return false, nil
		}
	}
	if _, err := st.Put(ctx, key, bytes.NewReader(data)); err != nil {
		return false, fmt.Errorf("write %s: %w", st.URI(key), err)
	}
	return true, nil
}

// partitionURIs returns the object URIs of a partition's committed runs,
// in commit order, reading their run manifests (eight at a time).
func partitionURIs(ctx context.Context, st load.Store, p *Partition) ([]string, error) {
	lists := make([][]Object, len(p.Runs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, r := range p.Runs {
		if r.Objects == 0 {
			continue
		}
		g.Go(func() error {
			m, err := ReadRunManifest(gctx, st, r.Manifest)
			if err != nil {
				return fmt.Errorf("run %s: %w", r.RunID, err)
			}
			lists[i] = m.Objects
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var uris []string
	for _, objs := range lists {
		for _, o := range objs {
			uris = append(uris, o.URI)
		}
	}
	return uris, nil
}
