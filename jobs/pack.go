package jobs

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/schema"
)

// A union job packs whole tenants into parts of up to output.file_size:
// each of the source's `concurrency` workers takes the next tenant in the
// run's order, extracts it into a spool, and only once the tenant has
// succeeded appends the spooled rows to the part it has open. So a part
// holds tenants in tenant order, and a tenant that fails, or fails and is
// retried, never leaves a row in a part. A worker closes its part once it
// reaches file_size (or file_rows) and opens the next with its next
// tenant; a part's key is that first tenant's index, unique in the run and
// the same whoever retries what. A tenant too large for the spool streams
// into a part of its own instead, as every tenant did before packing.

// A tenant's spool holds up to spoolLimit bytes of rows (or file_size,
// if smaller), the first spoolMemory of them in memory and the rest in a
// temp file: per worker at most 1 MiB of memory and 31 MiB of disk. A
// tenant larger than that is big enough for a part of its own, and
// spooling it whole would only write and read it twice.
const (
	spoolLimit  = 32 << 20
	spoolMemory = 1 << 20
)

// spool holds the rows of the tenant being extracted, encoded compactly
// (per value: uvarint length+1, 0 for NULL, then the bytes), in memory up
// to spoolMemory and then in an unlinked temp file, up to limit bytes.
type spool struct {
	limit    int64 // bytes at most
	rowLimit int64 // rows at most; 0: none
	buf      []byte
	f        *os.File // nil until the memory is full
	fw       *bufio.Writer
	fileErr  error // the temp file could not be made
	size     int64 // bytes spooled
	rows     int64
	scratch  []byte
	row      [][]byte
}

func newSpool(limit, rowLimit int64) *spool {
	return &spool{limit: limit, rowLimit: rowLimit}
}

// fits reports whether row still fits in the spool.
func (s *spool) fits(row [][]byte) bool {
	if s.rowLimit > 0 && s.rows >= s.rowLimit {
		return false
	}
	n := int64(0)
	for _, v := range row {
		n += int64(len(v)) + binary.MaxVarintLen32
	}
	if s.size+n > s.limit {
		return false
	}
	if s.f == nil && int64(len(s.buf))+n > spoolMemory {
		// Past the memory: the rest goes to a temp file, or, where none
		// can be made (a read-only file system), the tenant to a part of
		// its own.
		if err := s.openFile(); err != nil {
			return false
		}
	}
	return true
}

// openFile makes the spool's temp file, once; a failure is kept, so it is
// tried once per worker.
func (s *spool) openFile() error {
	if s.f != nil || s.fileErr != nil {
		return s.fileErr
	}
	f, err := os.CreateTemp("", "mallet-spool-")
	if err != nil {
		s.fileErr = fmt.Errorf("spool: %w", err)
		return s.fileErr
	}
	// Unlinked at once: the file goes with the process, even after
	// kill -9, and the open handle keeps it until then.
	_ = os.Remove(f.Name())
	s.f, s.fw = f, bufio.NewWriterSize(f, 256<<10)
	return nil
}

