// Package storetest is the conformance suite of load.Store: the behaviour
// mallet's commit protocol relies on, checked through the interface alone,
// so that every store (the local folder, S3, and any store added later)
// runs the same tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, storetest.Suite{New: func(t *testing.T) load.Store { ... }})
//	}
//
// The hooks Pending and Interrupt look past the interface, at the temp
// files or pending multipart uploads a store keeps while it writes; a
// store that cannot provide them leaves them nil and the checks that need
// them are skipped.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/mallet-etl/mallet/load"
)

// Suite is the suite for one store implementation.
type Suite struct {
	// New returns an empty store for one test. It is called once per
	// test, and the test may change the store as it likes.
	New func(t *testing.T) load.Store

	// Pending returns, sorted, the keys of the writes s has begun and not
	// finished: its temp files or pending multipart uploads, named by the
	// key each was going to become.
	Pending func(t *testing.T, s load.Store) []string

	// Interrupt leaves in s what a process killed in the middle of
	// Put(key) leaves: a temp file, a multipart upload with one part.
	Interrupt func(t *testing.T, s load.Store, key string)
}

var errBoom = errors.New("boom")

// Run runs the suite against s.New's stores, one subtest per promise of
// load.Store.
func Run(t *testing.T, s Suite) {
	t.Helper()
	if s.New == nil {
		t.Fatal("storetest: Suite.New is nil")
	}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Suite)
	}{
		{"RoundTrip", testRoundTrip},
		{"Replace", testReplace},
		{"PutFailure", testPutFailure},
		{"PutInvisibleUntilDone", testPutInvisible},
		{"List", testList},
		{"Delete", testDelete},
		{"DeleteMany", testDeleteMany},
		{"NotFound", testNotFound},
		{"InvalidKey", testInvalidKey},
		{"WriteIf", testWriteIf},
		{"WriteIfConcurrent", testWriteIfConcurrent},
		{"AbortIncomplete", testAbortIncomplete},
		{"URI", testURI},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, s) })
	}
}

// testRoundTrip: what Put stores, Get returns, and Get and List describe
// it alike.
func testRoundTrip(t *testing.T, suite Suite) {
	s := suite.New(t)
	for _, tc := range []struct {
		name string
		key  string
		size int
	}{
		{"empty", "rt/empty.csv", 0},
		{"small", "rt/small.csv", 1 << 10},
		{"three parts", "rt/big.parquet", 12 << 20},
		{"odd key", "rt/sp ace+plus%/ü.csv", 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(tc.size)
			n, err := s.Put(t.Context(), tc.key, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(data)) {
				t.Errorf("Put = %d, want %d", n, len(data))
			}
			got, info := get(t, s, tc.key)
			if !bytes.Equal(got, data) {
				t.Errorf("Get returned %d bytes, want the %d put", len(got), len(data))
			}
			if info.Key != tc.key {
				t.Errorf("Get key %q, want %q", info.Key, tc.key)
			}
			if info.Size != int64(len(data)) {
				t.Errorf("Get size %d, want %d", info.Size, len(data))
			}
			if info.ETag == "" || info.Modified.IsZero() {
				t.Errorf("Get etag %q, modified %v: want both set", info.ETag, info.Modified)
			}
			listed := list(t, s, tc.key)
			if len(listed) != 1 {
				t.Fatalf("List(%q) = %+v, want the one object", tc.key, listed)
			}
			if l := listed[0]; l.Key != info.Key || l.Size != info.Size || l.ETag != info.ETag || l.Modified.IsZero() {
				t.Errorf("List says %+v, Get %+v: want the same key, size and etag", l, info)
			}
		})
	}
}

