package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/schema"
)

// The layout under a job's output root (output.to), for job J, partition
// date D, shard S ("all" when unsharded) and run R; docs/publishing.md
// tells what a reader sees when.
//
//	J/data/dt=D/S/R/part[-S]-NNNNN.ext  data, written once, never replaced
//	J/symlinks/dt=D/manifest[-S]        what Athena reads: one data URI a line
//	J/_mallet/runs/dt=D/S/R.json        the run manifest
//	J/_mallet/state[-S].json            the commit point: cursors, committed runs
//	J/_mallet/lease[-S]                 who is running the job now
//
// The shard is a folder of its own under the data partition, so that one
// shard's clean-up (deleting and aborting under its prefix) never touches
// another shard's files while that shard runs.

// DataPrefix is the key prefix of a partition's data objects, all shards.
func DataPrefix(job, date string) string { return job + "/data/dt=" + date + "/" }

func shardDataPrefix(job, date string, s Shard) string {
	return DataPrefix(job, date) + shardDir(s) + "/"
}

func runDataPrefix(job, date string, s Shard, runID string) string {
	return shardDataPrefix(job, date, s) + runID + "/"
}

// SymlinksPrefix is the Athena table location: partition dt=D is the
// folder SymlinksPrefix(job)+"dt=D/", read with SymlinkTextInputFormat.
func SymlinksPrefix(job string) string { return job + "/symlinks/" }

// PartitionPrefix is the key prefix Athena reads for a partition: the
// folder of its symlink manifests (one per shard).
func PartitionPrefix(job, date string) string { return SymlinksPrefix(job) + "dt=" + date + "/" }

// SymlinkKey is the key of a partition's symlink manifest for shard s.
func SymlinkKey(job, date string, s Shard) string {
	if n := s.String(); n != "" {
		return PartitionPrefix(job, date) + "manifest-" + n
	}
	return PartitionPrefix(job, date) + "manifest"
}

// shardDir names a shard in keys: "s2of4", or "all" when unsharded.
func shardDir(s Shard) string {
	if n := s.String(); n != "" {
		return n
	}
	return "all"
}

// runsRoot is the key prefix of a job's run manifests (drift.go's
// RunsPrefix reads the same layout).
func runsRoot(job string) string { return job + "/_mallet/runs/" }

func runManifestKey(job, date string, s Shard, runID string) string {
	return runsRoot(job) + "dt=" + date + "/" + shardDir(s) + "/" + runID + ".json"
}

// StateKey is the key of the state of a job, or of one shard of it.
func StateKey(job string, s Shard) string {
	if n := s.String(); n != "" {
		return job + "/_mallet/state-" + n + ".json"
	}
	return job + "/_mallet/state.json"
}

// LeaseKey is the key of the lease of a job, or of one shard of it.
func LeaseKey(job string, s Shard) string {
	if n := s.String(); n != "" {
		return job + "/_mallet/lease-" + n
	}
	return job + "/_mallet/lease"
}

// State is what a job (one shard of it, when sharded) has published. It is
// one object, replaced only by a conditional write on its previous ETag:
// writing it is a run's commit point, and two writers never both win.
type State struct {
	Version int       `json:"version"`
	Job     string    `json:"job"`
	Shard   string    `json:"shard,omitempty"`
	Updated time.Time `json:"updated,omitzero"`
	// LastRun is the run id of the last commit, and Last the partitions it
	// changed: after a crash between the commit and the symlink write, a
	// run (or `mallet state show`) re-derives their symlinks from here.
	LastRun string   `json:"last_run,omitempty"`
	Last    []string `json:"last_partitions,omitempty"`
	// Schema is the columns of the last committed run that wrote any.
	Schema schema.Schema `json:"schema,omitempty"`
	// CursorKind is "time" or "int" once an incremental run saw a cursor.
	CursorKind string `json:"cursor_kind,omitempty"`
	// Tenants holds incremental cursors by "server/database".
	Tenants map[string]*TenantState `json:"tenants,omitempty"`
	// Partitions holds the committed runs by partition date.
	Partitions map[string]*Partition `json:"partitions,omitempty"`

	etag string // "" when the state does not exist yet
}

