package publish_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/load/s3test"
	"github.com/mallet-etl/mallet/publish"
	"github.com/mallet-etl/mallet/schema"
)

// testStore is a store the protocol runs over, with what a test needs
// that the Store interface does not offer: leaving an unfinished write
// behind, as a process killed in the middle of a Put does, and listing
// such writes.
type testStore struct {
	load.Store
	// unfinished leaves an unfinished write of key behind.
	unfinished func(key string)
	// pending returns the keys of the unfinished writes under prefix.
	pending func(prefix string) []string
}

// stores are the stores every protocol test runs against: the local
// folder, and the S3 store against an S3 server on loopback. The S3 fake
// honours If-Match and If-None-Match on PutObject, which is all the
// protocol's conditional writes use (state and lease are single PUTs); it
// ignores conditions on CompleteMultipartUpload, which the protocol never
// relies on.
var stores = []struct {
	name string
	open func(t *testing.T) *testStore
}{
	{"dir", openDir},
	{"s3", openS3},
}

// forEachStore runs test against every store, each fresh.
func forEachStore(t *testing.T, test func(t *testing.T, st *testStore)) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) { test(t, sc.open(t)) })
	}
}

func openDir(t *testing.T) *testStore {
	root := t.TempDir()
	d, err := load.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return &testStore{
		Store: d,
		unfinished: func(key string) {
			// What Dir.Put leaves when killed: a temp file beside the key.
			p := filepath.Join(root, filepath.FromSlash(key))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			tmp := filepath.Join(filepath.Dir(p), ".mallet-tmp-"+filepath.Base(p)+".1234")
			if err := os.WriteFile(tmp, []byte("half a part"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		pending: func(prefix string) []string {
			var out []string
			err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rest, ok := strings.CutPrefix(de.Name(), ".mallet-tmp-")
				if !ok {
					return nil
				}
				rel, err := filepath.Rel(root, filepath.Dir(p))
				if err != nil {
					return err
				}
				key := path.Join(filepath.ToSlash(rel), rest[:strings.LastIndexByte(rest, '.')])
				if strings.HasPrefix(key, prefix) {
					out = append(out, key)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return out
		},
	}
}

func openS3(t *testing.T) *testStore {
	url := s3test.Start(t, "bucket")
	st, err := load.NewS3(t.Context(), "bucket", "out", load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := awsconfig.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	raw := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(url)
		o.UsePathStyle = true
	})
	ctx := context.Background()
	return &testStore{
		Store: st,
		unfinished: func(key string) {
			// What a killed multipart upload leaves: an upload never
			// completed, with a part.
			up, err := raw.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bucket"), Key: aws.String("out/" + key)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.UploadPart(ctx, &s3.UploadPartInput{
				Bucket: aws.String("bucket"), Key: aws.String("out/" + key), UploadId: up.UploadId,
				PartNumber: aws.Int32(1), Body: strings.NewReader("half a part"),
			}); err != nil {
				t.Fatal(err)
			}
		},
		pending: func(prefix string) []string {
			out, err := raw.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("bucket"), Prefix: aws.String("out/" + prefix)})
			if err != nil {
				if strings.Contains(err.Error(), "NoSuchUpload") {
					return nil // the fake's answer for a bucket that never had one
				}
				t.Fatal(err)
			}
			var keys []string
			for _, u := range out.Uploads {
				keys = append(keys, strings.TrimPrefix(aws.ToString(u.Key), "out/"))
			}
			return keys
		},
	}
}

const (
	job  = "logins"
	date = "2026-11-25"
)

// runID returns the id of the n-th test run; ids sort in run order, as
// real ones (UTC start time first) do.
func runID(n int) string { return fmt.Sprintf("20261125T0000%02dZ-0000abcd", n) }

var testSchema = schema.Schema{schema.Tenant("server"), schema.Tenant("database")}

// upload writes the parts of a run, one per body, the way a run does
// (straight to their final keys), and returns the run's manifest, not yet
// written.
func upload(t *testing.T, st load.Store, shard publish.Shard, slot, id string, bodies ...string) *publish.RunManifest {
	t.Helper()
	return uploadOn(t, st, date, shard, slot, id, bodies...)
}

// uploadOn is upload into the partition of date d.
func uploadOn(t *testing.T, st load.Store, d string, shard publish.Shard, slot, id string, bodies ...string) *publish.RunManifest {
	t.Helper()
	m := &publish.RunManifest{
		Job: job, RunID: id, Date: d, Mode: "snapshot", Slot: slot, Shard: shard.Dir(),
		Schema: testSchema, Started: time.Now().UTC(), Finished: time.Now().UTC(),
	}
	for i, body := range bodies {
		key := publish.PartKey(job, d, shard, id, i, "csv")
		n, err := st.Put(t.Context(), key, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(body))
		m.Objects = append(m.Objects, publish.Object{
			URI: st.URI(key), Key: key, Rows: int64(strings.Count(body, "\n")), Bytes: n, SHA256: hex.EncodeToString(sum[:]),
		})
	}
	return m
}

// commit runs the protocol's steps from the run manifest to the commit for
// m over state, and returns the new state. The symlink is left to the
// caller, so that tests can stop between the commit and the symlink.
func commit(t *testing.T, st load.Store, state *publish.State, m *publish.RunManifest) *publish.State {
	t.Helper()
	if err := publish.WriteRunManifest(t.Context(), st, m); err != nil {
		t.Fatal(err)
	}
	if err := publish.Verify(t.Context(), st, m); err != nil {
		t.Fatal(err)
	}
	next := state.Next(m, time.Now())
	if err := publish.Commit(t.Context(), st, next); err != nil {
		t.Fatal(err)
	}
	return next
}

// symlinked returns the URIs the partition's symlink manifest of shard
// lists, as Athena reads them; nil when there is none.
func symlinked(t *testing.T, st load.Store, shard publish.Shard) []string {
	t.Helper()
	rc, _, err := st.Get(t.Context(), publish.SymlinkKey(job, date, shard))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

func uris(ms ...*publish.RunManifest) []string {
	var out []string
	for _, m := range ms {
		if m == nil {
			continue
		}
		for _, o := range m.Objects {
			out = append(out, o.URI)
		}
	}
	return out
}

// keys lists the keys under prefix.
func keys(t *testing.T, st load.Store, prefix string) []string {
	t.Helper()
	objs, err := st.List(t.Context(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}

// runsUnder returns the run ids that have data or a run manifest in the
// partition's folders of shard.
func runsUnder(t *testing.T, st load.Store, shard publish.Shard) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, k := range keys(t, st, publish.DataPrefix(job, date)+shard.Dir()+"/") {
		seen[path.Base(path.Dir(k))] = true
	}
	for _, k := range keys(t, st, publish.RunsPrefix(job)+"dt="+date+"/"+shard.Dir()+"/") {
		seen[strings.TrimSuffix(path.Base(k), ".json")] = true
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