// testReplace: Put replaces; the ETag follows the content, and WriteIf
// accepts the ETag of an object written by Put.
func testReplace(t *testing.T, suite Suite) {
	s := suite.New(t)
	const key = "r/object"
	put(t, s, key, "first")
	_, first := get(t, s, key)
	put(t, s, key, "second, longer")
	got, second := get(t, s, key)
	if string(got) != "second, longer" {
		t.Errorf("after a second Put, Get = %q, want the second content", got)
	}
	if second.ETag == first.ETag {
		t.Errorf("etag %q did not change with the content", second.ETag)
	}
	if keys := listKeys(t, s, "r/"); !slices.Equal(keys, []string{key}) {
		t.Errorf("List = %q, want just %q", keys, key)
	}
	if _, err := s.WriteIf(t.Context(), key, []byte("third"), first.ETag); !errors.Is(err, load.ErrPrecondition) {
		t.Errorf("WriteIf with the replaced etag = %v, want ErrPrecondition", err)
	}
	etag, err := s.WriteIf(t.Context(), key, []byte("third"), second.ETag)
	if err != nil {
		t.Fatalf("WriteIf with the etag of a Put object = %v", err)
	}
	if got, info := get(t, s, key); string(got) != "third" || info.ETag != etag {
		t.Errorf("Get = %q, etag %q; want third, %q", got, info.ETag, etag)
	}
}

// testPutFailure: a Put whose reader fails or whose ctx ends leaves the
// previous object and nothing else.
func testPutFailure(t *testing.T, suite Suite) {
	data := randomBytes(12 << 20)
	for _, tc := range []struct {
		name    string
		at      int  // bytes read before the failure
		cancel  bool // cancel ctx instead of failing the reader
		wantErr error
	}{
		{"reader fails in first part", 1 << 10, false, errBoom},
		{"reader fails after first part", 7 << 20, false, errBoom},
		{"ctx cancelled in first part", 1 << 10, true, context.Canceled},
		{"ctx cancelled after first part", 7 << 20, true, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := suite.New(t)
			const key = "fail/data.csv"
			old := []byte("the previous version")
			if _, err := s.Put(t.Context(), key, bytes.NewReader(old)); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var r io.Reader
			if tc.cancel {
				r = io.MultiReader(bytes.NewReader(data[:tc.at]), &onRead{f: cancel, r: bytes.NewReader(data[tc.at:])})
			} else {
				r = io.MultiReader(bytes.NewReader(data[:tc.at]), iotest.ErrReader(errBoom))
			}
			_, err := s.Put(ctx, key, r)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Put error = %v, want %v", err, tc.wantErr)
			}
			if got, _ := get(t, s, key); !bytes.Equal(got, old) {
				t.Errorf("after a failed Put, Get = %d bytes, want the previous version", len(got))
			}
			if got, want := listKeys(t, s, ""), []string{key}; !slices.Equal(got, want) {
				t.Errorf("objects = %q, want %q", got, want)
			}
			if pending := suite.pending(t, s); len(pending) != 0 {
				t.Errorf("pending uploads or temp files = %q, want none", pending)
			}
		})
	}
}

// testPutInvisible: while a Put is under way, no reader sees the object,
// and the previous version stays readable.
func testPutInvisible(t *testing.T, suite Suite) {
	for _, tc := range []struct {
		name string
		old  string // "" for none
	}{
		{"new key", ""},
		{"replacing", "the previous version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := suite.New(t)
			const key = "slow/part.csv"
			if tc.old != "" {
				put(t, s, key, tc.old)
			}
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				_, err := s.Put(t.Context(), key, pr)
				pr.CloseWithError(err)
				done <- err
			}()
			defer pw.CloseWithError(errBoom) // ends the Put if the test stops early
			// More than one 5 MiB part, so that an S3 store has sent a part
			// of a multipart upload when the test looks.
			data, at := randomBytes(12<<20), 7<<20
			if _, err := pw.Write(data[:at]); err != nil {
				t.Fatal(err)
			}
			// The store has read part of the data: the object must not show.
			if tc.old == "" {
				if keys := listKeys(t, s, "slow/"); len(keys) != 0 {
					t.Errorf("List during Put = %q, want nothing", keys)
				}
				if _, _, err := s.Get(t.Context(), key); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Get during Put = %v, want fs.ErrNotExist", err)
				}
			} else if got, _ := get(t, s, key); string(got) != tc.old {
				t.Errorf("Get during Put = %d bytes, want the previous version", len(got))
			}
			if _, err := pw.Write(data[at:]); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got, _ := get(t, s, key); !bytes.Equal(got, data) {
				t.Errorf("Get after Put = %d bytes, want the %d put", len(got), len(data))
			}
		})
	}
}

