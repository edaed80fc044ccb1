package load_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/load/s3test"
	"github.com/mallet-etl/mallet/schema"
)

var uploadSchema = schema.Schema{
	{Name: "id", Kind: schema.Int64},
	{Name: "amount", Kind: schema.Decimal, Precision: 12, Scale: 2},
	{Name: "note", Kind: schema.String},
}

// uploadRows returns n rows whose notes barely compress, so that a few
// thousand rows fill more than one 5 MiB S3 part in every format.
func uploadRows(n int) [][][]byte {
	rng := rand.New(rand.NewPCG(7, 11))
	rows := make([][][]byte, n)
	raw := make([]byte, 450)
	for i := range rows {
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		note := []byte(base64.StdEncoding.EncodeToString(raw))
		if i%10 == 3 {
			note = nil
		}
		rows[i] = [][]byte{[]byte(strconv.Itoa(i)), []byte(strconv.Itoa(i*7) + ".25"), note}
	}
	return rows
}

// encoded is what NewEncoder writes for rows: the bytes an upload must
// store, unchanged.
func encoded(t *testing.T, f schema.Format, rows [][][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := load.NewEncoder(f, &buf, uploadSchema)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if err := enc.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// formats is every format mallet writes, so a new one is tested here too.
var formats = schema.Formats()

// stores are the stores every upload test runs against.
// The S3 server is nil for the folder store.
var stores = []struct {
	name string
	new  func(t *testing.T) (load.Store, *s3test.Server)
}{
	{"dir", func(t *testing.T) (load.Store, *s3test.Server) { return newDir(t), nil }},
	{"s3", func(t *testing.T) (load.Store, *s3test.Server) { return newS3(t) }},
}

func TestUpload(t *testing.T) {
	for _, st := range stores {
		for _, f := range formats {
			for _, n := range []int{1, 14_000} {
				t.Run(st.name+"/"+string(f)+"/"+strconv.Itoa(n), func(t *testing.T) {
					s, _ := st.new(t)
					rows := uploadRows(n)
					want := encoded(t, f, rows)
					if n > 1 && len(want) <= 5<<20 {
						t.Fatalf("%d rows encode to %d bytes: not more than one S3 part", n, len(want))
					}
					var progress atomic.Int64
					const key = "up/part-00001"
					u, err := load.NewUpload(t.Context(), s, key, f, uploadSchema, load.UploadOptions{Progress: &progress})
					if err != nil {
						t.Fatal(err)
					}
					defer u.Abort()
					// Size is asked after every row, as a packing writer
					// does, while the encoder's goroutines run.
					var size int64
					for _, row := range rows {
						if err := u.Write(row); err != nil {
							t.Fatal(err)
						}
						size = u.Size()
					}
					res, err := u.Close(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					if n > 1 && (size < int64(len(want))/2 || size > int64(len(want))*3/2) {
						t.Errorf("Size before Close = %d, want about the object's %d bytes", size, len(want))
					}
					got := getObject(t, s, key)
					if !bytes.Equal(got, want) {
						t.Errorf("stored %d bytes, want the encoder's %d bytes unchanged", len(got), len(want))
					}
					sum := sha256.Sum256(want)
					wantRes := load.UploadResult{Key: key, Rows: int64(n), Bytes: int64(len(want)), SHA256: hex.EncodeToString(sum[:])}
					if res != wantRes {
						t.Errorf("Close = %+v, want %+v", res, wantRes)
					}
					if got := progress.Load(); got != int64(len(want)) {
						t.Errorf("progress %d bytes, want %d", got, len(want))
					}
					if _, err := u.Close(t.Context()); err == nil {
						t.Error("a second Close succeeded")
					}
					if err := u.Write(rows[0]); err == nil {
						t.Error("Write after Close succeeded")
					}
					u.Abort() // a no-op after Close
					if got := getObject(t, s, key); !bytes.Equal(got, want) {
						t.Error("Abort after Close changed the object")
					}
				})
			}
		}
	}
}

// TestUploadAbort stops uploads in the middle, in each way an upload can
// end early: nothing appears, the previous object stays, and no temp file
// or multipart upload is left.
func TestUploadAbort(t *testing.T) {
	const key = "up/part-00001"
	rows := uploadRows(20_000)
	for _, tc := range []struct {
		name string
		// stop ends the upload once rows are written; underway reports
		// whether the store has taken more than one part's bytes.
		stop    func(t *testing.T, f schema.Format, u *load.Upload, cancel context.CancelFunc, underway func() bool) error
		wantErr error
	}{
		{"Abort", func(t *testing.T, f schema.Format, u *load.Upload, _ context.CancelFunc, underway func() bool) error {
			if f != schema.Parquet { // a Parquet file is written at Close, after Abort
				waitFor(t, underway)
			}
			u.Abort()
			_, err := u.Close(t.Context())
			return err
		}, load.ErrAborted},
		// The cancels come once the upload is under way and before Close:
		// a cancel timed to land during Close could come after the store had
		// finished on a loaded machine, and then nothing is to be aborted.
		{"upload ctx cancelled", func(t *testing.T, f schema.Format, u *load.Upload, cancel context.CancelFunc, underway func() bool) error {
			if f != schema.Parquet {
				waitFor(t, underway)
			}
			cancel()
			_, err := u.Close(t.Context())
			return err
		}, context.Canceled},
		{"Close ctx cancelled", func(t *testing.T, f schema.Format, u *load.Upload, _ context.CancelFunc, underway func() bool) error {
			ctx, cancel := context.WithCancel(t.Context())
			if f != schema.Parquet {
				waitFor(t, underway)
			}
			cancel()
			_, err := u.Close(ctx)
			return err
		}, context.Canceled},
	} {
		for _, st := range stores {
			for _, f := range formats {
				t.Run(tc.name+"/"+st.name+"/"+string(f), func(t *testing.T) {
					s, srv := st.new(t)
					if _, err := s.Put(t.Context(), key, bytes.NewReader([]byte("previous"))); err != nil {
						t.Fatal(err)
					}
					ctx, cancel := context.WithCancel(t.Context())
					defer cancel()
					var progress atomic.Int64
					u, err := load.NewUpload(ctx, s, key, f, uploadSchema, load.UploadOptions{Progress: &progress})
					if err != nil {
						t.Fatal(err)
					}
					underway := func() bool {
						if srv != nil {
							return srv.Requests("UploadPart") > 0
						}
						return progress.Load() > 5<<20
					}
					for _, row := range rows {
						if err := u.Write(row); err != nil {
							t.Fatal(err)
						}
					}
					err = tc.stop(t, f, u, cancel, underway)
					if !errors.Is(err, tc.wantErr) {
						t.Errorf("error %v, want %v", err, tc.wantErr)
					}
					if got := getObject(t, s, key); string(got) != "previous" {
						t.Errorf("object is %d bytes, want the previous version", len(got))
					}
					if pending := load.Pending(t, s); len(pending) != 0 {
						t.Errorf("pending %q, want none", pending)
					}
					// Parquet writes nothing before Close, and every case stops it
					// before Close: no multipart upload is begun then.
					if srv != nil && f != schema.Parquet && srv.Requests("AbortMultipartUpload") == 0 {
						t.Errorf("%d parts sent, no abort: want a multipart upload begun and aborted", srv.Requests("UploadPart"))
					}
					if err := u.Write(rows[0]); err == nil {
						t.Error("Write after the upload ended succeeded")
					}
				})
			}
		}
	}
}

// waitFor waits up to 10 s for cond.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// TestUploadStoreFails: when the store refuses the upload, Write stops
// blocking and Close reports the store's error.
func TestUploadStoreFails(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s, _ := st.new(t)
			u, err := load.NewUpload(t.Context(), s, "bad//key", schema.CSV, uploadSchema, load.UploadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var werr error
			for _, row := range uploadRows(14_000) {
				if werr = u.Write(row); werr != nil {
					break
				}
			}
			_, err = u.Close(t.Context())
			if werr != nil {
				err = werr
			}
			if !errors.Is(err, load.ErrInvalidKey) {
				t.Errorf("error %v, want ErrInvalidKey", err)
			}
			u.Abort()
		})
	}
}

func TestUploadBadFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    schema.Format
		s    schema.Schema
	}{
		{"unknown format", "xlsx", uploadSchema},
		{"parquet without columns", schema.Parquet, schema.Schema{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newDir(t)
			if _, err := load.NewUpload(t.Context(), s, "k", tc.f, tc.s, load.UploadOptions{}); err == nil {
				t.Fatal("NewUpload succeeded")
			}
			infos, err := s.List(t.Context(), "")
			if err != nil || len(infos) != 0 || len(load.Pending(t, s)) != 0 {
				t.Errorf("store holds %v, %v; want nothing", infos, err)
			}
		})
	}
}

func getObject(t *testing.T, s load.Store, key string) []byte {
	t.Helper()
	rc, _, err := s.Get(t.Context(), key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
