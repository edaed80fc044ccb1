package jobs

import (
	"context"
	"fmt"
	"strings"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/load"
)

// Store is where a job's files go, keyed relative to the job output's root
// (output.to). load.Store says what each method promises and what its
// errors mean.
type Store = load.Store

// OpenStore opens the store for an output.to value: s3://bucket/prefix,
// file:///abs/path, or a folder relative to the working directory.
func OpenStore(ctx context.Context, to string, o config.S3) (Store, error) {
	switch {
	case strings.HasPrefix(to, "s3://"):
		bucket, prefix, err := config.ParseS3URI(to)
		if err != nil {
			return nil, err
		}
		return load.NewS3(ctx, bucket, prefix, load.S3Options{
			PathStyle: o.PathStyle, // or MALLET_S3_PATH_STYLE, which NewS3 reads
			Region:    o.Region,
			SSE:       o.SSE,
			KMSKeyID:  o.KMSKeyID,
		})
	case strings.HasPrefix(to, "file://"):
		return load.NewDir(strings.TrimPrefix(to, "file://"))
	case strings.Contains(to, "://"):
		return nil, fmt.Errorf("output %q: unsupported scheme", to)
	default:
		return load.NewDir(to)
	}
}