func testList(t *testing.T, suite Suite) {
	s := suite.New(t)
	keys := []string{"b/5.csv", "ab.csv", "a/b/3.csv", "a-b/4.csv", "a/2.csv", "a/1.csv"}
	for i, k := range keys {
		put(t, s, k, strings.Repeat("x", i))
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a-b/4.csv", "a/1.csv", "a/2.csv", "a/b/3.csv", "ab.csv", "b/5.csv"}},
		{"a", []string{"a-b/4.csv", "a/1.csv", "a/2.csv", "a/b/3.csv", "ab.csv"}},
		{"a/", []string{"a/1.csv", "a/2.csv", "a/b/3.csv"}},
		{"a/b", []string{"a/b/3.csv"}},
		{"a/b/", []string{"a/b/3.csv"}},
		{"a/1", []string{"a/1.csv"}},
		{"a/1.csv", []string{"a/1.csv"}},
		{"a/1.csv/", nil},
		{"nothing/", nil},
		{"zz", nil},
	} {
		t.Run(strconv.Quote(tc.prefix), func(t *testing.T) {
			infos, err := s.List(t.Context(), tc.prefix)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, in := range infos {
				got = append(got, in.Key)
				if want := int64(slices.Index(keys, in.Key)); in.Size != want {
					t.Errorf("%s: size %d, want %d", in.Key, in.Size, want)
				}
				if in.ETag == "" {
					t.Errorf("%s: empty etag", in.Key)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
			}
		})
	}
}

func testDelete(t *testing.T, suite Suite) {
	s := suite.New(t)
	put(t, s, "d/1", "one")
	put(t, s, "d/2", "two")
	put(t, s, "d/3", "three")
	for _, tc := range []struct {
		name string
		keys []string
		want []string // left after
	}{
		{"missing key", []string{"d/none"}, []string{"d/1", "d/2", "d/3"}},
		{"no keys", nil, []string{"d/1", "d/2", "d/3"}},
		{"present and missing", []string{"d/1", "d/none", "d/3"}, []string{"d/2"}},
		{"again", []string{"d/1", "d/2"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Delete(t.Context(), tc.keys...); err != nil {
				t.Fatalf("Delete(%q) = %v", tc.keys, err)
			}
			if got := listKeys(t, s, "d/"); !slices.Equal(got, tc.want) {
				t.Errorf("left %q, want %q", got, tc.want)
			}
		})
	}
}

// testDeleteMany deletes more keys than one S3 DeleteObjects takes.
func testDeleteMany(t *testing.T, suite Suite) {
	s := suite.New(t)
	var keys []string
	for i := range 1001 {
		keys = append(keys, fmt.Sprintf("many/%04d", i))
	}
	for _, k := range append(keys[:2:2], keys[1000]) {
		put(t, s, k, k)
	}
	put(t, s, "many/9999", "kept")
	if err := s.Delete(t.Context(), keys...); err != nil {
		t.Fatal(err)
	}
	if got, want := listKeys(t, s, "many/"), []string{"many/9999"}; !slices.Equal(got, want) {
		t.Errorf("left %q, want %q", got, want)
	}
}

func testNotFound(t *testing.T, suite Suite) {
	s := suite.New(t)
	put(t, s, "file", "a file, not a folder")
	for _, key := range []string{"missing", "no/such/folder/key", "file/below"} {
		_, _, err := s.Get(t.Context(), key)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get(%q) = %v, want fs.ErrNotExist", key, err)
		}
		if err != nil && !strings.Contains(err.Error(), "get "+s.URI(key)+": ") {
			t.Errorf("Get(%q) error %q does not name the operation and URI", key, err)
		}
	}
	// Nothing to do is not an error.
	if infos, err := s.List(t.Context(), "no/such/"); err != nil || len(infos) != 0 {
		t.Errorf("List of nothing = %v, %v; want empty, nil", infos, err)
	}
	if err := s.Delete(t.Context(), "missing", "file/below"); err != nil {
		t.Errorf("Delete of missing keys = %v", err)
	}
	if err := s.AbortIncomplete(t.Context(), "no/such/"); err != nil {
		t.Errorf("AbortIncomplete of nothing = %v", err)
	}
}

