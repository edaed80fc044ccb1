package jobs

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync/atomic"

	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/schema"
)

// A union job packs whole tenants into parts of up to output.file_size.
// The source's `concurrency` workers each take the next tenant in the
// run's order and extract it into a spool; fewer writers (one per core, at
// most one per worker) take the extracted tenants, also in the run's
// order, and append each one's spooled rows, whole, to the part they have
// open. Only a tenant that succeeded reaches a writer, so a tenant that
// fails, or fails and is retried, never leaves a row in a part; and since
// every writer takes tenants in order, a part holds its tenants in the
// run's order. A writer closes its part once it reaches file_size (or
// file_rows) and opens the next with its next tenant; a part's key is that
// first tenant's index, unique in the run and the same whoever retries
// what. A tenant too large for the spool streams into parts of its own
// instead, from its worker.
//
// Extracting waits on the network and the database, packing on the CPU
// (Parquet's encoding and compression): more workers than cores keep the
// databases busy, and no more writers than cores keep what a writer holds
// (the pages being filled, the open row group, the buffer in front of the
// upload) from being multiplied by the concurrency.

// A tenant's spool holds up to spoolLimit bytes of rows (or file_size,
// if smaller), the first spoolMemory of them in memory and the rest in a
// temp file read and written through spoolBuffer: per spool at most
// 384 KiB of memory and 32 MiB of disk. A tenant larger than that is big
// enough for parts of its own, and spooling it whole would only write
// and read it twice. A small tenant (100 rows of the benchmark table are
// 30 KB) never touches the disk; a larger one goes through the page cache.
const (
	spoolLimit  = 32 << 20
	spoolMemory = 256 << 10
	spoolBuffer = 64 << 10
)

// handoff carries a union job's extracted tenants from the workers to the
// writers. There are workers + 2 x writers spools: one for each worker's
// tenant, one for each writer's, and one more per writer for a tenant
// extracted while the writers are busy. A worker takes a spool before it
// takes its next tenant, so it waits for the writers when they fall
// behind; and every tenant taken has a spool, so the tenant a writer waits
// for is always on its way.
type handoff struct {
	run     *run
	ctx     context.Context // the run's: a part outlives each tenant's timeout
	fail    func(t *TenantResult)
	todo    []int  // indexes in run.res.Tenants, in the run's order
	slots   []slot // one per todo position
	free    chan *spool
	spools  []*spool
	next    atomic.Int64 // the next todo position a writer packs
	writers int
}

// slot is where a worker leaves a tenant for the writers.
type slot struct {
	done chan struct{} // closed once the tenant is finished, whatever happened
	sink *partSink     // set before done is closed; nil: nothing to pack
	sp   *spool
}

func newHandoff(ctx context.Context, r *run, todo []int, workers int, fail func(*TenantResult)) *handoff {
	h := &handoff{
		run:     r,
		ctx:     ctx,
		fail:    fail,
		todo:    todo,
		slots:   make([]slot, len(todo)),
		writers: max(1, min(workers, runtime.GOMAXPROCS(0))),
	}
	for n := range h.slots {
		h.slots[n].done = make(chan struct{})
	}
	count := workers + 2*h.writers
	limit := min(int64(r.job.Output.FileSize), spoolLimit)
	if len(todo) == 1 {
		// Nothing to pack it with: the one tenant streams straight into
		// parts of its own rather than through a spool first.
		limit = 0
	}
	h.free = make(chan *spool, count)
	for range count {
		sp := newSpool(limit, r.job.Output.FileRows)
		h.spools = append(h.spools, sp)
		h.free <- sp
	}
	return h
}

// spool waits for a free spool; nil once the run is stopped, or when
// nothing is packed (h is nil).
func (h *handoff) spool() *spool {
	if h == nil {
		return nil
	}
	select {
	case sp := <-h.free:
		return sp
	case <-h.ctx.Done():
		return nil
	}
}

func (h *handoff) release(sp *spool) {
	if sp != nil {
		h.free <- sp // never blocks: the channel holds every spool
	}
}

// done leaves the tenant at todo position n for the writers: its sink when
// its rows are in sp and to be packed, else nil (sp is then free again).
func (h *handoff) done(n int, s *partSink, sp *spool) {
	if h == nil {
		return
	}
	if s == nil {
		h.release(sp)
		sp = nil
	}
	h.slots[n].sink, h.slots[n].sp = s, sp
	close(h.slots[n].done)
}

// write is one writer: it takes the tenants in the run's order, each once
// its worker is done with it, and packs those that have rows into its
// parts. When the run is stopped it stops, and its open parts are aborted.
func (h *handoff) write() {
	p := &packer{run: h.run, ctx: h.ctx, fail: h.fail}
	defer p.flush()
	for {
		n := int(h.next.Add(1)) - 1
		if n >= len(h.slots) {
			return
		}
		s := &h.slots[n]
		select {
		case <-s.done:
		case <-h.ctx.Done():
			return
		}
		if s.sink == nil {
			continue
		}
		i := h.todo[n]
		t := h.run.res.Tenants[i]
		if err := p.add(i, t, s.sink.prefix, s.sink.full, s.sp); err != nil {
			t.Err = fmt.Errorf("tenant %s/%s: %w", t.Server, t.Database, err)
			h.fail(t)
		}
		h.release(s.sp)
		s.sink, s.sp = nil, nil
	}
}

// close releases the spools' files once the workers and writers are done.
func (h *handoff) close() {
	for _, sp := range h.spools {
		sp.close()
	}
}

// spool holds the rows of the tenant being extracted, encoded compactly
// (per value: uvarint length+1, 0 for NULL, then the bytes), in memory up
// to spoolMemory and then in an unlinked temp file, up to limit bytes.
type spool struct {
	limit    int64 // bytes at most
	rowLimit int64 // rows at most; 0: none
	buf      []byte
	f        *os.File // nil until the memory is full
	fw       *bufio.Writer
	fr       *bufio.Reader // reads f back; nil until first used
	fileErr  error         // the temp file could not be made
	size     int64         // bytes spooled
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
// tried once per spool.
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
	s.f, s.fw = f, bufio.NewWriterSize(f, spoolBuffer)
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
	if s.fr == nil {
		s.fr = bufio.NewReaderSize(s.f, spoolBuffer)
	} else {
		s.fr.Reset(s.f)
	}
	return eachRow(s.fr, row, &s.scratch, fn)
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
		s.f, s.fw, s.fr = nil, nil, nil
	}
	s.buf = nil
}

// packedPart is a finished part and the tenants it holds.
type packedPart struct {
	obj     Object
	tenants []*TenantResult
}

// openPart is a part a writer is appending tenants to.
type openPart struct {
	up      *load.Upload
	key     string
	full    schema.Schema
	tenants []*TenantResult
}

// packer is one writer's open parts: one per output schema, since tenants
// whose columns differ cannot share a file (and all but the majority's are
// left out later, part and all).
type packer struct {
	run  *run
	ctx  context.Context // the run's: a part outlives each tenant's timeout
	fail func(t *TenantResult)
	open []*openPart
}

// add appends the spooled rows of tenant i to the writer's part of its
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

// flush closes the writer's open parts at the end of its tenants. When
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
