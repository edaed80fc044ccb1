package jobs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/publish"
)

// Store is where a job's files go: the store the commit protocol works
// over (publish.Store), which a run also uploads its parts to.
type Store = publish.Store

// OpenStore opens the store for an output.to value: s3://bucket/prefix,
// file:///abs/path, or a folder relative to base.
func OpenStore(ctx context.Context, to, base string, o config.S3) (Store, error) {
	switch {
	case strings.HasPrefix(to, "s3://"):
		bucket, prefix, err := load.ParseS3URI(to)
		if err != nil {
			return nil, err
		}
		return load.NewS3(ctx, bucket, prefix, load.S3Options{
			PathStyle: o.PathStyle || os.Getenv("MALLET_S3_PATH_STYLE") == "true",
			Region:    o.Region,
			SSE:       o.SSE,
			KMSKeyID:  o.KMSKeyID,
		})
	case strings.HasPrefix(to, "file://"):
		return load.NewDir(strings.TrimPrefix(to, "file://"))
	case strings.Contains(to, "://"):
		return nil, fmt.Errorf("output %q: unsupported scheme", to)
	default:
		if !filepath.IsAbs(to) {
			to = filepath.Join(base, to)
		}
		return load.NewDir(to)
	}
}
