// Package s3test runs a fake S3 server (gofakes3, in memory) on 127.0.0.1
// over plain HTTP, so tests and demos can point mallet at it through the
// environment (AWS_ENDPOINT_URL_S3) with no network and no credentials.
//
// The fake handles single and multipart uploads, conditional PUTs
// (If-Match, If-None-Match), copies, multi-object deletes and listing
// pending uploads. It has no UploadPartCopy, and it ignores conditions on
// CompleteMultipartUpload.
package s3test

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/mallet-etl/mallet/internal/awstest"
)

// Server is a running fake S3 with one bucket.
type Server struct {
	URL     string         // "http://127.0.0.1:port", the endpoint
	Bucket  string         // created at start
	Backend *s3mem.Backend // the stored objects, for inspection

	hs  *httptest.Server
	mu  sync.Mutex
	ops map[string]int
}

// NewServer starts a fake S3 on a free loopback port with bucket created.
// The caller calls Close. An error means the port or bucket could not be
// had.
func NewServer(bucket string) (*Server, error) {
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		return nil, fmt.Errorf("s3test: create bucket %q: %w", bucket, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("s3test: %w", err)
	}
	s := &Server{Bucket: bucket, Backend: backend, ops: map[string]int{}}
	fake := gofakes3.New(backend).Server()
	s.hs = &httptest.Server{
		Listener: ln,
		Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.count(r)
			fake.ServeHTTP(w, r)
		})},
	}
	s.hs.Start()
	s.URL = s.hs.URL
	return s, nil
}

// Close stops the server and drops its data.
func (s *Server) Close() { s.hs.Close() }

// Env returns the environment, as "KEY=value", that points the AWS SDK and
// mallet at the server: endpoint, dummy credentials, region, path-style
// addressing, and blanks for variables that would override them.
func (s *Server) Env() []string { return env(s.URL) }

func env(url string) []string {
	return append(awstest.Env("S3", url), "MALLET_S3_PATH_STYLE=true")
}

// Requests returns how many requests of the S3 operation op (for example
// "PutObject", "CreateMultipartUpload", "UploadPart",
// "AbortMultipartUpload") the server has received.
func (s *Server) Requests(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ops[op]
}

// AllRequests returns the number of requests per S3 operation so far.
func (s *Server) AllRequests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.ops)
}

func (s *Server) count(r *http.Request) {
	op := operation(r)
	s.mu.Lock()
	s.ops[op]++
	s.mu.Unlock()
}

// operation names the S3 operation of a path-style request.
func operation(r *http.Request) string {
	q := r.URL.Query()
	object := strings.Contains(strings.TrimPrefix(r.URL.Path, "/"), "/")
	copying := r.Header.Get("X-Amz-Copy-Source") != ""
	switch {
	case q.Has("uploadId"):
		switch r.Method {
		case http.MethodPut:
			if copying {
				return "UploadPartCopy"
			}
			return "UploadPart"
		case http.MethodPost:
			return "CompleteMultipartUpload"
		case http.MethodDelete:
			return "AbortMultipartUpload"
		case http.MethodGet:
			return "ListParts"
		}
	case q.Has("uploads"):
		if r.Method == http.MethodPost {
			return "CreateMultipartUpload"
		}
		return "ListMultipartUploads"
	case q.Has("delete") && r.Method == http.MethodPost:
		return "DeleteObjects"
	case object:
		switch r.Method {
		case http.MethodPut:
			if copying {
				return "CopyObject"
			}
			return "PutObject"
		case http.MethodGet:
			return "GetObject"
		case http.MethodHead:
			return "HeadObject"
		case http.MethodDelete:
			return "DeleteObject"
		}
	case r.Method == http.MethodGet:
		return "ListObjects"
	}
	return r.Method
}

// StartServer starts a fake S3 with bucket created, for use outside tests
// (a demo or benchmark harness). It returns the endpoint URL and a stop
// function; Env-style variables are not set.
func StartServer(bucket string) (url string, stop func(), err error) {
	s, err := NewServer(bucket)
	if err != nil {
		return "", nil, err
	}
	return s.URL, s.Close, nil
}

// Start starts a fake S3 with bucket created for the test t, stopped when
// t ends, and sets the environment (see Server.Env) for the rest of t so
// that mallet's S3 store reaches it. It returns the endpoint URL. Like
// t.Setenv, it cannot be used in parallel tests.
func Start(t testing.TB, bucket string) string {
	t.Helper()
	s, err := NewServer(bucket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	Setenv(t, s.URL)
	return s.URL
}

// Setenv points the AWS SDK and mallet at the fake S3 at url for the rest
// of t (see Server.Env).
func Setenv(t testing.TB, url string) {
	t.Helper()
	for _, kv := range env(url) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}
