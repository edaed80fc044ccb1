package load

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3 is a store in an S3 bucket under a key prefix. Put streams through a
// multipart upload that is aborted if the upload fails, so an object is
// visible whole or not at all. The ETag is S3's, unquoted.
type S3 struct {
	client      *s3.Client
	bucket      string
	prefix      string // "" or ends with "/"
	sse         types.ServerSideEncryption
	kmsKeyID    *string
	concurrency int
	buffers     *UploadBuffers
}

// S3Options tunes an S3 store. The zero value is usable.
type S3Options struct {
	// PathStyle addresses the bucket as host/bucket rather than
	// bucket.host, as most S3-compatible servers need. It is also on when
	// the environment has MALLET_S3_PATH_STYLE=true.
	PathStyle bool
	// Region is the bucket's region; if empty, the SDK's default chain
	// (AWS_REGION, the shared config) decides, and failing that us-east-1.
	Region string
	// SSE is the server-side encryption for every object written: "",
	// "AES256" or "aws:kms" (with KMSKeyID, or the account's default key).
	// Empty leaves it to the bucket's default encryption.
	SSE      string
	KMSKeyID string
	// PartSize is the multipart part size: Buffers' if zero, else 5 MiB
	// (S3's minimum). Objects smaller than one part go up in a single PUT.
	PartSize int64
	// Concurrency is the number of parts in flight per Put, 2 if zero. A
	// Put holds at most Concurrency+1 part buffers (the parts in flight and
	// the part being filled), taken from Buffers.
	Concurrency int
	// Buffers is the pool the parts are filled in, shared with other
	// stores. If nil: DefaultUploadBuffers (8 parts of 5 MiB for the whole
	// process) for the default part size, else a pool of Concurrency+1
	// parts of this store's own.
	Buffers *UploadBuffers
}

const (
	minPartSize     = 5 << 20
	defaultPartSize = 5 << 20
	maxPartSize     = 5 << 30
	// deleteBatch is the most keys one DeleteObjects takes.
	deleteBatch = 1000
	// abortTimeout bounds aborting an upload after its context is done,
	// inside ECS's default 30 s stop timeout.
	abortTimeout = 20 * time.Second
)

// NewS3 returns a store writing to bucket under prefix (with or without a
// trailing slash; "" for the bucket root).
//
// Credentials, region and endpoint come from the SDK's default chain: the
// environment (AWS_ACCESS_KEY_ID, AWS_REGION, AWS_ENDPOINT_URL_S3 for an
// S3-compatible server), the shared config, then the ECS or EC2 role. If
// AWS_CA_BUNDLE names a file that is missing or holds no certificates, the
// SDK would refuse to load; NewS3 uses the system's CA file in its place
// (plain-HTTP endpoints never look at it).
//
// Requests are retried by the SDK's standard retryer (5 attempts, backoff
// up to 20 s) on 5xx, throttling, timeouts and broken connections.
// Checksums are sent and checked only where S3 requires them: the SDK's
// default (aws-chunked uploads with trailing CRC32 checksums) is refused or
// mangled by some S3-compatible servers and fake S3s, and each request is
// already signed with its payload hash or sent over TLS.
//
// An error means the options are invalid or the SDK config could not be
// loaded; NewS3 does not contact S3.
func NewS3(ctx context.Context, bucket, prefix string, o S3Options) (*S3, error) {
	s := &S3{bucket: bucket, concurrency: o.Concurrency}
	if bucket == "" || strings.ContainsAny(bucket, "/?#") {
		return nil, fmt.Errorf("s3: invalid bucket name %q", bucket)
	}
	if p := strings.Trim(prefix, "/"); p != "" {
		if err := checkKey(p); err != nil {
			return nil, fmt.Errorf("s3: prefix: %w", err)
		}
		s.prefix = p + "/"
	}
	switch o.SSE {
	case "", "AES256", "aws:kms":
		s.sse = types.ServerSideEncryption(o.SSE)
	default:
		return nil, fmt.Errorf("s3: sse %q: want AES256 or aws:kms", o.SSE)
	}
	if o.KMSKeyID != "" {
		if o.SSE != "aws:kms" {
			return nil, errors.New("s3: a kms key id needs sse aws:kms")
		}
		s.kmsKeyID = aws.String(o.KMSKeyID)
	}
	switch {
	case o.PartSize != 0 && o.PartSize < minPartSize:
		return nil, fmt.Errorf("s3: part size %d is below S3's minimum of %d", o.PartSize, minPartSize)
	case o.PartSize > maxPartSize:
		return nil, fmt.Errorf("s3: part size %d is above S3's maximum of %d", o.PartSize, int64(maxPartSize))
	case o.Buffers != nil && o.PartSize != 0 && o.PartSize != int64(o.Buffers.PartSize()):
		return nil, fmt.Errorf("s3: part size %d differs from the upload buffers' %d", o.PartSize, o.Buffers.PartSize())
	}
	switch {
	case s.concurrency == 0:
		s.concurrency = 2
	case s.concurrency < 0:
		return nil, fmt.Errorf("s3: concurrency %d is negative", s.concurrency)
	}
	s.buffers = o.Buffers
	switch {
	case s.buffers != nil:
	case o.PartSize == 0 || o.PartSize == defaultPartSize:
		s.buffers = DefaultUploadBuffers
	default:
		// Another part size cannot share the process's buffers.
		s.buffers = NewUploadBuffers(int(o.PartSize), s.concurrency+1)
	}
	pathStyle := o.PathStyle
	if v := os.Getenv("MALLET_S3_PATH_STYLE"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("s3: MALLET_S3_PATH_STYLE=%q: want true or false", v)
		}
		pathStyle = pathStyle || on
	}

	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 5
				o.MaxBackoff = 20 * time.Second
			})
		}),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	caOpt, err := caBundleFallback()
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	if caOpt != nil {
		opts = append(opts, caOpt)
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	s.client = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	return s, nil
}

