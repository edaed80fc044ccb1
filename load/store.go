package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
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
