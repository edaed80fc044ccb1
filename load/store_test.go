package load

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/mallet-etl/mallet/load/s3test"
	"golang.org/x/sys/unix"
)

const (
	testBucket   = "mallet-test"
	testPrefix   = "base/prefix"
	testPartSize = 5 << 20
)

var errBoom = errors.New("boom")

// newTestS3 starts a fake S3 for t and returns a store on it, under
// testPrefix, configured through the environment as in production.
func newTestS3(t *testing.T, o S3Options) (*S3, *s3test.Server) {
	t.Helper()
	srv, err := s3test.NewServer(testBucket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	s3test.Setenv(t, srv.URL)
	s, err := NewS3(t.Context(), testBucket, testPrefix, o)
	if err != nil {
		t.Fatal(err)
	}
	return s, srv
}

// TestStoreStat checks Stat, which the Store interface leaves out: it
// describes an object as Get does, and a missing one wraps fs.ErrNotExist.
func TestStoreStat(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s3, _ := newTestS3(t, S3Options{})
	for _, s := range []interface {
		Store
		Stat(ctx context.Context, key string) (Info, error)
	}{d, s3} {
		t.Run(fmt.Sprintf("%T", s), func(t *testing.T) {
			put(t, s, "a/k", "hello")
			_, info := get(t, s, "a/k")
			st, err := s.Stat(t.Context(), "a/k")
			if err != nil {
				t.Fatal(err)
			}
			if st.Key != info.Key || st.Size != info.Size || st.ETag != info.ETag || st.Modified.IsZero() {
				t.Errorf("Stat = %+v, Get %+v: want the same key, size and etag", st, info)
			}
			for _, key := range []string{"missing", "a/k/below"} {
				_, err := s.Stat(t.Context(), key)
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Stat(%q) = %v, want fs.ErrNotExist", key, err)
				}
				if err != nil && !strings.Contains(err.Error(), "stat "+s.URI(key)+": ") {
					t.Errorf("Stat(%q) error %q does not name op and URI", key, err)
				}
			}
		})
	}
}

// increment adds one to the number stored at key, retrying when another
// writer got there first.
func increment(ctx context.Context, s Store, key string) error {
	for {
		rc, info, err := s.Get(ctx, key)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(string(b))
		if err != nil {
			return err
		}
		_, err = s.WriteIf(ctx, key, []byte(strconv.Itoa(n+1)), info.ETag)
		if errors.Is(err, ErrPrecondition) {
			continue
		}
		return err
	}
}

func put(t *testing.T, s Store, key, data string) {
	t.Helper()
	if _, err := s.Put(t.Context(), key, strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, s Store, key string) ([]byte, Info) {
	t.Helper()
	rc, info, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b, info
}

func listKeys(t *testing.T, s Store, prefix string) []string {
	t.Helper()
	infos, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, in := range infos {
		keys = append(keys, in.Key)
	}
	return keys
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{'m', 'a', 'l', 'l', 'e', 't'})
	r.Read(b)
	return b
}

// TestStoreS3Requests checks what reaches the server: small objects in one
// PUT, big ones in parts of PartSize, failed uploads aborted.
func TestStoreS3Requests(t *testing.T) {
	data := randomBytes(12 << 20)
	for _, tc := range []struct {
		name string
		r    func() io.Reader
		want map[string]int
	}{
		{"small", func() io.Reader { return bytes.NewReader(data[:100]) },
			map[string]int{"PutObject": 1, "CreateMultipartUpload": 0, "UploadPart": 0}},
		{"one part exactly", func() io.Reader { return bytes.NewReader(data[:testPartSize]) },
			map[string]int{"PutObject": 0, "CreateMultipartUpload": 1, "UploadPart": 1, "CompleteMultipartUpload": 1}},
		{"three parts", func() io.Reader { return bytes.NewReader(data) },
			map[string]int{"PutObject": 0, "CreateMultipartUpload": 1, "UploadPart": 3, "CompleteMultipartUpload": 1, "AbortMultipartUpload": 0}},
		{"failing reader", func() io.Reader {
			return io.MultiReader(bytes.NewReader(data[:7<<20]), iotest.ErrReader(errBoom))
		}, map[string]int{"CreateMultipartUpload": 1, "CompleteMultipartUpload": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, srv := newTestS3(t, S3Options{PartSize: testPartSize})
			_, err := s.Put(t.Context(), "k", tc.r())
			if tc.name == "failing reader" {
				if !errors.Is(err, errBoom) {
					t.Fatalf("Put = %v, want %v", err, errBoom)
				}
				if srv.Requests("AbortMultipartUpload") == 0 {
					t.Error("no AbortMultipartUpload request")
				}
			} else if err != nil {
				t.Fatal(err)
			}
			for op, want := range tc.want {
				if got := srv.Requests(op); got != want {
					t.Errorf("%s requests = %d, want %d", op, got, want)
				}
			}
		})
	}
}

