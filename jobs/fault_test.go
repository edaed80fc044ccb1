package jobs_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/go-sql-driver/mysql"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/extract"
	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/load/s3test"
	"github.com/mallet-etl/mallet/load/storetest"
)

// faultJob writes a query file and returns a config whose job "j" runs it
// over the fleet's tenants (source crm_all) with the given extra job and
// source settings.
func (f *fleet) faultJob(t *testing.T, query, jobExtra, srcExtra, out string) *config.Config {
	t.Helper()
	qpath := filepath.Join(t.TempDir(), "q.sql")
	if err := os.WriteFile(qpath, []byte(query), 0o600); err != nil {
		t.Fatal(err)
	}
	text := f.configText(fmt.Sprintf(`
  j:
    source: crm_all
    query: %s
    output: {to: "{{out}}", format: csv}
%s`, qpath, jobExtra), out)
	if srcExtra != "" {
		text = strings.Replace(text, "    concurrency: 3\n", "    concurrency: 3\n"+srcExtra, 1)
	}
	return writeConfig(t, text)
}

// want returns what MariaDB itself returns for the job's query in each of
// the given tenants, with the tenant columns in front.
func (f *fleet) want(t *testing.T, cfg *config.Config, tenants []string) [][]*string {
	t.Helper()
	job := cfg.Jobs["j"]
	params := jobs.Params(time.Date(2026, 11, 25, 0, 0, 0, 0, job.Location))
	var want [][]*string
	for _, db := range tenants {
		want = append(want, tenantRows(db, f.query(t, db, job.SQL, params))...)
	}
	if len(want) == 0 {
		t.Fatal("the tenants return no rows: the test proves nothing")
	}
	return want
}