// TenantState is one tenant's incremental position.
type TenantState struct {
	// Cursor is the largest cursor value published, as MySQL printed it.
	Cursor string `json:"cursor,omitempty"`
	// Seen maps the key of every row published with a cursor value within
	// the look-back of Cursor to that value: a row read again by the
	// look-back with the same value is skipped, not published twice.
	Seen map[string]string `json:"seen,omitempty"`
}

// Partition is what a partition's symlink lists: the objects of Runs.
type Partition struct {
	Runs []CommittedRun `json:"runs"`
	// Previous are the runs the last commit to this partition replaced;
	// their data stays until the next commit to it, so that a query that
	// read the old symlink a moment before can still read the files.
	Previous []CommittedRun `json:"previous,omitempty"`
}

// CommittedRun is one run visible in a partition.
type CommittedRun struct {
	// Slot is what the run covers: "" for a snapshot, the window
	// ("2026-11-25" or "2026-11-25T13") for window mode, the run id for an
	// incremental run (they append). A new run replaces the run of its slot.
	Slot      string    `json:"slot"`
	RunID     string    `json:"run_id"`
	Manifest  string    `json:"manifest"`
	Rows      int64     `json:"rows"`
	Objects   int       `json:"objects"`
	Committed time.Time `json:"committed"`
}

// RunManifest describes one run's output; it is written before the commit
// and names everything the run wrote. Its "schema" and "objects" fields are
// those PublishedRun reads.
type RunManifest struct {
	Job      string           `json:"job"`
	RunID    string           `json:"run_id"`
	Date     string           `json:"date"`
	Mode     string           `json:"mode"`
	Slot     string           `json:"slot"`
	Shard    string           `json:"shard"`
	Window   *Window          `json:"window,omitempty"`
	Schema   schema.Schema    `json:"schema"`
	Objects  []Object         `json:"objects"`
	Rows     int64            `json:"rows"`
	Tenants  []ManifestTenant `json:"tenants"`
	Started  time.Time        `json:"started"`
	Finished time.Time        `json:"finished"`
}

// Window is a run's query window, in the job's zone.
type Window struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// ManifestTenant is one tenant's share of a run.
type ManifestTenant struct {
	Server   string `json:"server"`
	Database string `json:"database"`
	Rows     int64  `json:"rows"`
	Skipped  int64  `json:"skipped_in_lookback,omitempty"`
	Cursor   string `json:"cursor,omitempty"`
	Error    string `json:"error,omitempty"`
}

const stateVersion = 1

// ReadState reads the state of a job (or shard); a job that never
// committed has an empty state. Errors are the store's.
func ReadState(ctx context.Context, st Store, job string, s Shard) (*State, error) {
	key := StateKey(job, s)
	rc, info, err := st.Get(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{Version: stateVersion, Job: job, Shard: s.String()}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", st.URI(key), err)
	}
	var state State
	if err := json.Unmarshal(data, &state); err != nil {
		return nil, fmt.Errorf("state %s: %w", st.URI(key), err)
	}
	if state.Version > stateVersion {
		return nil, fmt.Errorf("state %s: version %d is newer than this mallet's %d", st.URI(key), state.Version, stateVersion)
	}
	state.etag = info.ETag
	return &state, nil
}

// ErrStateChanged is wrapped by a commit that lost a race: the state
// changed since the run read it (another writer committed or reset it).
var ErrStateChanged = errors.New("state changed by another writer")

// writeState replaces the state if it is still the one read (its ETag),
// or creates it if there was none. On success s carries the new ETag.
func writeState(ctx context.Context, st Store, s *State) error {
	key := StateKey(s.Job, ParseShardName(s.Shard))
	s.Version = stateVersion
	s.Updated = time.Now().UTC()
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	data = append(data, '\n')
	etag, err := st.WriteIf(ctx, key, data, s.etag)
	if errors.Is(err, load.ErrPrecondition) {
		// S3 may have applied a PUT whose response was lost; its retry
		// then fails the condition. Only the same bytes mean we won.
		if same, _ := sameContent(ctx, st, key, data); same != "" {
			s.etag = same
			return nil
		}
		return fmt.Errorf("write state %s: %w: %w", st.URI(key), ErrStateChanged, err)
	}
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	s.etag = etag
	return nil
}

