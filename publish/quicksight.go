package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// QuickSightLatestKey always describes the newest run date published.
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

// WriteQuickSight writes the QuickSight manifest of a run date's partition
// (files: every file of the partition, in order) and, when no later date
// has a manifest, the latest manifest too. It runs after the partition is
// published, so both manifests only ever name complete runs. With no
// files it writes nothing and leaves both manifests as they were:
// QuickSight refuses a manifest that lists no file (a CSV run with no row
// writes a header-only part so that its day has one).
func WriteQuickSight(ctx context.Context, st load.Store, job, date string, s schema.Schema, uris []string) error {
	if len(uris) == 0 {
		return nil
	}
	if err := CheckQuickSight(s, len(uris)); err != nil {
		return fmt.Errorf("quicksight manifest for %s dt=%s: %w", job, date, err)
	}
	data, err := json.MarshalIndent(NewQuickSightManifest(uris), "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	key := QuickSightKey(job, date)
	if _, err := st.Put(ctx, key, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("write %s: %w", st.URI(key), err)
	}
	objs, err := st.List(ctx, QuickSightPrefix(job))
	if err != nil {
		return fmt.Errorf("list %s: %w", st.URI(QuickSightPrefix(job)), err)
	}
	for _, o := range objs {
		// dt=YYYY-MM-DD.json keys sort by date.
		if strings.HasPrefix(o.Key, QuickSightPrefix(job)+"dt=") && o.Key > key {
			return nil // a later date is newer: latest stays on it
		}
	}
	latest := QuickSightLatestKey(job)
	if _, err := st.Put(ctx, latest, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("write %s: %w", st.URI(latest), err)
	}
	return nil
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