// TestKillConnectionRetried kills one tenant's session while its rows
// stream: the tenant is retried and the output holds every row exactly
// once. Five tenants over three workers share parts, so the rows the
// killed attempt had read would sit beside other tenants' had they been
// packed. With file_rows 50, each tenant streams into parts of its own,
// split every 50 rows, and the kill comes after the victim's first parts
// are complete: the retry replaces them, and none is left twice.
func TestKillConnectionRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault test that streams for seconds: not in -short")
	}
	for _, tt := range []struct {
		name, output string
		killAfter    int64 // rows of the run streamed before the kill
	}{
		{"packed", "", 1},
		{"split parts of their own", ", file_rows: 50", 120},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(t, 5)
			out := t.TempDir()
			tag := "kill-" + f.prefix
			// 300 rows of 2 KB, 5 ms apart: about 1.5 s per tenant, rows
			// arriving in batches while the statement runs.
			qpath := filepath.Join(t.TempDir(), "q.sql")
			query := "SELECT '" + tag + "' AS tag, seq, DATABASE() AS db, REPEAT('x', 2000) AS pad, SLEEP(0.005) AS s FROM seq_1_to_300 ORDER BY seq"
			if err := os.WriteFile(qpath, []byte(query), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := writeConfig(t, f.configText(fmt.Sprintf(`
  j:
    source: crm_all
    query: %s
    output: {to: "{{out}}", format: csv%s}
`, qpath, tt.output), out))
			progress := &jobs.Progress{}
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			killed := make(chan string, 1)
			go func() {
				defer close(killed)
				for progress.Rows.Load() < tt.killAfter {
					if ctx.Err() != nil {
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
				var id int64
				var db string
				err := f.db.QueryRowContext(ctx, "SELECT id, db FROM information_schema.processlist WHERE info LIKE ? AND info NOT LIKE '%processlist%' LIMIT 1", "%"+tag+"%").Scan(&id, &db)
				if err != nil {
					t.Errorf("find mallet's session: %v", err)
					return
				}
				if _, err := f.db.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)); err != nil {
					t.Errorf("kill: %v", err)
					return
				}
				killed <- db
			}()
			start := time.Now()
			res, err := jobs.Run(ctx, cfg, "j", jobs.Options{Date: runDate, Progress: progress, Retries: 3})
			victim := <-killed
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if victim == "" {
				t.Fatal("no session was killed")
			}
			for _, tr := range res.Tenants {
				want := 1
				if tr.Database == victim {
					want = 2
				}
				if tr.Attempts != want {
					t.Errorf("tenant %s: %d attempts, want %d", tr.Database, tr.Attempts, want)
				}
			}
			_, rows := readOutput(t, res, dirOpener(t, out))
			compareRows(t, res, rows, f.want(t, cfg, f.tenants), false)
			switch got := len(res.Objects); {
			case tt.output == "" && got >= len(f.tenants):
				t.Errorf("%d parts for %d tenants: want them packed", got, len(f.tenants))
			case tt.output != "" && got != 6*len(f.tenants):
				t.Errorf("%d parts for %d tenants of 300 rows, want 6 each", got, len(f.tenants))
			}
			checkRunFolder(t, res, out)
			t.Logf("killed %s mid-stream; run took %s", victim, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestMaxUserConnections runs as a user whose MAX_USER_CONNECTIONS is
// taken by other sessions: the tenants are retried and succeed once the
// sessions end, or fail naming the tenant and the limit.
func TestMaxUserConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault test that waits out retries: not in -short")
	}
	f := newFleet(t, 2)
	user := f.prefix + "cap"
	testdb.Exec(t, f.db, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'pw-cap' WITH MAX_USER_CONNECTIONS 2", user))
	t.Cleanup(func() { f.db.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)) }) //nolint:errcheck
	testdb.Exec(t, f.db, fmt.Sprintf("GRANT SELECT ON `%s%%`.* TO '%s'@'%%'", strings.ReplaceAll(f.prefix, "_", `\_`), user))
	dsnCfg, err := mysql.ParseDSN(testdb.DSN())
	if err != nil {
		t.Fatal(err)
	}
	dsnCfg.User, dsnCfg.Passwd = user, "pw-cap"
	dsn := dsnCfg.FormatDSN()

	for _, tt := range []struct {
		name    string
		release time.Duration // when the other sessions end; 0: never
	}{{"freed", 800 * time.Millisecond}, {"held", 0}} {
		t.Run(tt.name, func(t *testing.T) {
			hog, err := sql.Open("mysql", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer hog.Close()
			var conns []*sql.Conn
			for range 2 {
				c, err := hog.Conn(t.Context())
				if err == nil {
					err = c.PingContext(t.Context())
				}
				if err != nil {
					t.Fatalf("take a connection: %v", err)
				}
				conns = append(conns, c)
			}
			var once sync.Once
			free := func() {
				once.Do(func() {
					for _, c := range conns {
						c.Close()
					}
					hog.Close()
				})
			}
			defer free()
			if tt.release > 0 {
				time.AfterFunc(tt.release, free)
			}
			out := t.TempDir()
			text := f.configText(`
  logins:
    source: capped
    query: {{queries}}/daily_logins.sql
    output: {to: "{{out}}", format: csv}
`, out)
			text = strings.Replace(text, "jobs:\n", fmt.Sprintf(`  capped:
    servers:
      - name: db1
        dsn: %q
    tenants:
      list: [%s, %s]
    concurrency: 2
jobs:
`, dsn, f.tenants[0], f.tenants[1]), 1)
			cfg := writeConfig(t, text)
			retries := 6
			if tt.release == 0 {
				retries = 1
			}
			start := time.Now()
			res, err := jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: runDate, Retries: retries})
			t.Logf("%s: %v", time.Since(start).Round(time.Millisecond), err)
			if tt.release > 0 {
				if err != nil {
					t.Fatalf("run: %v", err)
				}
				retried := 0
				for _, tr := range res.Tenants {
					retried += tr.Attempts - 1
				}
				if retried == 0 {
					t.Error("no tenant was retried: the limit was never hit")
				}
				_, rows := readOutput(t, res, dirOpener(t, out))
				job := cfg.Jobs["logins"]
				params := jobs.Params(time.Date(2026, 11, 25, 0, 0, 0, 0, job.Location))
				var want [][]*string
				for _, db := range f.tenants {
					want = append(want, tenantRows(db, f.query(t, db, job.SQL, params))...)
				}
				compareRows(t, res, rows, want, false)
				return
			}
			if !errors.Is(err, jobs.ErrFailed) {
				t.Fatalf("got %v, want ErrFailed", err)
			}
			named := false
			for _, tr := range res.Tenants {
				if tr.Err != nil && strings.Contains(tr.Error, tr.Database) && strings.Contains(tr.Error, "max_user_connections") {
					named = true
				}
			}
			if !named {
				t.Errorf("no tenant error names the tenant and max_user_connections: %+v", res.Tenants)
			}
		})
	}
}