// caBundleFallback returns a load option that replaces an unusable
// AWS_CA_BUNDLE with the system's CA file, nil when AWS_CA_BUNDLE is unset
// or usable, and an error when it is unusable and there is no system file.
func caBundleFallback() (config.LoadOptionsFunc, error) {
	name := os.Getenv("AWS_CA_BUNDLE")
	if name == "" || isPEMFile(name) {
		return nil, nil
	}
	files := []string{
		os.Getenv("SSL_CERT_FILE"),
		"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Alpine
		"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL, Amazon Linux
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // RHEL 7+
		"/etc/ssl/ca-bundle.pem",                            // openSUSE
		"/etc/ssl/cert.pem",                                 // macOS, Alpine
	}
	for _, f := range files {
		if f == "" || !isPEMFile(f) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		return config.WithCustomCABundle(bytes.NewReader(b)), nil
	}
	return nil, fmt.Errorf("AWS_CA_BUNDLE %q is not a readable PEM file and no system CA file was found", name)
}

func isPEMFile(name string) bool {
	b, err := os.ReadFile(name)
	return err == nil && x509.NewCertPool().AppendCertsFromPEM(b)
}

// URI returns "s3://bucket/prefix/key".
func (s *S3) URI(key string) string { return "s3://" + s.bucket + "/" + s.prefix + key }

func (s *S3) key(key string) *string { return aws.String(s.prefix + key) }

func (s *S3) errorf(op, key string, err error) error {
	return fmt.Errorf("s3: %s %s: %w", op, s.URI(key), translate(err))
}

// translate maps S3's "not found" to fs.ErrNotExist.
func translate(err error) error {
	switch apiCode(err) {
	case "NoSuchKey", "NotFound":
		return &seamError{msg: "object does not exist", sentinel: fs.ErrNotExist, cause: err}
	}
	return err
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Put streams r into key through a multipart upload (a single PUT if r
// holds less than one part), replacing any object there, and returns the
// number of bytes written. Parts are filled in buffers from the store's
// UploadBuffers, so Put may wait for other uploads to give some back. When
// r fails or ctx is done first (ctx is checked between Reads, a blocked
// Read is not interrupted), the upload is aborted: the previous object
// stays and no pending upload is left. Should the abort itself fail, the
// error says so; AbortIncomplete cleans up later.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, s.errorf("put", key, err)
	}
	n, err := s.put(ctx, key, r)
	if err != nil {
		return 0, s.errorf("put", key, err)
	}
	return n, nil
}

// abort aborts an upload, with a fresh context if ctx is done. An upload
// that is already gone is not an error.
func (s *S3) abort(ctx context.Context, key, uploadID string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(s.bucket),
		Key:      s.key(key),
		UploadId: aws.String(uploadID),
	})
	if err != nil && apiCode(err) != "NoSuchUpload" {
		return fmt.Errorf("abort upload %s: %w", uploadID, err)
	}
	return nil
}

