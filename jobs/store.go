package jobs

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/load"
)

// Store is where a job's files go. Keys are slash-separated and relative to
// the job output's root (output.to). Errors for a missing key satisfy
// errors.Is(err, fs.ErrNotExist).
type Store interface {
	// Put streams r to key; the object appears only when complete, and a
	// failed Put leaves nothing behind.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	Get(ctx context.Context, key string) (io.ReadCloser, load.Info, error)
	List(ctx context.Context, prefix string) ([]load.Info, error)
	Delete(ctx context.Context, keys ...string) error
	// WriteIf writes data to key only if key does not exist (ifMatch "")
	// or its ETag is ifMatch, and returns the new ETag; a failed condition
	// is an error wrapping load.ErrPrecondition. State and leases use it.
	WriteIf(ctx context.Context, key string, data []byte, ifMatch string) (string, error)
	AbortIncomplete(ctx context.Context, prefix string) error
	URI(key string) string
}

var (
	_ Store = (*load.Dir)(nil)
	_ Store = (*load.S3)(nil)
)

// OpenStore opens the store for an output.to value: s3://bucket/prefix,
// file:///abs/path, or a folder relative to base.
func OpenStore(ctx context.Context, to, base string, o config.S3) (Store, error) {
	switch {
	case strings.HasPrefix(to, "s3://"):
		bucket, prefix, err := config.ParseS3URI(to)
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