// TestLockedTenantTimeout holds a write lock on a table one tenant reads,
// longer than the timeouts: that tenant fails with a timeout naming it, the
// others publish (policy skip), and the run ends promptly.
func TestLockedTenantTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault test that waits out timeouts: not in -short")
	}
	f := newFleet(t, 3)
	lock, err := f.db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	locked := f.tenants[1]
	for _, s := range []string{"USE " + extract.QuoteIdent(locked), "LOCK TABLES logins WRITE"} {
		if _, err := lock.ExecContext(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	defer lock.ExecContext(context.Background(), "UNLOCK TABLES") //nolint:errcheck
	query, err := os.ReadFile(filepath.Join(testdb.Root(), "queries", "daily_logins.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, job, src string
		want           string // in the locked tenant's error, or the run's
		within         time.Duration
		partial        bool
	}{
		{"query_timeout", "    on_tenant_error: skip\n", "    query_timeout: 1s\n    tenant_timeout: 20s\n", "query timeout of 1s exceeded", 6 * time.Second, true},
		{"tenant_timeout", "    on_tenant_error: skip\n", "    tenant_timeout: 1500ms\n", "tenant_timeout 1.5s exceeded", 6 * time.Second, true},
		{"run_timeout", "    on_tenant_error: skip\n    run_timeout: 2s\n", "", "run_timeout 2s exceeded", 8 * time.Second, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			cfg := f.faultJob(t, string(query), tt.job, tt.src, out)
			start := time.Now()
			res, err := jobs.Run(t.Context(), cfg, "j", jobs.Options{Date: runDate})
			took := time.Since(start)
			t.Logf("%s: %v", took.Round(time.Millisecond), err)
			if took > tt.within {
				t.Errorf("run took %s, want under %s", took, tt.within)
			}
			if !tt.partial {
				if !errors.Is(err, jobs.ErrFailed) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want ErrFailed saying %q", err, tt.want)
				}
				return
			}
			if !errors.Is(err, jobs.ErrPartial) {
				t.Fatalf("got %v, want ErrPartial", err)
			}
			for _, tr := range res.Tenants {
				if tr.Database == locked {
					if tr.Err == nil || !strings.Contains(tr.Error, locked) || !strings.Contains(tr.Error, tt.want) {
						t.Errorf("locked tenant's error %q, want one naming %s and saying %q", tr.Error, locked, tt.want)
					}
					if tr.Attempts != 1 {
						t.Errorf("locked tenant ran %d times; a timeout is not retried", tr.Attempts)
					}
				} else if tr.Err != nil {
					t.Errorf("tenant %s failed: %v", tr.Database, tr.Err)
				}
			}
			_, rows := readOutput(t, res, dirOpener(t, out))
			compareRows(t, res, rows, f.want(t, cfg, []string{f.tenants[0], f.tenants[2]}), false)
		})
	}
}

// faultyS3 wraps a fake S3 with failures: every fifth request answers
// 500, 503 or SlowDown in turn, and the first upload of a data part is
// cut off half-way (the connection hijacked and closed). With broken set,
// every upload of a data part fails with 500.
type faultyS3 struct {
	next    http.Handler
	n       atomic.Int64
	dropped atomic.Bool
	broken  bool
	faults  atomic.Int64
	parts   atomic.Int64 // UploadPart requests
}

func (h *faultyS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := h.n.Add(1)
	data := strings.Contains(r.URL.Path, "/part-") && r.Method == http.MethodPut
	if data && r.URL.Query().Has("uploadId") {
		h.parts.Add(1)
	}
	switch {
	case h.broken && data:
		h.fail(w, http.StatusInternalServerError, "InternalError")
		return
	case data && h.dropped.CompareAndSwap(false, true):
		h.faults.Add(1)
		buf := make([]byte, 4096)
		io.ReadFull(r.Body, buf) //nolint:errcheck // any amount will do
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		conn.Close()
		return
	case n%5 == 0:
		switch n / 5 % 3 {
		case 0:
			h.fail(w, http.StatusInternalServerError, "InternalError")
		case 1:
			h.fail(w, http.StatusServiceUnavailable, "ServiceUnavailable")
		default:
			h.fail(w, http.StatusServiceUnavailable, "SlowDown")
		}
		return
	}
	h.next.ServeHTTP(w, r)
}