// WriteIf writes data to key in one PUT if the condition holds: with
// ifMatch == "", only if key does not exist (If-None-Match: *); otherwise
// only if key's current ETag is ifMatch (If-Match). It returns the new
// ETag. When the condition fails, the error wraps ErrPrecondition.
//
// A PUT that S3 applied but whose response was lost is retried, and the
// retry then fails its condition: after ErrPrecondition, a caller that must
// know re-reads the object and compares it with data.
func (s *S3) WriteIf(ctx context.Context, key string, data []byte, ifMatch string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", s.errorf("write", key, err)
	}
	in := &s3.PutObjectInput{
		Bucket:               aws.String(s.bucket),
		Key:                  s.key(key),
		Body:                 bytes.NewReader(data),
		ContentLength:        aws.Int64(int64(len(data))),
		ServerSideEncryption: s.sse,
		SSEKMSKeyId:          s.kmsKeyID,
	}
	if ifMatch == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(`"` + ifMatch + `"`)
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		switch apiCode(err) {
		// 409 is a concurrent conditional write; 404 an If-Match on a
		// missing object.
		case "PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "NotFound":
			err = &seamError{msg: ErrPrecondition.Error(), sentinel: ErrPrecondition, cause: err}
		}
		return "", s.errorf("write", key, err)
	}
	return unquote(out.ETag), nil
}

// Get opens key for reading. The caller closes the reader. A missing key is
// an error wrapping fs.ErrNotExist.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := checkKey(key); err != nil {
		return nil, Info{}, s.errorf("get", key, err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: s.key(key)})
	if err != nil {
		return nil, Info{}, s.errorf("get", key, err)
	}
	return out.Body, Info{
		Key:      key,
		Size:     aws.ToInt64(out.ContentLength),
		ETag:     unquote(out.ETag),
		Modified: aws.ToTime(out.LastModified),
	}, nil
}

// Stat describes key. A missing key is an error wrapping fs.ErrNotExist.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := checkKey(key); err != nil {
		return Info{}, s.errorf("stat", key, err)
	}
	out, err := s.head(ctx, key)
	if err != nil {
		return Info{}, s.errorf("stat", key, err)
	}
	return Info{
		Key:      key,
		Size:     aws.ToInt64(out.ContentLength),
		ETag:     unquote(out.ETag),
		Modified: aws.ToTime(out.LastModified),
	}, nil
}

func (s *S3) head(ctx context.Context, key string) (*s3.HeadObjectOutput, error) {
	return s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: s.key(key)})
}

// List returns every object whose key starts with prefix, sorted by key.
func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, s.errorf("list", prefix, err)
	}
	var out []Info
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: s.key(prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.errorf("list", prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, Info{
				Key:      strings.TrimPrefix(aws.ToString(o.Key), s.prefix),
				Size:     aws.ToInt64(o.Size),
				ETag:     unquote(o.ETag),
				Modified: aws.ToTime(o.LastModified),
			})
		}
	}
	// S3 lists in byte order already; S3-compatible servers may not.
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete removes keys with DeleteObjects, 1,000 at a time. Missing keys
// are not an error; the error joins one error per key S3 refused.
func (s *S3) Delete(ctx context.Context, keys ...string) error {
	var errs []error
	var ids []types.ObjectIdentifier
	for _, key := range keys {
		if err := checkKey(key); err != nil {
			errs = append(errs, s.errorf("delete", key, err))
			continue
		}
		ids = append(ids, types.ObjectIdentifier{Key: s.key(key)})
	}
	for batch := range slices.Chunk(ids, deleteBatch) {
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(s.bucket),
			Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("s3: delete %d keys under %s: %w", len(batch), s.URI(""), err))
			continue
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) == "NoSuchKey" {
				continue
			}
			key := strings.TrimPrefix(aws.ToString(e.Key), s.prefix)
			errs = append(errs, fmt.Errorf("s3: delete %s: %s: %s", s.URI(key), aws.ToString(e.Code), aws.ToString(e.Message)))
		}
	}
	return errors.Join(errs...)
}

// AbortIncomplete aborts every pending multipart upload under prefix, such
// as those of a process killed mid-Put. An upload in progress under prefix
// in another process fails, so call it only while no one else writes there.
func (s *S3) AbortIncomplete(ctx context.Context, prefix string) error {
	if err := checkPrefix(prefix); err != nil {
		return s.errorf("abort", prefix, err)
	}
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: s.key(prefix)}
	var errs []error
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if apiCode(err) == "NoSuchUpload" {
			// gofakes3 answers so for a bucket that never had an upload.
			break
		}
		if err != nil {
			errs = append(errs, err)
			break
		}
		for _, u := range out.Uploads {
			key := strings.TrimPrefix(aws.ToString(u.Key), s.prefix)
			if err := s.abort(ctx, key, aws.ToString(u.UploadId)); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.URI(key), err))
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	if err := errors.Join(errs...); err != nil {
		return s.errorf("abort", prefix, err)
	}
	return nil
}

func unquote(etag *string) string { return strings.Trim(aws.ToString(etag), `"`) }