// TestStoreS3Env points a store at the fake server with nothing but the
// environment: no options, as in production.
func TestStoreS3Env(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		caBundle string // "-" keeps the inherited AWS_CA_BUNDLE
	}{
		{"inherited AWS_CA_BUNDLE", "-"},
		{"no AWS_CA_BUNDLE", ""},
		{"missing AWS_CA_BUNDLE file", filepath.Join(t.TempDir(), "missing.pem")},
		{"AWS_CA_BUNDLE without certificates", garbage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := s3test.NewServer(testBucket)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if tc.caBundle != "-" {
				t.Setenv("AWS_CA_BUNDLE", tc.caBundle)
			}
			t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL)
			t.Setenv("AWS_ACCESS_KEY_ID", "dummy")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "dummy")
			t.Setenv("AWS_REGION", "") // falls back to us-east-1
			t.Setenv("MALLET_S3_PATH_STYLE", "true")
			s, err := NewS3(t.Context(), testBucket, "", S3Options{})
			if err != nil {
				t.Fatal(err)
			}
			put(t, s, "env.csv", "reached")
			if got, _ := get(t, s, "env.csv"); string(got) != "reached" {
				t.Errorf("Get = %q, want %q", got, "reached")
			}
			if got := srv.Requests("PutObject"); got != 1 {
				t.Errorf("server saw %d PutObject requests, want 1", got)
			}
		})
	}
}

// TestStoreS3SSE checks that the encryption options reach every write.
// gofakes3 stores the x-amz-server-side-encryption headers it is sent and
// returns them on HEAD.
func TestStoreS3SSE(t *testing.T) {
	for _, o := range []S3Options{
		{SSE: "AES256"},
		{SSE: "aws:kms", KMSKeyID: "alias/mallet"},
	} {
		t.Run(o.SSE, func(t *testing.T) {
			o.PartSize = testPartSize
			s, _ := newTestS3(t, o)
			put(t, s, "put-small", "x")
			if _, err := s.Put(t.Context(), "put-multipart", bytes.NewReader(randomBytes(6<<20))); err != nil {
				t.Fatal(err)
			}
			if _, err := s.WriteIf(t.Context(), "write-if", []byte("x"), ""); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"put-small", "put-multipart", "write-if"} {
				h, err := s.head(t.Context(), key)
				if err != nil {
					t.Fatal(err)
				}
				if got := string(h.ServerSideEncryption); got != o.SSE {
					t.Errorf("%s: sse %q, want %q", key, got, o.SSE)
				}
				if got := aws.ToString(h.SSEKMSKeyId); got != o.KMSKeyID {
					t.Errorf("%s: kms key %q, want %q", key, got, o.KMSKeyID)
				}
			}
		})
	}
}