// testInvalidKey: every method refuses a key that could not be the same
// object in every store, and does nothing.
func testInvalidKey(t *testing.T, suite Suite) {
	s := suite.New(t)
	for _, key := range []string{"", "/abs", "..", "a/../b", "a//b", "./a", "a/", ".mallet-lock", "a/.mallet-tmp-x.1", "nul\x00"} {
		if _, err := s.Put(t.Context(), key, strings.NewReader("x")); !errors.Is(err, load.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.WriteIf(t.Context(), key, []byte("x"), ""); !errors.Is(err, load.ErrInvalidKey) {
			t.Errorf("WriteIf(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, _, err := s.Get(t.Context(), key); !errors.Is(err, load.ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(t.Context(), key); !errors.Is(err, load.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	for _, prefix := range []string{"/abs", "..", "a/../", "a//", "a/.mallet-tmp-"} {
		if _, err := s.List(t.Context(), prefix); !errors.Is(err, load.ErrInvalidKey) {
			t.Errorf("List(%q) = %v, want ErrInvalidKey", prefix, err)
		}
		if err := s.AbortIncomplete(t.Context(), prefix); !errors.Is(err, load.ErrInvalidKey) {
			t.Errorf("AbortIncomplete(%q) = %v, want ErrInvalidKey", prefix, err)
		}
	}
	if keys := listKeys(t, s, ""); len(keys) != 0 {
		t.Errorf("invalid keys wrote %q", keys)
	}
}

func testWriteIf(t *testing.T, suite Suite) {
	s := suite.New(t)
	etags := map[string]string{} // step name -> etag it returned
	for _, tc := range []struct {
		name    string
		key     string
		data    string
		ifMatch func() string
		wantErr error
	}{
		{"create", "state/lease", "v1", none, nil},
		{"create again", "state/lease", "v1b", none, load.ErrPrecondition},
		{"replace", "state/lease", "v2", func() string { return etags["create"] }, nil},
		{"stale etag", "state/lease", "v3", func() string { return etags["create"] }, load.ErrPrecondition},
		{"replace again", "state/lease", "v3", func() string { return etags["replace"] }, nil},
		{"missing key", "state/none", "v1", func() string { return etags["create"] }, load.ErrPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			etag, err := s.WriteIf(t.Context(), tc.key, []byte(tc.data), tc.ifMatch())
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("WriteIf = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			etags[tc.name] = etag
			got, info := get(t, s, tc.key)
			if string(got) != tc.data {
				t.Errorf("content %q, want %q", got, tc.data)
			}
			if info.ETag != etag {
				t.Errorf("Get etag %q, WriteIf returned %q", info.ETag, etag)
			}
		})
	}
	if got, _ := get(t, s, "state/lease"); string(got) != "v3" {
		t.Errorf("final content %q, want v3", got)
	}
	if keys := listKeys(t, s, "state/"); !slices.Equal(keys, []string{"state/lease"}) {
		t.Errorf("List = %q: a failed WriteIf wrote something", keys)
	}
}

// testWriteIfConcurrent: read-modify-write with WriteIf loses no update
// among concurrent writers.
func testWriteIfConcurrent(t *testing.T, suite Suite) {
	s := suite.New(t)
	const key, workers, each = "state/counter", 6, 5
	if _, err := s.WriteIf(t.Context(), key, []byte("0"), ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				if err := increment(t.Context(), s, key); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, _ := get(t, s, key); string(got) != strconv.Itoa(workers*each) {
		t.Errorf("counter = %s, want %d", got, workers*each)
	}
}

func testAbortIncomplete(t *testing.T, suite Suite) {
	if suite.Interrupt == nil || suite.Pending == nil {
		t.Skip("the suite has no Interrupt or Pending hook")
	}
	s := suite.New(t)
	if err := s.AbortIncomplete(t.Context(), ""); err != nil {
		t.Fatalf("AbortIncomplete on an empty store = %v", err)
	}
	put(t, s, "a/done.csv", "done")
	suite.Interrupt(t, s, "a/b/half.csv")
	suite.Interrupt(t, s, "c/half.csv")
	if got, want := listKeys(t, s, ""), []string{"a/done.csv"}; !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q (no incomplete objects)", got, want)
	}
	for _, tc := range []struct {
		prefix string
		want   []string // pending after
	}{
		{"x/", []string{"a/b/half.csv", "c/half.csv"}},
		{"a/b/half.csv.", []string{"a/b/half.csv", "c/half.csv"}},
		{"a/b/h", []string{"c/half.csv"}},
		{"", nil},
	} {
		if err := s.AbortIncomplete(t.Context(), tc.prefix); err != nil {
			t.Fatalf("AbortIncomplete(%q) = %v", tc.prefix, err)
		}
		if got := suite.Pending(t, s); !slices.Equal(got, tc.want) {
			t.Errorf("after AbortIncomplete(%q): pending %q, want %q", tc.prefix, got, tc.want)
		}
	}
	if got, want := listKeys(t, s, ""), []string{"a/done.csv"}; !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
}

// testURI: URIs are distinct per key and end with the key.
func testURI(t *testing.T, suite Suite) {
	s := suite.New(t)
	a, b := s.URI("a/b.csv"), s.URI("a/c.csv")
	if !strings.HasSuffix(a, "/a/b.csv") || !strings.Contains(a, "://") {
		t.Errorf("URI(a/b.csv) = %q, want scheme://.../a/b.csv", a)
	}
	if a == b {
		t.Errorf("URI gives %q for two keys", a)
	}
}

// pending is suite.Pending's answer, or nil without the hook.
func (s Suite) pending(t *testing.T, st load.Store) []string {
	if s.Pending == nil {
		return nil
	}
	return s.Pending(t, st)
}

func none() string { return "" }

// increment adds one to the decimal number stored at key, retrying with a
// fresh read whenever another writer got there first: the read-modify-write
// loop that state and leases use.
func increment(ctx context.Context, s load.Store, key string) error {
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
		if errors.Is(err, load.ErrPrecondition) {
			continue
		}
		return err
	}
}

func put(t *testing.T, s load.Store, key, data string) {
	t.Helper()
	if _, err := s.Put(t.Context(), key, strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

// Read returns the whole object at key, failing t if it cannot be read:
// for tests of stores' users that check what was written.
func Read(t *testing.T, s load.Store, key string) []byte {
	t.Helper()
	b, _ := get(t, s, key)
	return b
}

func get(t *testing.T, s load.Store, key string) ([]byte, load.Info) {
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

func list(t *testing.T, s load.Store, prefix string) []load.Info {
	t.Helper()
	infos, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return infos
}

func listKeys(t *testing.T, s load.Store, prefix string) []string {
	t.Helper()
	var keys []string
	for _, in := range list(t, s, prefix) {
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

// onRead calls f on its first Read, then reads from r.
type onRead struct {
	f    func()
	r    io.Reader
	done bool
}

func (o *onRead) Read(p []byte) (int, error) {
	if !o.done {
		o.f()
	}
	o.done = true
	return o.r.Read(p)
}