func (h *faultyS3) fail(w http.ResponseWriter, status int, code string) {
	h.faults.Add(1)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected</Message></Error>`, code)
}

// TestS3Faults runs a job to an S3 server that fails a share of requests
// and drops a connection mid-upload: the run completes with the exact data.
// When every data upload fails, the run fails and leaves no data object
// and no pending multipart upload.
func TestS3Faults(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault test that uploads 30 MB through failing requests: not in -short")
	}
	f := newFleet(t, 3)
	// About 11 MB per tenant: above the 5 MiB part size, so data goes up
	// in multipart uploads, the manifests and state in single PUTs.
	query := "SELECT seq, DATABASE() AS db, REPEAT('y', 100) AS pad FROM seq_1_to_80000 ORDER BY seq"
	for _, broken := range []bool{false, true} {
		name := map[bool]string{false: "flaky", true: "broken"}[broken]
		t.Run(name, func(t *testing.T) {
			backend := s3mem.New()
			if err := backend.CreateBucket("bucket"); err != nil {
				t.Fatal(err)
			}
			h := &faultyS3{next: gofakes3.New(backend).Server(), broken: broken}
			srv := httptest.NewServer(h)
			defer srv.Close()
			s3test.Setenv(t, srv.URL)
			cfg := f.faultJob(t, query, "", "", "s3://bucket/out")
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			start := time.Now()
			res, err := jobs.Run(ctx, cfg, "j", jobs.Options{Date: runDate, Retries: -1})
			t.Logf("%s, %d requests, %d faults: %v", time.Since(start).Round(time.Millisecond), h.n.Load(), h.faults.Load(), err)
			client := rawS3(t, srv.URL)
			if pending := pendingUploads(t, client); len(pending) > 0 {
				t.Errorf("pending multipart uploads left: %v", pending)
			}
			if !broken {
				if err != nil {
					t.Fatalf("run: %v", err)
				}
				if h.faults.Load() < 3 || !h.dropped.Load() {
					t.Fatalf("only %d faults injected", h.faults.Load())
				}
				if h.parts.Load() < 6 {
					t.Errorf("%d UploadPart requests, want multipart uploads (2+ parts per tenant)", h.parts.Load())
				}
				st, err := jobs.OpenStore(t.Context(), "s3://bucket/out", config.S3{})
				if err != nil {
					t.Fatal(err)
				}
				_, rows := readOutput(t, res, func(key string) []byte { return storetest.Read(t, st, key) })
				compareRows(t, res, rows, f.want(t, cfg, f.tenants), false)
				return
			}
			if !errors.Is(err, jobs.ErrFailed) {
				t.Fatalf("got %v, want ErrFailed", err)
			}
			for _, key := range listKeys(t, client) {
				// Only the state may remain; the lease is released.
				if strings.Contains(key, "/data/") || strings.Contains(key, "/symlinks/") || strings.Contains(key, "/runs/") {
					t.Errorf("object left after a failed run: %s", key)
				}
			}
		})
	}
}

// failPut answers 500 to every PUT of an object whose key contains key,
// and passes the rest on.
type failPut struct {
	next  http.Handler
	key   string
	fails atomic.Int64
}

func (h *failPut) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, h.key) {
		h.fails.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`)
		return
	}
	h.next.ServeHTTP(w, r)
}

