package load

import (
	"io"
	"sync"
)

// Pipe is a bounded, buffered io.Pipe: the writer copies into chunks of
// chunkSize bytes and blocks only once chunks chunks are full and not yet
// read. An encoder writing into it thus keeps encoding while the reader
// (an upload) hashes, writes or sends what came before, on another core,
// and memory stays at chunks*chunkSize however much flows through. Chunks
// are allocated as the writer first needs them, so a small stream holds
// one.
//
// As with io.Pipe, CloseWithError on either end makes the other end's
// calls return that error (io.EOF for the reader after a plain Close of
// the writer, once the buffered data is read; io.ErrClosedPipe for a
// writer whose reader closed without an error).
func Pipe(chunkSize, chunks int) (*PipeReader, *PipeWriter) {
	p := &pipe{
		size: chunkSize,
		full: make(chan []byte, chunks),
		free: make(chan []byte, chunks+1),
		done: make(chan struct{}),
	}
	for range chunks + 1 {
		p.free <- nil // allocated when first taken
	}
	return &PipeReader{p: p}, &PipeWriter{p: p}
}

type pipe struct {
	size int
	full chan []byte // written chunks, in order
	free chan []byte // chunks to fill
	done chan struct{}

	once sync.Once
	mu   sync.Mutex
	rerr error // what the reader sees once full is drained (writer closed)
	werr error // what the writer sees (reader closed)
}

// PipeWriter is the write end of a Pipe. It is not safe for concurrent use.
type PipeWriter struct {
	p   *pipe
	cur []byte
}

// PipeReader is the read end of a Pipe. It is not safe for concurrent use.
type PipeReader struct {
	p   *pipe
	cur []byte
	buf []byte // the chunk cur points into, returned to free when read
}

// Write copies b into the pipe, blocking while every chunk is full.
func (w *PipeWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if w.cur == nil {
			select {
			case w.cur = <-w.p.free:
			case <-w.p.done:
				return n, w.p.writeErr()
			}
			if w.cur == nil {
				w.cur = make([]byte, 0, w.p.size)
			}
		}
		k := copy(w.cur[len(w.cur):cap(w.cur)], b)
		w.cur = w.cur[:len(w.cur)+k]
		n += k
		b = b[k:]
		if len(w.cur) == cap(w.cur) {
			if err := w.send(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (w *PipeWriter) send() error {
	select {
	case w.p.full <- w.cur:
		w.cur = nil
		return nil
	case <-w.p.done:
		return w.p.writeErr()
	}
}

// Close flushes what is buffered; the reader then sees io.EOF.
func (w *PipeWriter) Close() error { return w.CloseWithError(nil) }

// CloseWithError ends the stream: with err nil, the reader reads what was
// written and then io.EOF; otherwise the reader gets err at once. The
// first close wins.
func (w *PipeWriter) CloseWithError(err error) error {
	if err == nil && len(w.cur) > 0 {
		if serr := w.send(); serr != nil {
			return serr
		}
	}
	if err == nil {
		err = io.EOF
	}
	w.p.close(err, io.ErrClosedPipe)
	return nil
}

// Read reads what the writer wrote, in order. After the writer's Close it
// returns the rest and then io.EOF; after an error close of either end,
// that error.
func (r *PipeReader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if err := r.fill(); err != nil {
		return 0, err
	}
	n := copy(b, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// fill makes cur non-empty, waiting for the writer, or returns why it
// cannot.
func (r *PipeReader) fill() error {
	for len(r.cur) == 0 {
		if r.buf != nil {
			r.p.free <- r.buf[:0] // never blocks: it has room for every chunk
			r.buf = nil
		}
		select {
		case c := <-r.p.full:
			r.buf, r.cur = c, c
			continue
		default:
		}
		select {
		case c := <-r.p.full:
			r.buf, r.cur = c, c
		case <-r.p.done:
			if err := r.p.readErr(); err != io.EOF || len(r.p.full) == 0 {
				return err
			}
		}
	}
	if err := r.p.readErr(); err != nil && err != io.EOF {
		return err
	}
	return nil
}

// Close ends reading; the writer then gets io.ErrClosedPipe.
func (r *PipeReader) Close() error { return r.CloseWithError(nil) }

// CloseWithError ends reading; the writer's calls return err (or
// io.ErrClosedPipe when err is nil). The first close wins.
func (r *PipeReader) CloseWithError(err error) error {
	if err == nil {
		err = io.ErrClosedPipe
	}
	r.p.close(err, err)
	return nil
}

// close records what each end sees and wakes both; the first close wins.
func (p *pipe) close(rerr, werr error) {
	p.once.Do(func() {
		p.mu.Lock()
		p.rerr, p.werr = rerr, werr
		p.mu.Unlock()
		close(p.done)
	})
}

func (p *pipe) readErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rerr
}

func (p *pipe) writeErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.werr
}

// WriteTo writes what the writer wrote to w, chunk by chunk without a copy,
// until the writer closes; it returns nil on the writer's plain Close.
func (r *PipeReader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for {
		if err := r.fill(); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
		k, err := w.Write(r.cur)
		n += int64(k)
		r.cur = r.cur[k:]
		if err != nil {
			return n, err
		}
	}
}
