package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/mallet-etl/mallet/schema"
)

// Encoder output reaches the store through a bounded buffered pipe: the
// encoder stalls only when pipeChunks chunks wait, so encoding (on the
// caller's goroutine) overlaps hashing and writing or sending (on the
// upload's), each on a core of its own, in at most 2 MiB per upload.
const (
	pipeChunkSize = 256 << 10
	pipeChunks    = 8
)

// ErrAborted is what an aborted Upload's Put fails with, and what Write and
// Close return after Abort.
var ErrAborted = errors.New("upload aborted")

// Upload encodes rows straight into one store object: rows go through the
// encoder into a bounded pipe, and a goroutine streams the pipe into the
// store's Put, counting and hashing the bytes once on the way. Memory stays
// bounded however many rows flow through, and the object appears only when
// Close succeeds.
//
// Write, Close and Abort are for one goroutine; to stop an upload from
// another, cancel the ctx given to NewUpload.
type Upload struct {
	key    string
	enc    Encoder
	pw     *PipeWriter
	out    *countWriter // the encoder's output so far
	body   *meter
	rows   int64
	ctx    context.Context // the Put's; an Upload is one asynchronous operation, and Close checks it
	cancel context.CancelCauseFunc
	done   chan error // the Put's result; receives once
	ended  bool       // Close or Abort was called
	err    error      // what Write and Close return once ended
}

// UploadOptions adjust an upload. The zero value is ready to use.
type UploadOptions struct {
	// Progress, when not nil, is added the bytes as the store takes them,
	// so a run can show its output growing.
	Progress *atomic.Int64
}

// UploadResult describes a finished upload.
type UploadResult struct {
	Key    string
	Rows   int64  // rows written
	Bytes  int64  // size of the object
	SHA256 string // hex SHA-256 of the object's bytes
}

// NewUpload starts uploading the rows of schema s, encoded as format f, to
// key of st. The Put runs on ctx: once ctx is done, the upload is aborted
// and Write and Close fail with ctx's cause. The caller must end every
// Upload with Close or Abort, which stop its goroutines.
//
// An error means the encoder could not be made (an unknown format, a schema
// the format cannot write); nothing was started then.
func NewUpload(ctx context.Context, st Store, key string, f schema.Format, s schema.Schema, o UploadOptions) (*Upload, error) {
	pr, pw := Pipe(pipeChunkSize, pipeChunks)
	out := &countWriter{w: pw}
	enc, err := NewEncoder(f, out, s)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", st.URI(key), err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	u := &Upload{
		key:    key,
		enc:    enc,
		pw:     pw,
		out:    out,
		body:   newMeter(pr, true, o.Progress),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan error, 1),
	}
	go func() {
		// Once ctx is done, a Read blocked on the pipe and a Write blocked
		// on a full one both return the cause at once.
		stop := context.AfterFunc(ctx, func() { pr.CloseWithError(context.Cause(ctx)) })
		defer stop()
		_, err := st.Put(ctx, key, u.body)
		if err != nil {
			pr.CloseWithError(err) // unblock the encoder: the upload failed
		}
		u.done <- err
	}()
	return u, nil
}

// Write encodes one row (see package load for the form of rows). After an
// error the upload cannot succeed: the caller aborts it.
func (u *Upload) Write(row [][]byte) error {
	if u.ended {
		return fmt.Errorf("upload: write after close: %w", u.err)
	}
	if err := u.enc.Write(row); err != nil {
		return err
	}
	u.rows++
	return nil
}

// Rows is the number of rows written so far.
func (u *Upload) Rows() int64 { return u.rows }

// Size estimates the object's size so far: the bytes the encoder has put
// out plus what it holds: for CSV its buffer, for Parquet the open row
// group (its finished pages compressed, the pages being filled not) and the
// rows not yet encoded. A writer that packs rows into objects of a target
// size closes the object once Size reaches it. It is cheap enough to call
// after every row.
func (u *Upload) Size() int64 {
	switch e := u.enc.(type) {
	case *ParquetWriter:
		return max(u.out.n.Load(), e.Size())
	case *CSVWriter:
		if e.gzPipe == nil {
			return u.out.n.Load() + int64(e.w.Buffered())
		}
	}
	// csv.gz: what the compressor has put out; it lags by what it holds.
	return u.out.n.Load()
}

// countWriter counts the bytes written through it. The count may be read
// while another goroutine writes: the Parquet writer's and the gzip
// compressor's write from goroutines of their own.
type countWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// Close finishes the encoding (a Parquet footer, a gzip trailer), waits for
// the store to take the last byte and returns what was uploaded. When
// encoding or storing fails, or ctx is done first, the upload is aborted,
// no object appears (a previous object under the key stays), and the error
// says why. Later calls return the first call's error.
func (u *Upload) Close(ctx context.Context) (UploadResult, error) {
	if u.ended {
		return UploadResult{}, u.err
	}
	u.ended = true
	// A ctx already done aborts here, before the last bytes could let the
	// store finish the object: Close never publishes after its ctx ended.
	for _, c := range []context.Context{ctx, u.ctx} {
		if c.Err() != nil {
			u.err = context.Cause(c)
			u.stop(u.err)
			return UploadResult{}, u.err
		}
	}
	stop := context.AfterFunc(ctx, func() { u.cancel(context.Cause(ctx)) })
	defer stop()
	if err := u.enc.Close(); err != nil {
		u.err = err
		u.stop(err)
		return UploadResult{}, err
	}
	u.pw.Close() // its error, if any, is the Put's, which done gives
	err := <-u.done
	u.cancel(nil)
	if err != nil {
		u.err = fmt.Errorf("upload: %w", err)
		return UploadResult{}, u.err
	}
	u.err = errClosed
	return UploadResult{Key: u.key, Rows: u.rows, Bytes: u.body.n, SHA256: u.body.sum()}, nil
}

var errClosed = errors.New("upload closed")

// Abort cancels the upload and waits until the store has cleaned up: no
// object appears (a previous object under the key stays) and no temp file
// or pending multipart upload is left, unless the store's own clean-up
// failed (AbortIncomplete removes those later). After a successful Close it
// does nothing, so `defer u.Abort()` is safe.
func (u *Upload) Abort() {
	if u.ended {
		return
	}
	u.ended = true
	u.err = ErrAborted
	u.stop(ErrAborted)
}

// stop makes the Put fail with err, ends the encoder (and the csv.gz
// goroutine) and waits for the Put to return.
func (u *Upload) stop(err error) {
	u.cancel(err)
	u.pw.CloseWithError(err)
	u.enc.Close() //nolint:errcheck // only ends the encoder's goroutine; err says why already
	<-u.done
}