// TestPartCloseFails fails the upload of one part while more parts follow:
// a tenant's part of its own, completed in the background while the
// tenant's rows go on into the next part, so that the failure comes out of
// a later write; or a packed part, completed when its second tenant fills
// it. The part's tenants fail naming it, nothing of theirs is left
// (neither complete parts nor the part open when the failure came out),
// and the other tenants publish every row.
func TestPartCloseFails(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault test that waits out the SDK's retries: not in -short")
	}
	f := newFleet(t, 8)
	for _, tt := range []struct {
		name, rows, output string
		failKey            string // the part that fails
		failed             int    // tenants that fail
	}{
		// Each tenant's 300 rows make 6 parts of its own; tenant 1's second
		// fails.
		{"own parts", "300", "file_rows: 50", "part-00001_001.csv", 1},
		// 50 rows per tenant, two tenants per part: the first part, of the
		// first two tenants a writer took, fails.
		{"packed parts", "50", "file_rows: 100", "part-00000.csv", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			backend := s3mem.New()
			if err := backend.CreateBucket("bucket"); err != nil {
				t.Fatal(err)
			}
			h := &failPut{next: gofakes3.New(backend).Server(), key: "/" + tt.failKey}
			srv := httptest.NewServer(h)
			defer srv.Close()
			s3test.Setenv(t, srv.URL)
			qpath := filepath.Join(t.TempDir(), "q.sql")
			query := "SELECT seq, DATABASE() AS db, REPEAT('y', 100) AS pad FROM seq_1_to_" + tt.rows + " ORDER BY seq"
			if err := os.WriteFile(qpath, []byte(query), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := writeConfig(t, f.configText(fmt.Sprintf(`
  j:
    source: crm_all
    query: %s
    on_tenant_error: skip
    output: {to: "{{out}}", format: csv, %s}
`, qpath, tt.output), "s3://bucket/out"))
			res, err := jobs.Run(t.Context(), cfg, "j", jobs.Options{Date: runDate})
			if !errors.Is(err, jobs.ErrPartial) {
				t.Fatalf("got %v, want ErrPartial", err)
			}
			if h.fails.Load() == 0 {
				t.Fatal("no upload failed: the test proves nothing")
			}
			var ok []string
			for _, tr := range res.Tenants {
				switch {
				case tr.Err == nil:
					ok = append(ok, tr.Database)
				case !strings.Contains(tr.Error, tt.failKey):
					t.Errorf("tenant %s: error %q, want one naming %s", tr.Database, tr.Error, tt.failKey)
				}
			}
			if got := len(f.tenants) - len(ok); got != tt.failed {
				t.Errorf("%d tenants failed, want %d", got, tt.failed)
			}
			client := rawS3(t, srv.URL)
			if pending := pendingUploads(t, client); len(pending) > 0 {
				t.Errorf("pending multipart uploads left: %v", pending)
			}
			var data, published []string
			for _, key := range listKeys(t, client) {
				if strings.Contains(key, "/data/") && strings.Contains(key, res.RunID) {
					data = append(data, key)
				}
			}
			for _, o := range res.Objects {
				published = append(published, "out/"+o.Key)
			}
			slices.Sort(data)
			slices.Sort(published)
			if !slices.Equal(data, published) {
				t.Errorf("the run folder holds %v, want the published parts %v", data, published)
			}
			st, err := jobs.OpenStore(t.Context(), "s3://bucket/out", config.S3{})
			if err != nil {
				t.Fatal(err)
			}
			_, rows := readOutput(t, res, func(key string) []byte { return storetest.Read(t, st, key) })
			compareRows(t, res, rows, f.want(t, cfg, ok), false)
		})
	}
}

func rawS3(t *testing.T, url string) *s3.Client {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(t.Context(), awsconfig.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(url)
		o.UsePathStyle = true
	})
}

func pendingUploads(t *testing.T, c *s3.Client) []string {
	t.Helper()
	out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("bucket")})
	if err != nil {
		if strings.Contains(err.Error(), "NoSuchUpload") {
			return nil // gofakes3's answer for a bucket that never had one
		}
		t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

func listKeys(t *testing.T, c *s3.Client) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("bucket")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// TestS3SSEFromConfig checks that s3.sse and s3.kms_key_id reach every
// request that writes an object.
func TestS3SSEFromConfig(t *testing.T) {
	f := newFleet(t, 1)
	backend := s3mem.New()
	if err := backend.CreateBucket("bucket"); err != nil {
		t.Fatal(err)
	}
	fake := gofakes3.New(backend).Server()
	var mu sync.Mutex
	var writes, bare []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		write := r.Method == http.MethodPut && !q.Has("uploadId") || r.Method == http.MethodPost && q.Has("uploads")
		if write {
			mu.Lock()
			writes = append(writes, r.URL.Path)
			if r.Header.Get("X-Amz-Server-Side-Encryption") != "aws:kms" || r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != "key-1" {
				bare = append(bare, r.Method+" "+r.URL.Path)
			}
			mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	s3test.Setenv(t, srv.URL)
	cfg := f.faultJob(t, "SELECT seq FROM seq_1_to_10", "", "", "s3://bucket/out")
	cfg.S3.SSE, cfg.S3.KMSKeyID = "aws:kms", "key-1"
	if _, err := jobs.Run(t.Context(), cfg, "j", jobs.Options{Date: runDate}); err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(writes) < 3 {
		t.Fatalf("only %d writes seen: %v", len(writes), writes)
	}
	if len(bare) > 0 {
		t.Errorf("writes without aws:kms and key-1: %v", bare)
	}
}
