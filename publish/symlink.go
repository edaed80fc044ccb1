package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/mallet-etl/mallet/load"
)

// symlinkText derives a partition's symlink manifest from its committed
// runs: every object URI of every run, in commit order, one a line.
func symlinkText(ctx context.Context, st load.Store, p *Partition) ([]byte, error) {
	uris, err := partitionURIs(ctx, st, p)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, u := range uris {
		b.WriteString(u)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// WriteSymlink is the symlink step: it makes the symlink manifest of
// partition date match the state committed now, after the commit of s;
// unchanged is true when it already did. The list is derived from the
// state read from the store just before the write, not from s: a run
// stalled after its commit (a frozen VM, SIGSTOP) may resume after a newer
// run committed and wrote the symlink, and writing s's list would roll
// readers back. Should the state change during the write, the symlink is
// derived again (settle). Replacing it is one PUT, so a reader sees the
// old list or the new one. Errors are the store's; the next run's
// RollForward finishes what a failure leaves.
func WriteSymlink(ctx context.Context, st load.Store, s *State, date string) (unchanged bool, err error) {
	shard := ParseShardName(s.Shard)
	key := SymlinkKey(s.Job, date, shard)
	changed, err := settle(ctx, readShardState(st, s.Job, shard), func(ctx context.Context, cur *State) (bool, error) {
		p := cur.Partitions[date]
		if p == nil {
			return false, nil // reset since: nothing of it to show
		}
		text, err := symlinkText(ctx, st, p)
		if err != nil {
			return false, err
		}
		return putChanged(ctx, st, key, text)
	})
	if err != nil {
		return false, fmt.Errorf("symlink of dt=%s: %w", date, err)
	}
	return !changed, nil
}

// RollForward finishes the last commit of s: a run stopped between its
// commit and its symlink write left the symlinks of the partitions it
// committed behind the state, and RollForward rewrites them; with
// quickSight (a CSV job) it rewrites their QuickSight manifests and
// latest.json too, which a stop before the QuickSight step left behind.
// It returns the partitions it rewrote anything of. Only the lease holder
// calls it, before its own run. An error wrapping ErrQuickSightLimit
// means only that a partition's QuickSight manifest could not be written
// (it is over a limit, which the run that committed it reported); every
// other view is finished, and the caller may go on. Other errors are the
// store's.
func RollForward(ctx context.Context, st load.Store, s *State, quickSight bool) (rewritten []string, err error) {
	var limitErr error
	for _, date := range s.Last {
		unchanged, err := WriteSymlink(ctx, st, s, date)
		if err != nil {
			return rewritten, fmt.Errorf("roll forward the last commit: %w", err)
		}
		if quickSight {
			qsUnchanged, err := WriteQuickSight(ctx, st, s, date)
			switch {
			case errors.Is(err, ErrQuickSightLimit):
				limitErr = fmt.Errorf("roll forward the last commit: %w", err)
			case err != nil:
				return rewritten, fmt.Errorf("roll forward the last commit: %w", err)
			}
			unchanged = unchanged && qsUnchanged
		}
		if !unchanged {
			rewritten = append(rewritten, date)
		}
	}
	return rewritten, limitErr
}

// SymlinkDrift lists the partitions of the last commit whose symlink does
// not match the state (a run was stopped between its commit and the
// symlink write); the next run's RollForward rewrites them. It reads only,
// so it is safe without the lease.
func SymlinkDrift(ctx context.Context, st load.Store, s *State) ([]string, error) {
	var out []string
	for _, date := range s.Last {
		p := s.Partitions[date]
		if p == nil {
			continue
		}
		want, err := symlinkText(ctx, st, p)
		if err != nil {
			return nil, err
		}
		rc, _, err := st.Get(ctx, SymlinkKey(s.Job, date, ParseShardName(s.Shard)))
		if errors.Is(err, fs.ErrNotExist) {
			out = append(out, date)
			continue
		}
		if err != nil {
			return nil, err
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(got, want) {
			out = append(out, date)
		}
	}
	return out, nil
}

// CheckShardCount refuses, before a commit, to publish into a partition
// whose symlink manifests were written with another shard count: Athena
// reads every manifest of the partition, so mixing counts would show some
// tenants twice, and removing the others' manifests would show a partial
// partition until all new shards had run. Other errors are the store's.
func CheckShardCount(ctx context.Context, st load.Store, job, date string, shard Shard) error {
	n := max(shard.N, 1)
	prefix := PartitionPrefix(job, date)
	objs, err := st.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("list %s: %w", st.URI(prefix), err)
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
				date, other, n, other, st.URI(prefix))
		}
	}
	return nil
}
