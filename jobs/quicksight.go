package jobs

import (
	"context"
	"fmt"

	"github.com/mallet-etl/mallet/publish"
	"github.com/mallet-etl/mallet/schema"
)

// isCSV reports whether a job's format gets QuickSight manifests.
func isCSV(format schema.Format) bool {
	return format == schema.CSV || format == schema.CSVGzip
}

// checkQuickSight runs before a CSV run publishes m: the partition (this
// run's files and other shards') must fit one manifest.
func (r *run) checkQuickSight(ctx context.Context, m *publish.RunManifest) error {
	if !isCSV(r.job.Output.Format) {
		return nil
	}
	uris, err := publish.PartitionFiles(ctx, r.store, m)
	if err != nil {
		return fmt.Errorf("quicksight check: %w", err)
	}
	if err := publish.CheckQuickSight(m.Schema, len(uris)); err != nil {
		return fmt.Errorf("job %s: csv output for QuickSight: %w", r.job.Name, err)
	}
	return nil
}
