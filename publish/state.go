package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/schema"
)

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

// CommittedRun is the state's record of a committed run: the run's
// manifest (RunManifest, which it points at) less the lists, which live in
// the manifest so that the state stays small. State.Next makes it from the
// manifest; nothing else does.
type CommittedRun struct {
	// Slot is what the run covers: "" for a snapshot, the window
	// ("2026-11-25" or "2026-11-25T13") for window mode, the run id for an
	// incremental run (they append). A new run replaces the run of its slot.
	Slot     string `json:"slot"`
	RunID    string `json:"run_id"`
	Manifest string `json:"manifest"` // the run manifest's key
	Rows     int64  `json:"rows"`
	// Objects is how many objects the manifest lists.
	Objects   int       `json:"objects"`
	Committed time.Time `json:"committed"`
}

const stateVersion = 1

// ReadState reads the state of a job (or shard); a job that never
// committed has an empty state. Errors are the store's, or say the state
// cannot be decoded.
func ReadState(ctx context.Context, st load.Store, job string, s Shard) (*State, error) {
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

// States reads the states of a job: one, or one per shard.
func States(ctx context.Context, st load.Store, job string) ([]*State, error) {
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

// ErrStateChanged is wrapped by a commit that lost a race: the state
// changed since the run read it (another writer committed or reset it).
var ErrStateChanged = errors.New("state changed by another writer")

// Commit is the commit point: it writes s (made by State.Next from the
// state read) only if the stored state is still the one read, or creates it
// if there was none. On success s carries the new ETag and the run it
// records is published, whatever fails after. An error wrapping
// ErrStateChanged means another writer won and nothing was published;
// other errors are the store's, and leave the state as it was unless the
// write was applied with its response lost (the next ReadState tells).
func Commit(ctx context.Context, st load.Store, s *State) error {
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
func sameContent(ctx context.Context, st load.Store, key string, data []byte) (string, error) {
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

// Next returns the state after committing the run of m (written by
// WriteRunManifest) at time at: the run takes its slot in its partition
// (the run it replaces becomes Previous), m's schema becomes the state's
// when m has one, and m's partition is the last commit. s is left as it
// was, so a failed Commit changes nothing; the caller sets the new cursors
// on the result (SetCursor) before Commit.
func (s *State) Next(m *RunManifest, at time.Time) *State {
	next := s.clone()
	if next.Partitions == nil {
		next.Partitions = map[string]*Partition{}
	}
	p := next.Partitions[m.Date]
	if p == nil {
		p = &Partition{}
		next.Partitions[m.Date] = p
	}
	p.Previous = nil
	runs := p.Runs[:0:0]
	for _, r := range p.Runs {
		if r.Slot == m.Slot {
			p.Previous = append(p.Previous, r)
			continue
		}
		runs = append(runs, r)
	}
	p.Runs = append(runs, CommittedRun{
		Slot: m.Slot, RunID: m.RunID, Manifest: m.Key, Rows: m.Rows, Objects: len(m.Objects), Committed: at.UTC(),
	})
	next.LastRun = m.RunID
	next.Last = []string{m.Date}
	if m.Schema != nil {
		next.Schema = m.Schema
	}
	return next
}

// SetCursor records a tenant's ("server/database") incremental position,
// and the kind of its cursor when known ("" keeps the state's).
func (s *State) SetCursor(tenant string, ts *TenantState, kind string) {
	if s.Tenants == nil {
		s.Tenants = map[string]*TenantState{}
	}
	s.Tenants[tenant] = ts
	if kind != "" {
		s.CursorKind = kind
	}
}

// Committed reports whether the slot of partition date has a run.
func (s *State) Committed(date, slot string) bool {
	p := s.Partitions[date]
	return p != nil && slices.ContainsFunc(p.Runs, func(r CommittedRun) bool { return r.Slot == slot })
}

// ResetCursors forgets the incremental cursors of a job (or shard): of
// every tenant, or of the one named "server/database". The next run reads
// those tenants from the start again. It refuses (ErrLocked) while a run
// holds the lease, and is a conditional write like a commit
// (ErrStateChanged if a run committed meanwhile). It returns how many
// tenants it reset.
func ResetCursors(ctx context.Context, st load.Store, job string, s Shard, tenant string) (int, error) {
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
		return 0, fmt.Errorf("job %s: no cursor for tenant %q (tenants: %s)", job, tenant, strings.Join(slices.Sorted(maps.Keys(state.Tenants)), ", "))
	}
	if n == 0 {
		return 0, nil
	}
	if err := Commit(ctx, st, state); err != nil {
		return 0, err
	}
	return n, nil
}
