package load

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// UploadBuffers bounds the memory that S3 uploads fill their parts in,
// across every upload of every S3 store that shares it: a part is read into
// one of its buffers, which is given back once S3 has the part. An upload
// waits, first come first served, while every buffer is taken. An upload
// never holds one buffer while it waits for another, so waiting ends as
// other uploads' parts complete.
//
// The buffers live outside Go's heap where the system allows (an anonymous
// mapping on Unix), for two reasons: the garbage collector, which lets the
// heap grow to twice what is live, would otherwise count them as live and
// let as much garbage again accumulate; and only the pages a part touched
// are resident, so a buffer holding a 100 KB file costs 100 KB. Buffers are
// kept for reuse; when no upload holds any, their pages are given back to
// the system.
type UploadBuffers struct {
	partSize int
	parts    int
	sem      *semaphore.Weighted

	mu   sync.Mutex
	free [][]byte
	held int // buffers handed out
	peak int // the most held at once
}

// DefaultUploadParts is the size of DefaultUploadBuffers: 8 parts of 5 MiB
// (40 MiB), enough for two uploads at full speed (two parts in flight and
// one being filled each) or eight at one part each.
const DefaultUploadParts = 8

// DefaultUploadBuffers is shared by the S3 stores whose options name no
// UploadBuffers and keep the default part size: one bound for the whole
// process.
var DefaultUploadBuffers = NewUploadBuffers(defaultPartSize, DefaultUploadParts)

// NewUploadBuffers returns a pool of parts buffers of partSize bytes.
func NewUploadBuffers(partSize, parts int) *UploadBuffers {
	return &UploadBuffers{partSize: partSize, parts: parts, sem: semaphore.NewWeighted(int64(parts))}
}

// PartSize returns the size of each buffer.
func (b *UploadBuffers) PartSize() int { return b.partSize }

// Limit returns the most bytes the buffers hold together.
func (b *UploadBuffers) Limit() int64 { return int64(b.partSize) * int64(b.parts) }

// get returns a buffer, waiting for one; the error is ctx's.
func (b *UploadBuffers) get(ctx context.Context) ([]byte, error) {
	if err := b.sem.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held++
	b.peak = max(b.peak, b.held)
	if n := len(b.free); n > 0 {
		buf := b.free[n-1]
		b.free = b.free[:n-1]
		return buf, nil
	}
	return allocPart(b.partSize), nil
}

// put gives a buffer back.
func (b *UploadBuffers) put(buf []byte) {
	b.mu.Lock()
	b.held--
	b.free = append(b.free, buf)
	if b.held == 0 {
		for _, f := range b.free {
			releasePart(f)
		}
	}
	b.mu.Unlock()
	b.sem.Release(1)
}

// maxParts is S3's limit of parts in a multipart upload.
const maxParts = 10_000

// put streams r into key: one PUT when r holds less than a part, else a
// multipart upload with up to s.concurrency parts in flight, aborted if
// anything fails. It returns the number of bytes written.
func (s *S3) put(ctx context.Context, key string, r io.Reader) (int64, error) {
	// Bytes already in memory and smaller than a part (manifests, state,
	// DDL) go up as they are, without taking a buffer.
	if m, ok := r.(interface {
		io.ReadSeeker
		Len() int
	}); ok && m.Len() < s.buffers.partSize {
		n := m.Len()
		return int64(n), s.putObject(ctx, key, m, n)
	}
	body := &ctxReader{ctx: ctx, r: r}
	buf, err := s.buffers.get(ctx)
	if err != nil {
		return 0, err
	}
	n, err := io.ReadFull(body, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = s.putObject(ctx, key, bytes.NewReader(buf[:n]), n)
		s.buffers.put(buf)
		return int64(n), err
	}
	if err != nil {
		s.buffers.put(buf)
		return 0, err
	}
	return s.putParts(ctx, key, body, buf)
}

func (s *S3) putObject(ctx context.Context, key string, r io.ReadSeeker, n int) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:               aws.String(s.bucket),
		Key:                  s.key(key),
		Body:                 r,
		ContentLength:        aws.Int64(int64(n)),
		ServerSideEncryption: s.sse,
		SSEKMSKeyId:          s.kmsKeyID,
	})
	return err
}

// putParts uploads first, a full part, and the rest of body as a multipart
// upload. It gives first back.
func (s *S3) putParts(ctx context.Context, key string, body io.Reader, first []byte) (int64, error) {
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:               aws.String(s.bucket),
		Key:                  s.key(key),
		ServerSideEncryption: s.sse,
		SSEKMSKeyId:          s.kmsKeyID,
	})
	if err != nil {
		s.buffers.put(first)
		return 0, err
	}
	id := out.UploadId
	var (
		mu    sync.Mutex
		parts []types.CompletedPart
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.concurrency)
	send := func(num int32, buf []byte, n int) {
		g.Go(func() error {
			defer s.buffers.put(buf)
			out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{
				Bucket:        aws.String(s.bucket),
				Key:           s.key(key),
				UploadId:      id,
				PartNumber:    aws.Int32(num),
				Body:          bytes.NewReader(buf[:n]),
				ContentLength: aws.Int64(int64(n)),
			})
			if err != nil {
				return fmt.Errorf("upload part %d: %w", num, err)
			}
			mu.Lock()
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
			mu.Unlock()
			return nil
		})
	}
	total := int64(len(first))
	send(1, first, len(first))
	var rerr error
	for num := int32(2); ; num++ {
		buf, err := s.buffers.get(gctx)
		if err != nil {
			rerr = err
			break
		}
		n, err := io.ReadFull(body, buf)
		if n > 0 && num > maxParts {
			s.buffers.put(buf)
			rerr = fmt.Errorf("object larger than %d parts of %d bytes", maxParts, len(buf))
			break
		}
		if n > 0 {
			send(num, buf, n)
			total += int64(n)
		} else {
			s.buffers.put(buf)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	werr := g.Wait()
	// A failed part cancels gctx, which the reading loop may have seen
	// first: the part's error is the cause.
	if werr != nil && (rerr == nil || errors.Is(rerr, context.Canceled) && ctx.Err() == nil) {
		rerr = werr
	}
	if rerr == nil {
		slices.SortFunc(parts, func(a, b types.CompletedPart) int {
			return cmp.Compare(aws.ToInt32(a.PartNumber), aws.ToInt32(b.PartNumber))
		})
		_, rerr = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket:          aws.String(s.bucket),
			Key:             s.key(key),
			UploadId:        id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
		if rerr == nil {
			return total, nil
		}
		rerr = fmt.Errorf("complete upload: %w", rerr)
	}
	if aerr := s.abort(ctx, key, aws.ToString(id)); aerr != nil {
		rerr = errors.Join(rerr, aerr)
	}
	return 0, rerr
}