func TestStoreS3Options(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bucket    string
		prefix    string
		o         S3Options
		pathStyle string
		wantErr   string
	}{
		{"bad sse", "b", "", S3Options{SSE: "des"}, "", `sse "des"`},
		{"kms key without kms", "b", "", S3Options{SSE: "AES256", KMSKeyID: "k"}, "", "kms key id needs sse aws:kms"},
		{"small part", "b", "", S3Options{PartSize: 1 << 20}, "", "below S3's minimum"},
		{"negative concurrency", "b", "", S3Options{Concurrency: -1}, "", "concurrency -1"},
		{"no bucket", "", "", S3Options{}, "", "invalid bucket"},
		{"bad prefix", "b", "a/../b", S3Options{}, "", "invalid key"},
		{"bad path style", "b", "", S3Options{}, "yes please", "MALLET_S3_PATH_STYLE"},
		{"ok", "b", "/a/b/", S3Options{SSE: "aws:kms", KMSKeyID: "k", PartSize: 5 << 20, Concurrency: 4}, "false", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MALLET_S3_PATH_STYLE", tc.pathStyle)
			t.Setenv("AWS_ACCESS_KEY_ID", "dummy")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "dummy")
			t.Setenv("AWS_REGION", "")
			t.Setenv("AWS_DEFAULT_REGION", "")
			s, err := NewS3(t.Context(), tc.bucket, tc.prefix, tc.o)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got, want := s.URI("k.csv"), "s3://b/a/b/k.csv"; got != want {
					t.Errorf("URI = %q, want %q", got, want)
				}
				o := s.client.Options()
				if got := o.Retryer.MaxAttempts(); got != 5 {
					t.Errorf("retryer max attempts %d, want 5", got)
				}
				if o.RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired ||
					o.ResponseChecksumValidation != aws.ResponseChecksumValidationWhenRequired {
					t.Errorf("checksums %v/%v, want when_required", o.RequestChecksumCalculation, o.ResponseChecksumValidation)
				}
				if o.Region != "us-east-1" || o.UsePathStyle {
					t.Errorf("region %q, path style %v; want us-east-1, false", o.Region, o.UsePathStyle)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewS3 error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestStoreURI(t *testing.T) {
	root := filepath.Join(t.TempDir(), "out dir")
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newTestS3(t, S3Options{})
	for _, tc := range []struct {
		s    Store
		key  string
		want string
	}{
		{d, "a/b.csv", "file://" + filepath.ToSlash(root) + "/a/b.csv"},
		{s, "a/b.csv", "s3://" + testBucket + "/" + testPrefix + "/a/b.csv"},
	} {
		want := strings.ReplaceAll(tc.want, " ", "%20")
		if got := tc.s.URI(tc.key); got != want {
			t.Errorf("%T.URI(%q) = %q, want %q", tc.s, tc.key, got, want)
		}
	}
}

// TestStoreDirPerms checks that output is not world-readable.
func TestStoreDirPerms(t *testing.T) {
	root := filepath.Join(t.TempDir(), "out")
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	put(t, d, "a/b/put.csv", "x")
	if _, err := d.WriteIf(t.Context(), "a/state", []byte("x"), ""); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want fs.FileMode
	}{
		{"", fs.ModeDir | dirPerm},
		{"a", fs.ModeDir | dirPerm},
		{"a/b", fs.ModeDir | dirPerm},
		{"a/state", filePerm},
		{"a/b/put.csv", filePerm},
		{lockName, filePerm},
	} {
		fi, err := os.Stat(filepath.Join(root, tc.path))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode(); got != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.path, got, tc.want)
		}
	}
}

// TestStoreDirETag checks that the ETag is the SHA-256 of the content,
// whether it comes from the xattr cache or from hashing a file that was
// changed behind the store's back.
func TestStoreDirETag(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put(t, d, "k", "hello")
	const helloSHA = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	if info, err := d.Stat(t.Context(), "k"); err != nil || info.ETag != helloSHA {
		t.Fatalf("Stat = %+v, %v; want etag %s", info, err, helloSHA)
	}
	// Stat takes the ETag from the cache while size and mtime match.
	fi, err := os.Stat(d.path("k"))
	if err != nil {
		t.Fatal(err)
	}
	fake := strings.Repeat("ab", 32)
	if err := unix.Setxattr(d.path("k"), etagXattr, []byte(xattrValue(fi, fake)), 0); err != nil {
		t.Skipf("no user xattrs here: %v", err)
	}
	if info, err := d.Stat(t.Context(), "k"); err != nil || info.ETag != fake {
		t.Errorf("Stat = %+v, %v; want the cached etag %s", info, err, fake)
	}
	if err := os.WriteFile(d.path("k"), []byte("changed"), filePerm); err != nil {
		t.Fatal(err)
	}
	// sha256("changed")
	const want = "d67e2e944994496c8d8ec76eed0cf9f09679448d584b532bebf941852a37f5ed"
	infos, err := d.List(t.Context(), "")
	if err != nil || len(infos) != 1 || infos[0].ETag != want || infos[0].ETag == helloSHA {
		t.Errorf("List = %+v, %v; want one object with etag %s", infos, err, want)
	}
}