// sameContent returns key's ETag if key holds exactly data, else "".
func sameContent(ctx context.Context, st Store, key string, data []byte) (string, error) {
	rc, info, err := st.Get(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		return "", err
	}
	return info.ETag, nil
}

// ParseShardName is the inverse of Shard.String: "s2of4" is shard 2 of 4,
// "" (or anything else) no sharding.
func ParseShardName(name string) Shard {
	var s Shard
	if _, err := fmt.Sscanf(name, "s%dof%d", &s.K, &s.N); err != nil || s.K < 1 || s.K > s.N {
		return Shard{}
	}
	return s
}

// clone returns a deep copy, so a failed commit leaves the original alone.
func (s *State) clone() *State {
	data, err := json.Marshal(s)
	if err != nil {
		panic(err) // only plain data
	}
	var c State
	if err := json.Unmarshal(data, &c); err != nil {
		panic(err)
	}
	c.etag = s.etag
	return &c
}

// commit records run in partition date: it replaces the run of the same
// slot (keeping the replaced one as Previous) or appends.
func (s *State) commit(date string, run CommittedRun) {
	if s.Partitions == nil {
		s.Partitions = map[string]*Partition{}
	}
	p := s.Partitions[date]
	if p == nil {
		p = &Partition{}
		s.Partitions[date] = p
	}
	p.Previous = nil
	runs := p.Runs[:0:0]
	for _, r := range p.Runs {
		if r.Slot == run.Slot {
			p.Previous = append(p.Previous, r)
			continue
		}
		runs = append(runs, r)
	}
	p.Runs = append(runs, run)
	s.LastRun = run.RunID
	s.Last = []string{date}
}

// committed reports whether the slot of partition date has a run.
func (s *State) committed(date, slot string) bool {
	if p := s.Partitions[date]; p != nil {
		for _, r := range p.Runs {
			if r.Slot == slot {
				return true
			}
		}
	}
	return false
}

func readManifest(ctx context.Context, st Store, key string) (*RunManifest, error) {
	rc, _, err := st.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read run manifest: %w", err)
	}
	defer rc.Close()
	var m RunManifest
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		return nil, fmt.Errorf("run manifest %s: %w", st.URI(key), err)
	}
	return &m, nil
}

