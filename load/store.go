package load

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync/atomic"
	"time"
)

// Store is where mallet's files go: objects under slash-separated keys
// relative to the store's root, written whole or not at all. Dir (a local
// folder) and S3 implement it, and package storetest checks that an
// implementation keeps every promise made here; a new store runs that suite.
//
// Errors of every method:
//   - name the operation and the object's URI ("s3: get s3://b/p/k: ...");
//   - wrap ErrInvalidKey, with nothing done, when a key or prefix is empty
//     (keys only), starts with "/", has an empty, "." or ".." segment or a
//     segment starting with the reserved ".mallet-";
//   - wrap fs.ErrNotExist for an object that does not exist (Get only:
//     List, Delete and AbortIncomplete treat nothing as nothing to do);
//   - wrap ErrPrecondition when WriteIf's condition fails;
//   - wrap ctx's error when ctx ended the call;
//   - keep the backend's own error reachable with errors.As.
//
// A Store is safe for concurrent use. Readers of the store (Athena, a
// person listing the folder) never see an object in part.
type Store interface {
	// Put streams r into key, replacing any object there, and returns the
	// number of bytes written. The object appears only once r returned
	// io.EOF and the data is stored. When r fails or ctx is done first,
	// Put returns an error wrapping r's or ctx's and the previous object
	// (if any) stays; nothing else is left behind, or, should even the
	// clean-up fail, only what AbortIncomplete removes. ctx is checked
	// between Reads: a blocked Read is not interrupted.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)

	// Get opens key for reading and describes it; the caller closes the
	// reader. A missing key is an error wrapping fs.ErrNotExist, as is a
	// key below another object ("a/b" when "a" is an object).
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)

	// List returns every object whose key starts with prefix, sorted by
	// key. prefix is "" (everything), a key, or a key's leading part
	// ending at any byte: "out/t1_" matches "out/t1_0001.csv", "a/" lists
	// what is below a. A prefix that matches nothing gives an empty list,
	// not an error. Objects being written are not listed.
	List(ctx context.Context, prefix string) ([]Info, error)

	// Delete removes keys. A key that does not exist is not an error; the
	// error joins one error per key that could not be removed (those keys
	// may or may not be gone), and the others are removed all the same.
	Delete(ctx context.Context, keys ...string) error

	// WriteIf writes data to key if the condition holds, and returns the
	// new ETag: with ifMatch == "", only if key does not exist; otherwise
	// only if key's current ETag is ifMatch. A failed condition (the key
	// exists, is missing, or has another ETag) is an error wrapping
	// ErrPrecondition, and nothing is written. Two WriteIfs on one key
	// never both succeed against the same ETag; state and leases rely
	// on it.
	WriteIf(ctx context.Context, key string, data []byte, ifMatch string) (string, error)

	// AbortIncomplete removes what Puts under prefix that never finished
	// left behind (temp files, pending multipart uploads), such as those
	// of a killed process. A Put under prefix still in progress elsewhere
	// then fails, so call it only while no one else writes there. Nothing
	// to remove is not an error.
	AbortIncomplete(ctx context.Context, prefix string) error

	// URI names key for people and other tools: "s3://bucket/prefix/key",
	// "file:///abs/root/key". It does not check key and never fails.
	URI(key string) string
}

var (
	_ Store = (*Dir)(nil)
	_ Store = (*S3)(nil)
)

// ErrPrecondition is wrapped by WriteIf errors when the condition did not
// hold: the key already exists (create), or it is missing or its ETag is no
// longer the one given (replace). The caller lost a race and should re-read.
var ErrPrecondition = errors.New("precondition failed")

// ErrInvalidKey is wrapped by the errors of every store method given a key
// or prefix that is empty, starts with "/", has an empty, "." or ".."
// segment, or uses the reserved segment prefix ".mallet-".
var ErrInvalidKey = errors.New("invalid key")

// Info describes one stored object.
type Info struct {
	Key      string // relative to the store root, slash-separated
	Size     int64
	ETag     string // opaque, unquoted; compare only with ETags of the same store
	Modified time.Time
}

// reservedPrefix starts the names of the Dir store's own files (temp files,
// the lock file). Both stores reject keys with a segment starting with it so
// that a key valid in one store is valid in the other.
const reservedPrefix = ".mallet-"

// checkKey reports whether key is a valid object key.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w %q: starts with /", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := checkSegment(key, seg); err != nil {
			return err
		}
	}
	return nil
}

// checkPrefix reports whether prefix is a valid List or AbortIncomplete
// prefix: empty, or a key, or a key's leading part ending at any byte
// (so "out/t1_" matches "out/t1_0001.csv").
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("%w prefix %q: starts with /", ErrInvalidKey, prefix)
	}
	segs := strings.Split(prefix, "/")
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case last && (seg == "" || seg == "."):
			// "a/" lists the folder a; "a/." lists a's dot files.
		case last && seg == "..":
			return fmt.Errorf("%w prefix %q: has a .. segment", ErrInvalidKey, prefix)
		default:
			if err := checkSegment(prefix, seg); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkSegment(key, seg string) error {
	switch {
	case seg == "" || seg == "." || seg == "..":
		return fmt.Errorf("%w %q: has an empty, . or .. segment", ErrInvalidKey, key)
	case strings.HasPrefix(seg, reservedPrefix):
		return fmt.Errorf("%w %q: segments starting with %s are reserved", ErrInvalidKey, key, reservedPrefix)
	case strings.ContainsRune(seg, 0):
		return fmt.Errorf("%w %q: contains NUL", ErrInvalidKey, key)
	}
	return nil
}

// seamError translates a backend error into one of this package's meanings
// (fs.ErrNotExist, ErrPrecondition) while keeping the backend error
// reachable with errors.As.
type seamError struct {
	msg      string
	sentinel error
	cause    error
}

func (e *seamError) Error() string   { return e.msg }
func (e *seamError) Unwrap() []error { return []error{e.sentinel, e.cause} }

// ctxReader stops a stream once ctx is done, so a cancelled Put stops at
// the next Read even when the consumer would keep reading.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// meter counts, and optionally hashes, the bytes read through it. An
// upload reads through exactly one: the stores recognise it and take its
// count and hash rather than counting or hashing the same bytes again.
type meter struct {
	r        io.Reader
	h        hash.Hash // nil: count only
	n        int64
	progress *atomic.Int64 // when not nil, added each Read's count
}

func newMeter(r io.Reader, hashed bool, progress *atomic.Int64) *meter {
	m := &meter{r: r, progress: progress}
	if hashed {
		m.h = sha256.New()
	}
	return m
}

// hashing returns r if it is a meter that hashes and has read nothing yet,
// else a new hashing meter over r.
func hashing(r io.Reader) *meter {
	if m, ok := r.(*meter); ok && m.h != nil && m.n == 0 {
		return m
	}
	return newMeter(r, true, nil)
}

// counting returns r if it is a meter that has read nothing yet, else a new
// meter over r that counts only.
func counting(r io.Reader) *meter {
	if m, ok := r.(*meter); ok && m.n == 0 {
		return m
	}
	return newMeter(r, false, nil)
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if n > 0 {
		if m.h != nil {
			m.h.Write(p[:n])
		}
		m.n += int64(n)
		if m.progress != nil {
			m.progress.Add(int64(n))
		}
	}
	return n, err
}

// sum is the hex SHA-256 of what was read.
func (m *meter) sum() string { return hex.EncodeToString(m.h.Sum(nil)) }