// TestStoreDirProcesses runs conditional increments from two processes on
// one folder: flock must serialise them.
func TestStoreDirProcesses(t *testing.T) {
	const key, each = "state/counter", 40
	if root := os.Getenv("MALLET_TEST_STORE_ROOT"); root != "" {
		d, err := NewDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for range each {
			if err := increment(t.Context(), d, key); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	if testing.Short() {
		t.Skip("runs this test binary twice more: not in -short")
	}
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.WriteIf(t.Context(), key, []byte("0"), ""); err != nil {
		t.Fatal(err)
	}
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range 2 {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestStoreDirProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MALLET_TEST_STORE_ROOT="+d.root)
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("child %d: %v\n%s", i, err, outs[i])
		}
	}
	if got, _ := get(t, d, key); string(got) != strconv.Itoa(2*each) {
		t.Errorf("counter = %s, want %d", got, 2*each)
	}
}

// TestStoreS3TLS talks HTTPS to a fake S3 whose certificate is trusted only
// through AWS_CA_BUNDLE. Over TLS the SDK's default checksum mode sends
// bodies aws-chunked with a trailing checksum, which gofakes3 (like some
// S3-compatible servers) stores frame and all; the store must send plain
// bodies, through the transfer manager too.
func TestStoreS3TLS(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var chunked []string
	fake := gofakes3.New(backend).Server()
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
			mu.Lock()
			chunked = append(chunked, r.Method+" "+r.URL.String())
			mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	}))
	defer hs.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	s3test.Setenv(t, hs.URL)
	t.Setenv("AWS_CA_BUNDLE", ca)
	s, err := NewS3(t.Context(), testBucket, testPrefix, S3Options{PartSize: testPartSize})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{100, 12 << 20} {
		data := randomBytes(size)
		if _, err := s.Put(t.Context(), "k", bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if got, _ := get(t, s, "k"); !bytes.Equal(got, data) {
			t.Errorf("size %d: Get returned %d different bytes", size, len(got))
		}
	}
	if _, err := s.WriteIf(t.Context(), "w", []byte("x"), ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := get(t, s, "w"); string(got) != "x" {
		t.Errorf("WriteIf then Get = %q, want x", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(chunked) > 0 {
		t.Errorf("aws-chunked requests: %q", chunked)
	}
}

// TestStoreS3Retry fails the first attempt of a part upload and of a
// conditional write with a 503: the retryer must resend the same bytes.
func TestStoreS3Retry(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	fake := gofakes3.New(backend).Server()
	var mu sync.Mutex
	failed := map[string]bool{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		victim := (q.Get("partNumber") == "2" || r.Header.Get("If-None-Match") != "")
		mu.Lock()
		fail := victim && !failed[r.URL.RawQuery]
		if victim {
			failed[r.URL.RawQuery] = true
		}
		mu.Unlock()
		if fail {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<Error><Code>SlowDown</Code><Message>slow down</Message></Error>`)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	defer hs.Close()
	s3test.Setenv(t, hs.URL)
	s, err := NewS3(t.Context(), testBucket, testPrefix, S3Options{PartSize: testPartSize})
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(12 << 20)
	if _, err := s.Put(t.Context(), "k", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got, _ := get(t, s, "k"); !bytes.Equal(got, data) {
		t.Error("Get after a retried part returned different bytes")
	}
	if _, err := s.WriteIf(t.Context(), "w", []byte("x"), ""); err != nil {
		t.Fatalf("WriteIf with one 503 = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 2 {
		t.Errorf("failed %d requests once (%v), want 2: a part and a conditional PUT", len(failed), failed)
	}
}

// TestStoreDirDeleteFolders: deleting the last object of a folder removes
// the folders left empty, up to the root and no further, and a Put into a
// removed folder makes it again.
func TestStoreDirDeleteFolders(t *testing.T) {
	root := t.TempDir()
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, k := range []string{"j/data/dt=1/run1/part-0", "j/data/dt=1/run1/part-1", "j/data/dt=1/run2/part-0"} {
		if _, err := d.Put(ctx, k, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Delete(ctx, "j/data/dt=1/run1/part-0", "j/data/dt=1/run1/part-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "j/data/dt=1/run1")); !os.IsNotExist(err) {
		t.Errorf("run1's folder after deleting its objects: got %v, want it gone", err)
	}
	if err := d.Delete(ctx, "j/data/dt=1/run2/part-0"); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatalf("the root must stay: %v", err)
	}
	if len(ents) != 0 {
		t.Errorf("root after deleting every object: got %d entries, want none", len(ents))
	}
	if _, err := d.Put(ctx, "j/data/dt=1/run1/part-0", strings.NewReader("y")); err != nil {
		t.Errorf("put into a removed folder: %v", err)
	}
}