// symlinkText derives a partition's symlink manifest from its committed
// runs: every object URI of every run, in commit order, one a line.
func symlinkText(ctx context.Context, st Store, p *Partition) ([]byte, error) {
	lists := make([][]Object, len(p.Runs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, r := range p.Runs {
		if r.Objects == 0 {
			continue
		}
		g.Go(func() error {
			m, err := readManifest(gctx, st, r.Manifest)
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
	var b bytes.Buffer
	for _, objs := range lists {
		for _, o := range objs {
			b.WriteString(o.URI)
			b.WriteByte('\n')
		}
	}
	return b.Bytes(), nil
}

// writeSymlink makes the symlink manifest of partition date match the
// state; unchanged is true when it already did. Replacing it is one PUT,
// so a reader sees the old list or the new one.
func writeSymlink(ctx context.Context, st Store, s *State, date string) (unchanged bool, err error) {
	p := s.Partitions[date]
	if p == nil {
		return true, nil
	}
	text, err := symlinkText(ctx, st, p)
	if err != nil {
		return false, fmt.Errorf("symlink of dt=%s: %w", date, err)
	}
	key := SymlinkKey(s.Job, date, ParseShardName(s.Shard))
	if rc, _, err := st.Get(ctx, key); err == nil {
		cur, rerr := io.ReadAll(rc)
		rc.Close()
		if rerr == nil && bytes.Equal(cur, text) {
			return true, nil
		}
	}
	if _, err := st.Put(ctx, key, bytes.NewReader(text)); err != nil {
		return false, fmt.Errorf("write symlink: %w", err)
	}
	return false, nil
}

// SymlinkDrift lists the partitions of the last commit whose symlink does
// not match the state (a run was stopped between its commit and the
// symlink write); the next run rewrites them. It reads only.
func SymlinkDrift(ctx context.Context, st Store, s *State) ([]string, error) {
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

// collect deletes, in partition date of this shard, the data and run
// manifests of runs that are neither committed nor Previous, and aborts the
// shard's unfinished uploads there. Runs the state never knew (a crashed or
// failed run) are kept while younger than grace, in case their writer is
// alive after losing its lease; runs the state replaced are deleted at
// once. Only the lease holder calls it.
func collect(ctx context.Context, st Store, s *State, date string, replaced map[string]bool, grace time.Duration) error {
	shard := ParseShardName(s.Shard)
	keep := map[string]bool{}
	if p := s.Partitions[date]; p != nil {
		keep = runIDs(p.Runs, p.Previous)
	}
	cutoff := time.Now().Add(-grace)
	var doomed []string
	for _, prefix := range []string{shardDataPrefix(s.Job, date, shard), runsRoot(s.Job) + "dt=" + date + "/" + shardDir(shard) + "/"} {
		objs, err := st.List(ctx, prefix)
		if err != nil {
			return fmt.Errorf("collect: %w", err)
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
		for _, id := range sortedKeys(byRun) {
			if keep[id] || (!replaced[id] && newest[id].After(cutoff)) {
				continue
			}
			doomed = append(doomed, byRun[id]...)
		}
	}
	var errs []error
	if len(doomed) > 0 {
		errs = append(errs, st.Delete(ctx, doomed...))
	}
	errs = append(errs, st.AbortIncomplete(ctx, shardDataPrefix(s.Job, date, shard)))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	return nil
}

// verifyObjects checks that every object of a run is stored with its size,
// just before the commit makes the run visible.
func verifyObjects(ctx context.Context, st Store, prefix string, objs []Object) error {
	if len(objs) == 0 {
		return nil
	}
	list, err := st.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	size := map[string]int64{}
	for _, o := range list {
		size[o.Key] = o.Size
	}
	for _, o := range objs {
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

// slotsOf returns the committed slots of a state's partitions, sorted.
func (s *State) slotsOf(date string) []string {
	var out []string
	if p := s.Partitions[date]; p != nil {
		for _, r := range p.Runs {
			out = append(out, r.Slot)
		}
	}
	slices.Sort(out)
	return out
}

// ResetCursors forgets the incremental cursors of a job (or shard): of
// every tenant, or of the one named "server/database". The next run reads
// those tenants from the start again. It refuses (ErrLocked) while a run
// holds the lease, and is a conditional write like a commit. It returns
// how many tenants it reset.
func ResetCursors(ctx context.Context, st Store, job string, s Shard, tenant string) (int, error) {
	info, _, ok, err := ReadLease(ctx, st, job, s)
	if err != nil {
		return 0, err
	}
	if ok && !info.Expired(time.Now()) {
		return 0, fmt.Errorf("job %s: a run holds the lease (%s on host %s, pid %d) until %s: %w",
			job, info.Holder, info.Host, info.PID, info.Expires.UTC().Format(time.RFC3339), ErrLocked)
	}
	state, err := ReadState(ctx, st, job, s)
	if err != nil {
		return 0, err
	}
	n := 0
	switch {
	case tenant == "":
		n = len(state.Tenants)
		state.Tenants = nil
		state.CursorKind = ""
	case state.Tenants[tenant] != nil:
		n = 1
		delete(state.Tenants, tenant)
	default:
		return 0, fmt.Errorf("job %s: no cursor for tenant %q (tenants: %s)", job, tenant, strings.Join(sortedKeys(state.Tenants), ", "))
	}
	if n == 0 {
		return 0, nil
	}
	if err := writeState(ctx, st, state); err != nil {
		return 0, err
	}
	return n, nil
}
