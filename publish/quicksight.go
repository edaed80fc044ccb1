package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/schema"
)

// QuickSight's documented limits for an S3 manifest data source
// (docs.aws.amazon.com/quicksight/latest/user/data-source-limits.html and
// supported-manifest-file-format.html).
const (
	QuickSightMaxFiles      = 1000 // files per manifest
	QuickSightMaxColumns    = 1000 // columns per file
	QuickSightMaxColumnName = 127  // Unicode characters per column name
)

// ErrQuickSightLimit is wrapped by the error of a CSV run whose output
// QuickSight could not import through one manifest. Nothing is published.
var ErrQuickSightLimit = errors.New("over a QuickSight limit")

// QuickSightManifest is QuickSight's S3 manifest format: fileLocations
// (here one entry with the run's file URIs) and globalUploadSettings that
// describe mallet's CSV. Field names and string-typed values are as
// QuickSight documents them.
type QuickSightManifest struct {
	FileLocations        []QuickSightLocation `json:"fileLocations"`
	GlobalUploadSettings QuickSightSettings   `json:"globalUploadSettings"`
}

// QuickSightLocation lists files by URI or by prefix.
type QuickSightLocation struct {
	URIs        []string `json:"URIs"`
	URIPrefixes []string `json:"URIPrefixes,omitempty"`
}

// QuickSightSettings says how to parse the files; every value is a string.
type QuickSightSettings struct {
	Format         string `json:"format"`
	Delimiter      string `json:"delimiter"`
	TextQualifier  string `json:"textqualifier"`
	ContainsHeader string `json:"containsHeader"`
}

// QuickSightPrefix is the key prefix of a job's QuickSight manifests.
func QuickSightPrefix(job string) string { return job + "/quicksight/" }

// QuickSightKey is the manifest of a run date's partition.
func QuickSightKey(job, date string) string { return QuickSightPrefix(job) + "dt=" + date + ".json" }

// QuickSightLatestKey is the manifest of the newest partition date
// committed with files.
func QuickSightLatestKey(job string) string { return QuickSightPrefix(job) + "latest.json" }

// CheckQuickSight reports, in one error wrapping ErrQuickSightLimit, every
// way files of schema s, nFiles of them, exceed QuickSight's limits.
func CheckQuickSight(s schema.Schema, nFiles int) error {
	var probs []string
	if nFiles > QuickSightMaxFiles {
		probs = append(probs, fmt.Sprintf("%d files, QuickSight reads at most %d per manifest (use merge: aggregate, or Parquet through Athena)", nFiles, QuickSightMaxFiles))
	}
	if len(s) > QuickSightMaxColumns {
		probs = append(probs, fmt.Sprintf("%d columns, QuickSight reads at most %d per file", len(s), QuickSightMaxColumns))
	}
	for _, c := range s {
		if n := utf8.RuneCountInString(c.Name); n > QuickSightMaxColumnName {
			probs = append(probs, fmt.Sprintf("column %.20q... has a %d-character name, QuickSight allows %d", c.Name, n, QuickSightMaxColumnName))
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrQuickSightLimit, strings.Join(probs, "; "))
	}
	return nil
}

// NewQuickSightManifest lists CSV or csv.gz files as mallet writes them:
// comma-delimited, '"' as text qualifier, a header row.
func NewQuickSightManifest(uris []string) *QuickSightManifest {
	return &QuickSightManifest{
		FileLocations: []QuickSightLocation{{URIs: append([]string{}, uris...)}},
		GlobalUploadSettings: QuickSightSettings{
			Format:         "CSV",
			Delimiter:      ",",
			TextQualifier:  `"`,
			ContainsHeader: "true",
		},
	}
}

// WriteQuickSight is the QuickSight step of a CSV job, after the commit
// of s: it makes the manifest of partition date and latest.json match the
// states of the job (every shard's) committed now; unchanged is true when
// they already did. Like the symlink (WriteSymlink), both are derived from
// the states read just before the write, and again should a commit land
// during it (settle): a run stalled after its commit must not put its
// older file list back. The date's manifest lists every file of the
// partition's committed runs, shard by shard in commit order; latest.json
// is the manifest of the newest date any state has files for, whichever
// date this run wrote. A partition with no file gets no manifest, and an
// existing one is left as it was: QuickSight refuses a manifest that lists
// no file (a CSV run with no row writes a header-only part so that its day
// has one). A manifest over QuickSight's limits is not written, and the
// error wraps ErrQuickSightLimit; other errors are the store's, and the
// next run's RollForward finishes what a failure leaves.
func WriteQuickSight(ctx context.Context, st load.Store, s *State, date string) (unchanged bool, err error) {
	changed, err := settle(ctx, readJobStates(st, s.Job), func(ctx context.Context, states []*State) (bool, error) {
		return writeQuickSight(ctx, st, s, states, date)
	})
	if err != nil {
		return false, fmt.Errorf("quicksight manifests of %s dt=%s: %w", s.Job, date, err)
	}
	return !changed, nil
}

// writeQuickSight writes the manifests of date and latest.json derived
// from states. Both are checked against the limits before either is
// written.
func writeQuickSight(ctx context.Context, st load.Store, s *State, states []*State, date string) (bool, error) {
	keys := []string{QuickSightKey(s.Job, date)}
	dates := []string{date}
	if latest := newestWithFiles(states); latest != "" {
		keys = append(keys, QuickSightLatestKey(s.Job))
		dates = append(dates, latest)
	}
	docs := make([][]byte, len(keys))
	for i, d := range dates {
		if i > 0 && d == date {
			docs[i] = docs[0]
			continue
		}
		var uris []string
		for _, state := range states {
			p := state.Partitions[d]
			if p == nil {
				continue
			}
			u, err := partitionURIs(ctx, st, p)
			if err != nil {
				return false, err
			}
			uris = append(uris, u...)
		}
		if len(uris) == 0 {
			continue
		}
		if err := CheckQuickSight(s.Schema, len(uris)); err != nil {
			return false, fmt.Errorf("dt=%s: %w", d, err)
		}
		data, err := json.MarshalIndent(NewQuickSightManifest(uris), "", "  ")
		if err != nil {
			return false, err
		}
		docs[i] = append(data, '\n')
	}
	changed := false
	for i, key := range keys {
		if docs[i] == nil {
			continue
		}
		c, err := putChanged(ctx, st, key, docs[i])
		changed = changed || c
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// newestWithFiles is the newest partition date for which a state records
// a committed run with files, or "".
func newestWithFiles(states []*State) string {
	newest := ""
	for _, state := range states {
		for d, p := range state.Partitions {
			if d > newest && slices.ContainsFunc(p.Runs, func(r CommittedRun) bool { return r.Objects > 0 }) {
				newest = d
			}
		}
	}
	return newest
}

// PartitionFiles returns the URIs of the files a reader of m's partition
// sees once m's run is committed: m's objects, then those of the
// partition's other committed runs (Peers) in state order. A partition's
// QuickSight manifest lists exactly these.
func PartitionFiles(ctx context.Context, st load.Store, m *RunManifest) ([]string, error) {
	peers, err := Peers(ctx, st, m.Job, m.Date, ParseShardName(m.Shard), m.Slot)
	if err != nil {
		return nil, err
	}
	var uris []string
	for _, o := range m.Objects {
		uris = append(uris, o.URI)
	}
	for _, p := range peers {
		for _, o := range p.Objects {
			uris = append(uris, o.URI)
		}
	}
	return uris, nil
}