// add appends row.
func (s *spool) add(row [][]byte) error {
	b := s.scratch[:0]
	for _, v := range row {
		if v == nil {
			b = binary.AppendUvarint(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(v))+1)
		b = append(b, v...)
	}
	s.scratch = b
	s.size += int64(len(b))
	s.rows++
	if s.f == nil && len(s.buf)+len(b) <= spoolMemory {
		s.buf = append(s.buf, b...)
		return nil
	}
	if err := s.openFile(); err != nil {
		return err
	}
	if _, err := s.fw.Write(b); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// each calls fn with every spooled row of cols values, in order; the row
// is valid until fn returns.
func (s *spool) each(cols int, fn func(row [][]byte) error) error {
	if cap(s.row) < cols {
		s.row = make([][]byte, cols)
	}
	row := s.row[:cols]
	if err := eachRow(bytesReader(s.buf), row, &s.scratch, fn); err != nil {
		return err
	}
	if s.f == nil {
		return nil
	}
	if err := s.fw.Flush(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return eachRow(bufio.NewReaderSize(s.f, 256<<10), row, &s.scratch, fn)
}

type byteReader interface {
	io.Reader
	io.ByteReader
}

func bytesReader(b []byte) *sliceReader { return &sliceReader{b: b} }

// sliceReader reads a byte slice without copying what ReadFull takes.
type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func (r *sliceReader) ReadByte() (byte, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

func eachRow(r byteReader, row [][]byte, scratch *[]byte, fn func(row [][]byte) error) error {
	lens := make([]int, len(row))
	for {
		b := (*scratch)[:0]
		for i := range row {
			n, err := binary.ReadUvarint(r)
			if errors.Is(err, io.EOF) && i == 0 {
				return nil
			}
			if err != nil {
				return fmt.Errorf("spool: read: %w", err)
			}
			lens[i] = int(n) - 1
			if n == 0 {
				continue
			}
			start := len(b)
			b = slices.Grow(b, int(n-1))[:start+int(n-1)]
			if _, err := io.ReadFull(r, b[start:]); err != nil {
				return fmt.Errorf("spool: read: %w", err)
			}
		}
		*scratch = b
		off := 0
		for i, n := range lens {
			if n < 0 {
				row[i] = nil
				continue
			}
			row[i] = b[off : off+n : off+n]
			off += n
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

// reset empties the spool for the next tenant or attempt, keeping its
// memory and file.
func (s *spool) reset() error {
	s.buf, s.size, s.rows = s.buf[:0], 0, 0
	if cap(s.scratch) > 1<<20 {
		s.scratch = nil
	}
	if s.f == nil {
		return nil
	}
	s.fw.Reset(s.f)
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// close releases the spool's file.
func (s *spool) close() {
	if s.f != nil {
		s.f.Close()
		s.f, s.fw = nil, nil
	}
	s.buf = nil
}

// packedPart is a finished part and the tenants it holds.
type packedPart struct {
	obj     Object
	tenants []*TenantResult
}

// openPart is a part a worker is appending tenants to.
type openPart struct {
	up      *load.Upload
	key     string
	full    schema.Schema
	tenants []*TenantResult
}

// packer is one worker's open parts: one per output schema, since tenants
// whose columns differ cannot share a file (and all but the majority's are
// left out later, part and all).
type packer struct {
	run  *run
	ctx  context.Context // the run's: a part outlives each tenant's timeout
	fail func(t *TenantResult)
	open []*openPart
}

// add appends the spooled rows of tenant i to the worker's part of its
// schema, opening one if needed, and closes the part once it is full. An
// error fails the part: its earlier tenants fail with it (reported through
// fail), and t must be failed by the caller.
func (p *packer) add(i int, t *TenantResult, prefix [][]byte, full schema.Schema, sp *spool) error {
	r := p.run
	var op *openPart
	for _, o := range p.open {
		if o.full.Equal(full) {
			op = o
		}
	}
	if op == nil {
		key := r.partKey(i)
		up, err := load.NewUpload(p.ctx, r.store, key, r.job.Output.Format, full, load.UploadOptions{Progress: &r.o.Progress.Bytes})
		if err != nil {
			return err
		}
		op = &openPart{up: up, key: key, full: full}
		p.open = append(p.open, op)
	}
	before := op.up.Size()
	row := make([][]byte, len(full))
	copy(row, prefix)
	err := sp.each(len(full)-len(prefix), func(vals [][]byte) error {
		copy(row[len(prefix):], vals)
		return op.up.Write(row)
	})
	if err != nil {
		err = fmt.Errorf("%s: %w", r.store.URI(op.key), err)
		p.drop(op, err)
		return err
	}
	t.Bytes = op.up.Size() - before
	op.tenants = append(op.tenants, t)
	if len(op.tenants) == 1 {
		crashpoint("upload")
	}
	if op.up.Size() >= int64(r.job.Output.FileSize) || r.job.Output.FileRows > 0 && op.up.Rows() >= r.job.Output.FileRows {
		return p.close(op)
	}
	return nil
}

// close finishes a part's upload and records it; on error the part's
// tenants fail.
func (p *packer) close(op *openPart) error {
	p.open = slices.DeleteFunc(p.open, func(o *openPart) bool { return o == op })
	res, err := op.up.Close(p.ctx)
	if err != nil {
		err = fmt.Errorf("%s: %w", p.run.store.URI(op.key), err)
		p.failAll(op, err)
		return err
	}
	p.run.addPart(packedPart{
		obj:     Object{URI: p.run.store.URI(op.key), Key: op.key, Rows: res.Rows, Bytes: res.Bytes, SHA256: res.SHA256},
		tenants: op.tenants,
	})
	crashpoint("part")
	return nil
}

// drop aborts a part whose write failed and fails its tenants.
func (p *packer) drop(op *openPart, err error) {
	p.open = slices.DeleteFunc(p.open, func(o *openPart) bool { return o == op })
	op.up.Abort()
	p.failAll(op, err)
}

func (p *packer) failAll(op *openPart, err error) {
	for _, t := range op.tenants {
		t.Err = fmt.Errorf("tenant %s/%s: part: %w", t.Server, t.Database, err)
		p.fail(t)
	}
}

// flush closes the worker's open parts at the end of its tenants. When
// the run is being stopped the parts are aborted instead: nothing of the
// run will be published.
func (p *packer) flush() {
	for len(p.open) > 0 {
		op := p.open[0]
		if p.ctx.Err() != nil {
			p.open = p.open[1:]
			op.up.Abort()
			continue
		}
		_ = p.close(op) // failures are the tenants'
	}
}

func (r *run) addPart(pp packedPart) {
	r.partsMu.Lock()
	defer r.partsMu.Unlock()
	r.parts = append(r.parts, pp)
}

// packedObjects returns the packed parts to publish, and the keys of those
// that hold tenants failed since they were packed (their columns lost to
// the majority's), which must go.
func (r *run) packedObjects() (keep []Object, drop []string) {
	r.partsMu.Lock()
	defer r.partsMu.Unlock()
	for _, pp := range r.parts {
		ok := !slices.ContainsFunc(pp.tenants, func(t *TenantResult) bool { return t.Err != nil })
		if ok {
			keep = append(keep, pp.obj)
		} else {
			drop = append(drop, pp.obj.Key)
		}
	}
	return keep, drop
}
