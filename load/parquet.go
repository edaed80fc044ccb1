package load

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/bits"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"

	"github.com/mallet-etl/mallet/schema"
)

// DefaultRowGroupRows is the row group size used when
// ParquetOptions.RowGroupRows is zero.
const DefaultRowGroupRows = 128 * 1024

const (
	// parquetRowGroupBytes ends a row group early once parquet-go's estimate
	// of it (compressed pages plus the pages being filled) reaches this size,
	// so that wide rows (TEXT, BLOB) cannot make the row group, which
	// parquet-go holds in memory until it is complete, arbitrarily large.
	// Narrow rows reach the row limit first (the benchmark's 13-column table:
	// about 2 MB per 131,072 rows).
	parquetRowGroupBytes = 16 << 20

	// parquetPageBytes is the in-memory buffer in which parquet-go fills the
	// current page of each column, uncompressed; a page is cut when it is
	// full. With the definition levels and row numbers parquet-go keeps beside
	// the values, and room to grow, a column holds about 2.5 times this.
	// 128 KiB rather than parquet-go's 256 KiB: about 4 MB less per writer of
	// the benchmark table, for files 1.9 % larger.
	parquetPageBytes = 128 << 10

	// Rows reach parquet-go in batches, column by column: a column writer has
	// a cost per call that one row at a time would pay for every value. A
	// batch also ends when the bytes it copied reach parquetBatchBytes.
	parquetBatchRows  = 512
	parquetBatchBytes = 1 << 20

	// parquetBoundBytes is about the longest min or max of a String or
	// Binary column kept in the column chunk statistics and the page index
	// (see boundedBytesType); parquet-mr cuts its page index to 64 bytes too.
	parquetBoundBytes = 64

	// parquetSchemaKey is the file metadata key holding the JSON of the
	// schema the file was written with.
	parquetSchemaKey = "mallet.schema"
)

// ParquetOptions tunes a ParquetWriter. The zero value is ready to use.
type ParquetOptions struct {
	// Compression is the page codec: "zstd" (the default when empty),
	// "snappy", "gzip" or "none".
	Compression string

	// RowGroupRows is the most rows in a row group; zero means
	// DefaultRowGroupRows (131072). A row group also ends once it holds about
	// 64 MiB, whichever comes first.
	//
	// parquet-go keeps the compressed pages of the open row group in memory
	// until the row group is complete (a column chunk is contiguous in the
	// file), so this bounds the writer's memory: about one compressed row
	// group (at most 16 MiB), plus about 320 KiB per column for the pages
	// being filled, one batch of rows (512 rows, or 1 MiB of values, or one
	// larger value). The zstd encoders (1.7 MiB each, one per core) are shared
	// by every writer of the process. Memory does not grow with the number of
	// rows in the file, except for the footer's page index (tens of bytes per
	// page and column).
	RowGroupRows int
}

// ParquetWriter encodes rows as a Parquet file. It is not safe for concurrent
// use.
type ParquetWriter struct {
	w    *parquet.GenericWriter[any]
	cols []parquetColumn

	// The batch being filled.
	*parquetBatch

	// Full batches go to a goroutine of the writer's (started with the
	// second batch) that gives them to parquet-go, whose column writers
	// encode and compress the pages, on another core while the next batch
	// fills; it gives each batch back through free. Two batches in all.
	todo chan *parquetBatch
	free chan *parquetBatch
	done chan struct{} // closed when the goroutine ends
	mu   sync.Mutex
	werr error // the goroutine's first error
	// Under mu, for Size: parquet-go's size estimate as of the last batch
	// it took, and the bytes of the batch handed over and not yet taken.
	taken   int64
	pending int64

	// Owned by whoever writes to parquet-go: the goroutine once started.
	groupRows  int   // most rows in a row group
	groupBytes int64 // size estimate that ends a row group
	inGroup    int   // rows in the open row group
	groupStart int64 // w.Size() when the open row group began

	rows   int64
	err    error // sticky: the file can no longer be completed
	closed bool
}

var _ Encoder = (*ParquetWriter)(nil)

// parquetBatch holds rows not yet given to parquet-go, by column: vals[i][j]
// is the value of column i in row j. String, Binary and decimal values point
// into arena.
type parquetBatch struct {
	vals  [][]parquet.Value
	arena []byte
	n     int
}

func newParquetBatch(cols, rows int) *parquetBatch {
	b := &parquetBatch{vals: make([][]parquet.Value, cols), arena: make([]byte, 0, 64<<10)}
	values := make([]parquet.Value, rows*cols)
	for i := range b.vals {
		b.vals[i] = values[i*rows : (i+1)*rows : (i+1)*rows]
	}
	return b
}

// reset empties the batch for reuse.
func (b *parquetBatch) reset() {
	if cap(b.arena) > 4*parquetBatchBytes {
		// Do not keep the room a huge value took, nor let old values pin it.
		b.arena = make([]byte, 0, 64<<10)
		for _, vals := range b.vals {
			clear(vals)
		}
	} else {
		b.arena = b.arena[:0]
	}
	b.n = 0
}

// parquetColumn is how the writer encodes one column.
type parquetColumn struct {
	name  string
	kind  schema.Kind
	index int // leaf column index, the position in the schema
	size  int // FIXED_LEN_BYTE_ARRAY length of Uint64 and Decimal
	prec  int
	scale int
	null  parquet.Value
}

// NewParquetWriter returns a writer of a Parquet file with the columns of s,
// in the order of s, all OPTIONAL. Each value, given in MySQL's text form, is
// written as follows (the Athena type being schema.Column.Athena):
//
//	Int32      INT32 INT(32, signed)                    "-12"
//	Int64      INT64 INT(64, signed)                    "-12"
//	Uint64     FIXED_LEN_BYTE_ARRAY(9) DECIMAL(20,0)    "18446744073709551615"
//	Float      FLOAT                                    "-3.4e38"
//	Double     DOUBLE                                   "1e-10"
//	Decimal    FIXED_LEN_BYTE_ARRAY(n) DECIMAL(p,s)     "-12345.67"
//	Date       INT32 DATE                               "2006-01-02"
//	Timestamp  INT64 TIMESTAMP(MILLIS, UTC)             "2006-01-02 15:04:05.123456"
//	String     BYTE_ARRAY STRING                        UTF-8, not checked
//	Binary     BYTE_ARRAY, no logical type              any bytes
//
// n is the fewest bytes that hold p digits (9 for 20 digits, 16 for 38), the
// value being the big-endian two's complement of the unscaled integer. A
// decimal may have fewer fraction digits than its scale, not more. A Date or
// Timestamp whose month or day is zero (MySQL's zero date "0000-00-00") is
// written as NULL; Timestamp text is UTC wall time with 0 to 6 fraction
// digits, truncated to milliseconds.
//
// The file's key/value metadata holds "writer"="mallet" and "mallet.schema",
// the JSON of s. NewParquetWriter returns an error if s is empty, has an empty
// or duplicate name, a kind it does not know, a decimal precision outside
// 1..38 or a scale outside 0..precision, or if o names an unknown codec.
func NewParquetWriter(w io.Writer, s schema.Schema, o ParquetOptions) (*ParquetWriter, error) {
	if len(s) == 0 {
		return nil, errors.New("parquet: schema has no columns")
	}
	codec, err := parquetCodec(o.Compression)
	if err != nil {
		return nil, err
	}
	groupRows := o.RowGroupRows
	switch {
	case groupRows == 0:
		groupRows = DefaultRowGroupRows
	case groupRows < 0:
		return nil, fmt.Errorf("parquet: negative row group size %d", groupRows)
	}
	root, cols, err := parquetRoot(s)
	if err != nil {
		return nil, err
	}
	meta, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("parquet: encode schema metadata: %w", err)
	}
	options := []parquet.WriterOption{
		parquet.NewSchema("mallet", root),
		parquet.Compression(codec),
		// Data pages v1 and PLAIN byte arrays (parquet-go would pick
		// DELTA_LENGTH_BYTE_ARRAY) are what every engine reads.
		parquet.DataPageVersion(1),
		parquet.DefaultEncodingFor(parquet.ByteArray, &parquet.Plain),
		// Engines prune with the column chunk statistics and the page index,
		// which stay; min/max in every page header would cost a second pass
		// over each page's values, and before they were bounded they held
		// every large value a second time.
		parquet.DataPageStatistics(false),
		// Byte array bounds are cut to parquetBoundBytes by the column
		// types themselves (boundedBytesType), correctly for UTF-8; the
		// page index must not cut them again.
		parquet.ColumnIndexSizeLimit(func([]string) int { return math.MaxInt32 }),
		parquet.PageBufferSize(parquetPageBytes),
		parquet.WriteBufferSize(64 << 10),
		parquet.MaxRowsPerRowGroup(int64(groupRows)),
		parquet.KeyValueMetadata("writer", "mallet"),
		parquet.KeyValueMetadata(parquetSchemaKey, string(meta)),
	}
	for _, c := range s {
		if unboundedText(c) {
			options = append(options, parquet.SkipPageBounds(c.Name))
		}
	}
	// The options are checked here, where an error can be returned;
	// NewGenericWriter panics on them. They are given to it as they are: a
	// *WriterConfig given as an option is merged into the defaults with
	// DataPageStatistics OR-ed, which would turn page statistics back on.
	if _, err := parquet.NewWriterConfig(options...); err != nil {
		return nil, fmt.Errorf("parquet: configure writer: %w", err)
	}
	p := &ParquetWriter{
		w:            parquet.NewGenericWriter[any](w, options...),
		cols:         cols,
		parquetBatch: newParquetBatch(len(cols), min(parquetBatchRows, groupRows)),
		groupRows:    groupRows,
		groupBytes:   parquetRowGroupBytes,
	}
	return p, nil
}

// unboundedText reports a column of documents rather than values: TEXT,
// BLOB and JSON of any size (mail bodies, HTML templates, JSON documents).
// Their min and max, cut to 64 bytes, would prune nothing (no query asks
// for a body between two others), yet cost, per page and column, about
// 190 bytes of memory until the footer is written, and a pass over every
// page's values. They get none: neither in the page index nor in the
// column chunk statistics. Short text (VARCHAR, CHAR, ENUM, SET) keeps its
// bounds, which do prune (a status, a code, a mail address).
func unboundedText(c schema.Column) bool {
	t := strings.ToUpper(c.MySQL)
	return (c.Kind == schema.String || c.Kind == schema.Binary) &&
		(strings.HasSuffix(t, "TEXT") || strings.HasSuffix(t, "BLOB") || t == "JSON")
}

func parquetCodec(name string) (compress.Codec, error) {
	switch name {
	case "", "zstd":
		return &pageZstd, nil
	case "snappy":
		return &parquet.Snappy, nil
	case "gzip":
		return &parquet.Gzip, nil
	case "none":
		return &parquet.Uncompressed, nil
	}
	return nil, fmt.Errorf("parquet: unknown compression %q (want zstd, snappy, gzip or none)", name)
}

// pageZstd is zstd at its default level (about zstd -3) with a window of a
// page and klauspost/compress's lower-memory mode. parquet-go's zstd codec
// keeps the level's 8 MiB window, for which klauspost/compress gives every
// pooled encoder a 16 MiB history (32 MiB measured per writer), although each
// page, the unit of compression, is compressed on its own. An encoder holds
// about 1.7 MiB (3.4 MiB with the 1 MiB window used before); files are the
// same size.
var pageZstd = zstdCodec{window: parquetPageBytes}

// zstdCodec is a parquet-go codec writing zstd frames with a given window.
// It holds at most GOMAXPROCS encoders, shared by every writer of the
// process: compressing is all CPU, so more writers than cores wait their
// turn rather than each holding an encoder (1.7 MiB) of its own.
type zstdCodec struct {
	window   int // a power of two
	once     sync.Once
	encoders chan *zstd.Encoder // nil until first used
}

func (c *zstdCodec) String() string                            { return "ZSTD" }
func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

// Encode compresses src into dst, reusing dst's capacity.
func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	c.once.Do(func() {
		n := runtime.GOMAXPROCS(0)
		c.encoders = make(chan *zstd.Encoder, n)
		for range n {
			c.encoders <- nil // made when first taken
		}
	})
	e := <-c.encoders
	defer func() { c.encoders <- e }()
	if e == nil {
		var err error
		e, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithWindowSize(c.window),
			zstd.WithLowerEncoderMem(true),
			zstd.WithEncoderConcurrency(1),
			zstd.WithZeroFrames(true),
			zstd.WithEncoderCRC(false),
		)
		if err != nil {
			return dst, fmt.Errorf("zstd: %w", err)
		}
	}
	return e.EncodeAll(src, dst[:0]), nil
}

// Decode is parquet-go's; readers choose the codec from the file anyway.
func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) { return parquet.Zstd.Decode(dst, src) }

// Write encodes one row: row[i] is the value of column i in MySQL's text
// form, nil for NULL. Write keeps no reference to row or its slices.
//
// A value that is not valid text for its column's kind is an error naming the
// column and the value; the row is then left out and the writer remains
// usable. Any other error comes from writing the file, which can then not be
// completed: every later call returns it again.
func (p *ParquetWriter) Write(row [][]byte) error {
	if p.err != nil {
		return p.err
	}
	if p.closed {
		return errors.New("parquet: write after close")
	}
	if len(row) != len(p.cols) {
		return fmt.Errorf("parquet: row has %d values, schema has %d columns", len(row), len(p.cols))
	}
	mark := len(p.arena)
	for i, b := range row {
		if err := p.encode(&p.vals[i][p.n], &p.cols[i], b); err != nil {
			p.arena = p.arena[:mark]
			return err
		}
	}
	p.n++
	p.rows++
	if p.n == len(p.vals[0]) || len(p.arena) >= parquetBatchBytes {
		return p.submit()
	}
	return nil
}

// submit hands the full batch to the writing goroutine, starting it the
// first time, and takes the other batch to fill, waiting until the
// goroutine is done with it. It returns the goroutine's error, if any.
func (p *ParquetWriter) submit() error {
	if p.todo == nil {
		p.todo = make(chan *parquetBatch)
		p.free = make(chan *parquetBatch, 1)
		p.done = make(chan struct{})
		p.free <- newParquetBatch(len(p.vals), len(p.vals[0]))
		go p.writeBatches()
	}
	p.mu.Lock()
	p.pending += int64(len(p.arena))
	p.mu.Unlock()
	p.todo <- p.parquetBatch
	p.parquetBatch = <-p.free
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.werr != nil {
		p.err = p.werr
	}
	return p.err
}

// writeBatches gives each batch to parquet-go, until todo is closed. After
// an error it only gives the batches back.
func (p *ParquetWriter) writeBatches() {
	defer close(p.done)
	var err error
	for b := range p.todo {
		n := int64(len(b.arena))
		if err == nil {
			err = p.flushBatch(b)
		}
		p.mu.Lock()
		if err != nil && p.werr == nil {
			p.werr = err
		}
		p.taken = p.w.Size()
		p.pending -= n
		p.mu.Unlock()
		b.reset()
		p.free <- b
	}
}

// Rows returns the number of rows written so far.
func (p *ParquetWriter) Rows() int64 { return p.rows }

// Size estimates the file's size so far: parquet-go's estimate (the bytes
// written plus the open row group, uncompressed) as of the last batch it
// took, plus the bytes of the batches not yet taken. Unlike parquet-go's own
// Size, it may be called while the writing goroutine runs, and it is cheap
// enough to ask after every row.
func (p *ParquetWriter) Size() int64 {
	if p.todo == nil { // no goroutine: parquet-go has taken nothing yet
		return int64(len(p.arena))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.taken + p.pending + int64(len(p.arena))
}

// Close writes the rows still buffered and the file footer. It does not close
// the underlying writer. Later calls return the first call's result.
func (p *ParquetWriter) Close() error {
	if p.closed {
		return p.err
	}
	p.closed = true
	switch {
	case p.err != nil:
	case p.todo != nil:
		if p.n > 0 {
			p.submit() //nolint:errcheck // sets p.err
		}
	default: // one batch at most: no goroutine was needed
		p.err = p.flushBatch(p.parquetBatch)
	}
	if p.todo != nil {
		close(p.todo)
		<-p.done
		if p.err == nil {
			p.err = p.werr // the goroutine has ended
		}
	}
	if p.err != nil {
		return p.err
	}
	if err := p.w.Close(); err != nil {
		p.err = fmt.Errorf("parquet: close: %w", err)
		return p.err
	}
	return nil
}

// flushBatch hands a batch to parquet-go's column writers and ends the row
// group when it is full. A column writer copies the values, byte arrays
// included, into its page buffer before it returns (cutting a page when the
// buffer is full), so the arena is free again afterwards.
//
// Writing by column is parquet-go's documented alternative to WriteRows,
// which would first regroup the values of rows by column. It leaves the row
// group boundaries to this writer, which ends the row group itself.
func (p *ParquetWriter) flushBatch(b *parquetBatch) error {
	for off := 0; off < b.n; {
		k := min(b.n-off, p.groupRows-p.inGroup)
		for i, cw := range p.w.ColumnWriters() {
			if _, err := cw.WriteRowValues(b.vals[i][off : off+k]); err != nil {
				return fmt.Errorf("parquet: write column %q: %w", p.cols[i].name, err)
			}
		}
		off += k
		p.inGroup += k
		if p.inGroup >= p.groupRows || p.w.Size()-p.groupStart >= p.groupBytes {
			if err := p.w.Flush(); err != nil {
				return fmt.Errorf("parquet: write row group: %w", err)
			}
			p.inGroup = 0
			p.groupStart = p.w.Size()
		}
	}
	b.reset()
	return nil
}

// encode sets v to the Parquet value of one text value. Bytes are copied
// into the arena; numbers are held in the Value itself.
func (p *ParquetWriter) encode(v *parquet.Value, c *parquetColumn, b []byte) error {
	if b == nil {
		*v = c.null
		return nil
	}
	switch c.kind {
	case schema.Int32:
		n, err := parseInt(b, 32)
		if err != nil {
			return c.invalid(b, err)
		}
		*v = parquet.Int32Value(int32(n))
	case schema.Int64:
		n, err := parseInt(b, 64)
		if err != nil {
			return c.invalid(b, err)
		}
		*v = parquet.Int64Value(n)
	case schema.Float:
		f, err := parseFloat(b, 32)
		if err != nil {
			return c.invalid(b, err)
		}
		*v = parquet.FloatValue(float32(f))
	case schema.Double:
		f, err := parseFloat(b, 64)
		if err != nil {
			return c.invalid(b, err)
		}
		*v = parquet.DoubleValue(f)
	case schema.Uint64:
		u, err := parseUint(b)
		if err != nil {
			return c.invalid(b, err)
		}
		dst := p.alloc(c.size)
		dst[0] = 0
		binary.BigEndian.PutUint64(dst[1:], u)
		*v = parquet.FixedLenByteArrayValue(dst)
	case schema.Decimal:
		hi, lo, err := parseDecimal(b, c.prec, c.scale)
		if err != nil {
			return c.invalid(b, err)
		}
		dst := p.alloc(c.size)
		putInt128(dst, hi, lo)
		*v = parquet.FixedLenByteArrayValue(dst)
	case schema.Date:
		days, ok, err := parseDate(b)
		if err != nil {
			return c.invalid(b, err)
		}
		if !ok {
			*v = c.null
			return nil
		}
		*v = parquet.Int32Value(int32(days))
	case schema.Timestamp:
		ms, ok, err := parseTimestamp(b)
		if err != nil {
			return c.invalid(b, err)
		}
		if !ok {
			*v = c.null
			return nil
		}
		*v = parquet.Int64Value(ms)
	default: // String, Binary
		*v = parquet.ByteArrayValue(p.copy(b))
	}
	// The in-place setters inline; Value.Level copies the value twice.
	v.SetDefinitionLevel(1)
	v.SetColumnIndex(c.index)
	return nil
}

// alloc returns n bytes of the arena.
func (p *ParquetWriter) alloc(n int) []byte {
	off := len(p.arena)
	if off+n > cap(p.arena) {
		p.arena = append(p.arena, make([]byte, n)...)
	} else {
		p.arena = p.arena[:off+n]
	}
	return p.arena[off : off+n : off+n]
}

// copy copies b into the arena. When append moves the arena, the values
// already in the batch keep pointing at the old array, which stays intact.
func (p *ParquetWriter) copy(b []byte) []byte {
	off := len(p.arena)
	p.arena = append(p.arena, b...)
	return p.arena[off:len(p.arena):len(p.arena)]
}

// invalid is the error for a value that is not valid text for the column,
// showing at most 64 bytes of it.
func (c *parquetColumn) invalid(b []byte, err error) error {
	const limit = 64
	s := string(b[:min(len(b), limit)])
	if len(b) > limit {
		s += "..."
	}
	kind := c.kind.String()
	if c.kind == schema.Decimal {
		kind = fmt.Sprintf("decimal(%d,%d)", c.prec, c.scale)
	}
	return fmt.Errorf("parquet: column %q: invalid %s %q: %w", c.name, kind, s, err)
}

// parquetRoot builds the message node of s and the writer's columns.
func parquetRoot(s schema.Schema) (parquet.Node, []parquetColumn, error) {
	root := &orderedGroup{fields: make([]parquet.Field, len(s))}
	cols := make([]parquetColumn, len(s))
	seen := make(map[string]bool, len(s))
	for i, c := range s {
		if c.Name == "" {
			return nil, nil, fmt.Errorf("parquet: column %d has no name", i+1)
		}
		if seen[c.Name] {
			return nil, nil, fmt.Errorf("parquet: duplicate column %q", c.Name)
		}
		seen[c.Name] = true
		node, size, err := parquetNode(c)
		if err != nil {
			return nil, nil, err
		}
		// A one-field Group gives parquet-go's own Field for the name; only
		// the order of the fields is ours.
		root.fields[i] = parquet.Group{c.Name: parquet.Optional(node)}.Fields()[0]
		cols[i] = parquetColumn{
			name: c.Name, kind: c.Kind, index: i, size: size, prec: c.Precision, scale: c.Scale,
			null: parquet.NullValue().Level(0, 0, i),
		}
	}
	return root, cols, nil
}

// parquetNode returns the leaf node of a column, and the byte length of its
// values when they are FIXED_LEN_BYTE_ARRAY.
func parquetNode(c schema.Column) (parquet.Node, int, error) {
	switch c.Kind {
	case schema.Int32:
		return parquet.Leaf(parquet.Int32Type), 0, nil
	case schema.Int64:
		return parquet.Leaf(parquet.Int64Type), 0, nil
	case schema.Uint64:
		return decimalNode(20, 0), decimalSize(20), nil
	case schema.Float:
		return parquet.Leaf(parquet.FloatType), 0, nil
	case schema.Double:
		return parquet.Leaf(parquet.DoubleType), 0, nil
	case schema.Decimal:
		if c.Precision < 1 || c.Precision > schema.MaxDecimalPrecision || c.Scale < 0 || c.Scale > c.Precision {
			return nil, 0, fmt.Errorf("parquet: column %q: invalid decimal(%d,%d)", c.Name, c.Precision, c.Scale)
		}
		return decimalNode(c.Precision, c.Scale), decimalSize(c.Precision), nil
	case schema.Date:
		return parquet.Date(), 0, nil
	case schema.Timestamp:
		return parquet.Timestamp(parquet.Millisecond), 0, nil
	case schema.String:
		return parquet.Leaf(boundedBytesType{Type: parquet.String().Type(), text: true}), 0, nil
	case schema.Binary:
		return parquet.Leaf(boundedBytesType{Type: parquet.ByteArrayType}), 0, nil
	}
	return nil, 0, fmt.Errorf("parquet: column %q: unknown kind %s", c.Name, c.Kind)
}

// orderedGroup is a group node whose fields keep the order they were given
// in; parquet.Group is a map and sorts its fields by name.
type orderedGroup struct{ fields []parquet.Field }

func (g *orderedGroup) ID() int                     { return 0 }
func (g *orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g *orderedGroup) Optional() bool              { return false }
func (g *orderedGroup) Repeated() bool              { return false }
func (g *orderedGroup) Required() bool              { return true }
func (g *orderedGroup) Leaf() bool                  { return false }
func (g *orderedGroup) Fields() []parquet.Field     { return g.fields }
func (g *orderedGroup) Encoding() encoding.Encoding { return nil }
func (g *orderedGroup) Compression() compress.Codec { return nil }

// GoType is a map: parquet.Group's struct type panics on a column name with a
// comma, and rows here are never Go values.
func (g *orderedGroup) GoType() reflect.Type { return reflect.TypeFor[map[string]any]() }

func (g *orderedGroup) String() string {
	var b strings.Builder
	_ = parquet.PrintSchema(&b, "", g) // a strings.Builder does not fail
	return b.String()
}

// decimalNode is DECIMAL(p,s) over the shortest FIXED_LEN_BYTE_ARRAY for p.
func decimalNode(p, s int) parquet.Node {
	t := parquet.Decimal(s, p, parquet.FixedLenByteArrayType(decimalSize(p))).Type()
	return parquet.Leaf(signedDecimalType{t})
}

// decimalSizes[p] is the fewest bytes whose two's complement holds every
// integer of p digits, as the Parquet spec asks: the least n with
// 10^p <= 2^(8n-1).
var decimalSizes = func() (sizes [schema.MaxDecimalPrecision + 1]int) {
	pow := big.NewInt(1)
	for p := 1; p <= schema.MaxDecimalPrecision; p++ {
		pow.Mul(pow, big.NewInt(10))
		n := 1
		for new(big.Int).Lsh(big.NewInt(1), uint(8*n-1)).Cmp(pow) < 0 {
			n++
		}
		sizes[p] = n
	}
	return sizes
}()

func decimalSize(p int) int { return decimalSizes[p] }

// signedDecimalType is DECIMAL over FIXED_LEN_BYTE_ARRAY whose statistics
// order values as signed integers, as the Parquet spec says decimals are
// ordered. parquet-go v0.32 orders fixed-length byte arrays as unsigned
// bytes, which would give a column holding -1 and 1 the statistics min=1,
// max=-1, in the column chunk and in the page index; engines that read them
// as decimals (Trino, so Athena) would then skip pages that match or reject
// the file as corrupt. The type overrides the comparison, the page bounds
// and the page index; encoding, the schema element and reading are the
// wrapped type's.
type signedDecimalType struct{ parquet.Type }

func (t signedDecimalType) Compare(a, b parquet.Value) int {
	return compareSigned(a.ByteArray(), b.ByteArray())
}

func (t signedDecimalType) NewColumnBuffer(columnIndex, numValues int) parquet.ColumnBuffer {
	return signedDecimalBuffer{t.Type.NewColumnBuffer(columnIndex, numValues)}
}

func (t signedDecimalType) NewColumnIndexer(int) parquet.ColumnIndexer {
	return new(signedDecimalIndexer)
}

// signedDecimalBuffer gives its pages signed bounds. Embedding the interface
// keeps parquet-go's unexported write methods of the wrapped buffer.
type signedDecimalBuffer struct{ parquet.ColumnBuffer }

func (b signedDecimalBuffer) Page() parquet.Page { return signedDecimalPage{b.ColumnBuffer.Page()} }

func (b signedDecimalBuffer) Clone() parquet.ColumnBuffer {
	return signedDecimalBuffer{b.ColumnBuffer.Clone()}
}

type signedDecimalPage struct{ parquet.Page }

func (p signedDecimalPage) Bounds() (minValue, maxValue parquet.Value, ok bool) {
	d := p.Data()
	data, size := d.FixedLenByteArray()
	if size == 0 || len(data) < size {
		return minValue, maxValue, false
	}
	lo, hi := data[:size], data[:size]
	for i := size; i+size <= len(data); i += size {
		v := data[i : i+size]
		if compareSigned(v, lo) < 0 {
			lo = v
		}
		if compareSigned(v, hi) > 0 {
			hi = v
		}
	}
	col := p.Column()
	return parquet.FixedLenByteArrayValue(lo).Level(0, 0, col), parquet.FixedLenByteArrayValue(hi).Level(0, 0, col), true
}

// compareSigned compares big-endian two's complement integers of the same
// length.
func compareSigned(a, b []byte) int {
	if len(a) == 0 || len(b) == 0 {
		return len(a) - len(b)
	}
	if an, bn := a[0]&0x80 != 0, b[0]&0x80 != 0; an != bn {
		if an {
			return -1
		}
		return 1
	}
	return bytes.Compare(a, b)
}

// signedDecimalIndexer builds the page index of a decimal column with one
// entry per page, empty for pages of nulls only as the spec asks (parquet-go's
// fixed-length indexer leaves those out).
type signedDecimalIndexer struct {
	nullPages  []bool
	nullCounts []int64
	min, max   [][]byte
}

func (x *signedDecimalIndexer) Reset() { *x = signedDecimalIndexer{} }

func (x *signedDecimalIndexer) IndexPage(numValues, numNulls int64, minValue, maxValue parquet.Value) {
	null := numValues == numNulls || minValue.IsNull() || maxValue.IsNull()
	x.nullPages = append(x.nullPages, null)
	x.nullCounts = append(x.nullCounts, numNulls)
	if null {
		x.min = append(x.min, []byte{})
		x.max = append(x.max, []byte{})
		return
	}
	x.min = append(x.min, bytes.Clone(minValue.ByteArray()))
	x.max = append(x.max, bytes.Clone(maxValue.ByteArray()))
}

// ColumnIndex returns slices the indexer does not reuse: parquet-go keeps the
// index of each row group until the footer is written.
func (x *signedDecimalIndexer) ColumnIndex() format.ColumnIndex {
	return format.ColumnIndex{
		NullPages:     append([]bool(nil), x.nullPages...),
		NullCounts:    append([]int64(nil), x.nullCounts...),
		MinValues:     append([][]byte(nil), x.min...),
		MaxValues:     append([][]byte(nil), x.max...),
		BoundaryOrder: format.Unordered,
	}
}

// boundedBytesType is a BYTE_ARRAY type (STRING or no logical type) whose
// page bounds, and so its column chunk statistics and page index, are at
// most about parquetBoundBytes long. parquet-go keeps whole values there: a
// column of 1 MB mail bodies put each body into the footer twice more, as a
// page's min and max, and kept them in memory until the file was complete.
//
// A min is cut to a prefix, which sorts before the value; a max is cut and
// its last byte (last character, for text) incremented, which sorts after
// it: both stay bounds, the more compact values the Parquet spec allows
// ("may be the actual minimum and maximum ... but can also be values that do
// not exist"), as parquet-mr writes in its page index. Text bounds are cut
// at a character boundary and stay valid UTF-8.
type boundedBytesType struct {
	parquet.Type
	text bool
}

func (t boundedBytesType) NewColumnBuffer(columnIndex, numValues int) parquet.ColumnBuffer {
	return boundedBytesBuffer{ColumnBuffer: t.Type.NewColumnBuffer(columnIndex, numValues), text: t.text}
}

// boundedBytesBuffer gives its pages bounded bounds. Embedding the interface
// keeps parquet-go's unexported write methods of the wrapped buffer.
type boundedBytesBuffer struct {
	parquet.ColumnBuffer
	text bool
}

func (b boundedBytesBuffer) Page() parquet.Page {
	return boundedBytesPage{Page: b.ColumnBuffer.Page(), text: b.text}
}

func (b boundedBytesBuffer) Clone() parquet.ColumnBuffer {
	return boundedBytesBuffer{ColumnBuffer: b.ColumnBuffer.Clone(), text: b.text}
}

type boundedBytesPage struct {
	parquet.Page
	text bool
}

func (p boundedBytesPage) Bounds() (minValue, maxValue parquet.Value, ok bool) {
	lo, hi, ok := p.Page.Bounds()
	if !ok {
		return lo, hi, false
	}
	col := p.Column()
	minValue = parquet.ByteArrayValue(lowerBound(lo.ByteArray(), parquetBoundBytes, p.text)).Level(0, 0, col)
	maxValue = parquet.ByteArrayValue(upperBound(hi.ByteArray(), parquetBoundBytes, p.text)).Level(0, 0, col)
	return minValue, maxValue, true
}

// lowerBound returns a prefix of b of at most n bytes, cut at a character
// boundary when text is true. It sorts before or equal to b.
func lowerBound(b []byte, n int, text bool) []byte {
	if len(b) <= n {
		return b
	}
	if text {
		return b[:runeCut(b, n)]
	}
	return b[:n]
}

// upperBound returns a short value that sorts after or equal to b, byte-wise
// (the order of STRING and of BYTE_ARRAY without a logical type): b itself
// when it has at most n bytes, else a prefix of at most n bytes whose last
// character (text) or byte was incremented. Text that is valid UTF-8 in its
// first n bytes gives valid UTF-8.
//
// Only a value whose first n bytes are all 0xFF (or, for text, U+10FFFF) has
// no such short bound: the bound is then the prefix up to its first other
// byte (character), incremented, or b itself if there is none.
func upperBound(b []byte, n int, text bool) []byte {
	if len(b) <= n {
		return b
	}
	if text {
		cut := b[:runeCut(b, n)]
		if utf8.Valid(cut) {
			for len(cut) > 0 {
				r, size := utf8.DecodeLastRune(cut)
				cut = cut[:len(cut)-size]
				// U+10FFFF, or a successor one byte longer (U+007F to
				// U+0080) that would not fit: carry into the character
				// before.
				if next, ok := nextRune(r); ok && len(cut)+utf8.RuneLen(next) <= n {
					return utf8.AppendRune(bytes.Clone(cut), next)
				}
			}
			// Only U+10FFFF up to n: the first other character, incremented.
			for i := 0; i < len(b); {
				r, size := utf8.DecodeRune(b[i:])
				if r == utf8.RuneError && size <= 1 {
					break
				}
				if next, ok := nextRune(r); ok {
					return utf8.AppendRune(bytes.Clone(b[:i]), next)
				}
				i += size
			}
		}
		// Not UTF-8 (a String column holds what MySQL sent, unchecked), or
		// only U+10FFFF: bytes, as parquet-mr does.
	}
	for i := n - 1; i >= 0; i-- {
		if b[i] != 0xFF {
			out := bytes.Clone(b[:i+1])
			out[i]++
			return out
		}
	}
	for i := n; i < len(b); i++ {
		if b[i] != 0xFF {
			out := bytes.Clone(b[:i+1])
			out[i]++
			return out
		}
	}
	return b
}

// runeCut returns the largest length <= n that does not split a UTF-8
// sequence of b (n < len(b)).
func runeCut(b []byte, n int) int {
	for i := n; i > 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return n
}

// nextRune is the character after r in code point order, which UTF-8's
// byte order follows, skipping the surrogates that UTF-8 cannot encode.
func nextRune(r rune) (rune, bool) {
	switch {
	case r >= utf8.MaxRune:
		return 0, false
	case r == 0xD7FF:
		return 0xE000, true
	}
	return r + 1, true
}

// Parsing MySQL's text. The parsers take bytes and do not allocate.

var (
	errSyntax    = strconv.ErrSyntax
	errRange     = strconv.ErrRange
	errScale     = errors.New("more fraction digits than the scale")
	errPrecision = errors.New("more digits than the precision")
)

// parseInt parses an optionally signed decimal integer of bitSize bits.
func parseInt(b []byte, bitSize int) (int64, error) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, errSyntax
	}
	limit := uint64(1) << (bitSize - 1) // |min|; max is limit-1
	var u uint64
	for _, c := range b {
		d := uint64(c - '0')
		if d > 9 {
			return 0, errSyntax
		}
		if u > (limit-d)/10 {
			return 0, errRange
		}
		u = u*10 + d
	}
	if neg {
		return -int64(u), nil // -int64(limit) wraps to the minimum, as meant
	}
	if u >= limit {
		return 0, errRange
	}
	return int64(u), nil
}

// parseUint parses an unsigned decimal integer of 64 bits.
func parseUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, errSyntax
	}
	var u uint64
	for _, c := range b {
		d := uint64(c - '0')
		if d > 9 {
			return 0, errSyntax
		}
		hi, lo := bits.Mul64(u, 10)
		lo, carry := bits.Add64(lo, d, 0)
		if hi != 0 || carry != 0 {
			return 0, errRange
		}
		u = lo
	}
	return u, nil
}

// parseFloat parses a FLOAT or DOUBLE as MySQL prints it ("1.5", "-3.4e38").
func parseFloat(b []byte, bitSize int) (float64, error) {
	f, err := strconv.ParseFloat(string(b), bitSize)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			return 0, ne.Err // the message shows the value already
		}
		return 0, err
	}
	return f, nil
}

// parseDecimal parses a DECIMAL(precision, scale) into its unscaled value, a
// 128-bit two's complement integer hi:lo; 38 digits fit, so no value needs a
// big.Int. Fewer fraction digits than the scale are padded with zeros.
func parseDecimal(b []byte, precision, scale int) (hi, lo uint64, err error) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	digits, sig, frac := 0, 0, -1 // frac counts digits after the point, -1 before it
	for _, c := range b {
		if c == '.' && frac < 0 {
			frac = 0
			continue
		}
		d := uint64(c - '0')
		if d > 9 {
			return 0, 0, errSyntax
		}
		digits++
		if frac >= 0 {
			if frac++; frac > scale {
				return 0, 0, errScale
			}
		}
		if sig > 0 || d != 0 {
			if sig++; sig > precision {
				return 0, 0, errPrecision
			}
			hi, lo = mul10add(hi, lo, d)
		}
	}
	if digits == 0 {
		return 0, 0, errSyntax
	}
	if sig > 0 {
		pad := scale - max(frac, 0)
		if sig+pad > precision {
			return 0, 0, errPrecision
		}
		for range pad {
			hi, lo = mul10add(hi, lo, 0)
		}
	}
	if neg {
		var borrow uint64
		lo, borrow = bits.Sub64(0, lo, 0)
		hi, _ = bits.Sub64(0, hi, borrow)
	}
	return hi, lo, nil
}

func mul10add(hi, lo, d uint64) (uint64, uint64) {
	h, l := bits.Mul64(lo, 10)
	l, carry := bits.Add64(l, d, 0)
	return hi*10 + h + carry, l
}

// putInt128 writes the low len(dst) bytes of hi:lo big-endian; the value
// fits, so the bytes left out are its sign extension.
func putInt128(dst []byte, hi, lo uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte(lo)
		lo = lo>>8 | hi<<56
		hi = uint64(int64(hi) >> 8)
	}
}

// parseDate parses "YYYY-MM-DD" into days since 1970-01-01. ok is false for
// a zero date (month or day 0), which is NULL.
func parseDate(b []byte) (days int64, ok bool, err error) {
	if len(b) != 10 {
		return 0, false, errSyntax
	}
	return civilDays(b)
}

// parseTimestamp parses "YYYY-MM-DD hh:mm:ss[.ffffff]" into milliseconds
// since the epoch, truncating the fraction. ok is false for a zero date.
func parseTimestamp(b []byte) (ms int64, ok bool, err error) {
	if len(b) < 19 || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return 0, false, errSyntax
	}
	days, ok, err := civilDays(b[:10])
	if err != nil || !ok {
		return 0, ok, err
	}
	h, ok1 := digits2(b[11:13])
	m, ok2 := digits2(b[14:16])
	s, ok3 := digits2(b[17:19])
	if !ok1 || !ok2 || !ok3 {
		return 0, false, errSyntax
	}
	if h > 23 || m > 59 || s > 59 {
		return 0, false, errRange
	}
	var milli int64
	if frac := b[19:]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 7 {
			return 0, false, errSyntax
		}
		for i, c := range frac[1:] {
			if c < '0' || c > '9' {
				return 0, false, errSyntax
			}
			if i < 3 {
				milli = milli*10 + int64(c-'0')
			}
		}
		for i := len(frac) - 1; i < 3; i++ {
			milli *= 10
		}
	}
	return ((days*24+h)*60+m)*60_000 + s*1000 + milli, true, nil
}

// civilDays converts "YYYY-MM-DD" to days since 1970-01-01 in the proleptic
// Gregorian calendar (Howard Hinnant's days_from_civil).
func civilDays(b []byte) (int64, bool, error) {
	if b[4] != '-' || b[7] != '-' {
		return 0, false, errSyntax
	}
	y1, ok1 := digits2(b[0:2])
	y2, ok2 := digits2(b[2:4])
	m, ok3 := digits2(b[5:7])
	d, ok4 := digits2(b[8:10])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, false, errSyntax
	}
	if m == 0 || d == 0 {
		return 0, false, nil
	}
	y := y1*100 + y2
	if m > 12 || d > daysIn(y, m) {
		return 0, false, errRange
	}
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 { // y is -1 for January and February of year 0
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468, true, nil
}

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func digits2(b []byte) (int64, bool) {
	d1, d2 := b[0]-'0', b[1]-'0'
	if d1 > 9 || d2 > 9 {
		return 0, false
	}
	return int64(d1)*10 + int64(d2), true
}

// ReadParquetSchema returns the columns of a Parquet file and its number of
// rows. Kinds, precisions and scales come from the file's physical and
// logical types, so files from other writers read too when they are flat:
//
//	INT32                    Int32 (INT(8|16|32, signed), INT(8|16, unsigned) too)
//	INT32 DATE               Date
//	INT64                    Int64 (INT(64, signed) too; INT(32, unsigned) too)
//	INT64 TIMESTAMP(any)     Timestamp
//	FLOAT, DOUBLE            Float, Double
//	DECIMAL(p<=38, s)        Decimal (over INT32, INT64, BYTE_ARRAY or FIXED_LEN_BYTE_ARRAY)
//	DECIMAL(p>38, s)         String
//	INT64 INT(64, unsigned)  Uint64
//	BYTE_ARRAY STRING|ENUM|JSON  String
//	BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY with no logical type  Binary
//
// DECIMAL(20,0) is how ParquetWriter writes both Uint64 and a MySQL
// DECIMAL(20,0); the file's "mallet.schema" metadata tells them apart, and
// gives each column its MySQL type name. Without it DECIMAL(20,0) is a
// Decimal. Nested, repeated and other types are an error.
func ReadParquetSchema(r io.ReaderAt, size int64) (schema.Schema, int64, error) {
	f, s, _, err := openParquet(r, size)
	if err != nil {
		return nil, 0, err
	}
	return s, f.NumRows(), nil
}

// ReadParquetRows calls fn with each row of a Parquet file, in file order,
// and stops at fn's first error, which it returns. The Go value of each
// column kind is:
//
//	Int32              int32
//	Int64              int64
//	Uint64, Decimal    string, the decimal text as MySQL prints it: "-12345.67"
//	                   with exactly scale fraction digits, "18446744073709551615"
//	Float, Double      float32, float64
//	Date               time.Time, midnight UTC
//	Timestamp          time.Time, UTC
//	String             string
//	Binary             []byte
//
// and nil for NULL. The row slice is reused for the next call; the values in
// it are not.
func ReadParquetRows(r io.ReaderAt, size int64, fn func(row []any) error) error {
	f, s, decoders, err := openParquet(r, size)
	if err != nil {
		return err
	}
	out := make([]any, len(s))
	buf := make([]parquet.Row, 64)
	for _, rg := range f.RowGroups() {
		if err := readRowGroup(rg, buf, decoders, out, fn); err != nil {
			return err
		}
	}
	return nil
}

func readRowGroup(rg parquet.RowGroup, buf []parquet.Row, decoders []func(parquet.Value) any, out []any, fn func([]any) error) (err error) {
	rows := rg.Rows()
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("parquet: close rows: %w", cerr)
		}
	}()
	for {
		n, rerr := rows.ReadRows(buf)
		for _, row := range buf[:n] {
			clear(out)
			for _, v := range row {
				if c := v.Column(); c >= 0 && c < len(out) && !v.IsNull() {
					out[c] = decoders[c](v)
				}
			}
			if err := fn(out); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("parquet: read rows: %w", rerr)
		}
	}
}

// openParquet opens a file and works out its schema and how to decode the
// values of each column.
func openParquet(r io.ReaderAt, size int64) (*parquet.File, schema.Schema, []func(parquet.Value) any, error) {
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parquet: open: %w", err)
	}
	elems := f.Metadata().Schema
	if len(elems) == 0 {
		return nil, nil, nil, errors.New("parquet: file has no schema")
	}
	leaves := elems[1:]
	if n, _ := elems[0].NumChildren.Get(); int(n) != len(leaves) {
		return nil, nil, nil, errors.New("parquet: nested columns are not supported")
	}
	var hint schema.Schema
	if meta, ok := f.Lookup(parquetSchemaKey); ok {
		// A hint only: a file whose metadata does not parse still reads.
		if json.Unmarshal([]byte(meta), &hint) != nil || len(hint) != len(leaves) {
			hint = nil
		}
	}
	s := make(schema.Schema, len(leaves))
	decoders := make([]func(parquet.Value) any, len(leaves))
	for i, e := range leaves {
		if n, _ := e.NumChildren.Get(); n > 0 {
			return nil, nil, nil, fmt.Errorf("parquet: column %q: nested columns are not supported", e.Name)
		}
		if rep, _ := e.RepetitionType.Get(); rep == format.Repeated {
			return nil, nil, nil, fmt.Errorf("parquet: column %q: repeated columns are not supported", e.Name)
		}
		c, dec, err := parquetColumnOf(e)
		if err != nil {
			return nil, nil, nil, err
		}
		if hint != nil && hint[i].Name == c.Name {
			c.MySQL = hint[i].MySQL
			if hint[i].Kind == schema.Uint64 && c.Kind == schema.Decimal && c.Precision == 20 && c.Scale == 0 {
				c.Kind, c.Precision = schema.Uint64, 0
			}
		}
		s[i], decoders[i] = c, dec
	}
	return f, s, decoders, nil
}

// parquetColumnOf maps a leaf's types to a column and a decoder of its values.
func parquetColumnOf(e format.SchemaElement) (schema.Column, func(parquet.Value) any, error) {
	c := schema.Column{Name: e.Name}
	typ, ok := e.Type.Get()
	if !ok {
		return c, nil, fmt.Errorf("parquet: column %q has no type", e.Name)
	}
	unsupported := func() (schema.Column, func(parquet.Value) any, error) {
		lt := e.LogicalType.String()
		if lt == "" {
			lt = "no logical type"
		}
		return c, nil, fmt.Errorf("parquet: column %q: unsupported type %s, %s", e.Name, typ, lt)
	}
	lt := e.LogicalType.Value
	if lt == nil {
		lt = logicalOfConverted(e)
	}
	if d, ok := lt.(*format.DecimalType); ok {
		c.Kind, c.Precision, c.Scale = schema.Decimal, int(d.Precision), int(d.Scale)
		if c.Precision > schema.MaxDecimalPrecision {
			c.Kind, c.Precision, c.Scale = schema.String, 0, 0
		}
		scale := int(d.Scale)
		switch typ {
		case format.Int32:
			return c, func(v parquet.Value) any { return decimalText(strconv.FormatInt(int64(v.Int32()), 10), scale) }, nil
		case format.Int64:
			return c, func(v parquet.Value) any { return decimalText(strconv.FormatInt(v.Int64(), 10), scale) }, nil
		case format.ByteArray, format.FixedLenByteArray:
			return c, func(v parquet.Value) any { return decimalText(unscaledText(v.ByteArray()), scale) }, nil
		}
		return unsupported()
	}
	switch typ {
	case format.Int32:
		switch t := lt.(type) {
		case nil:
		case *format.DateType:
			c.Kind = schema.Date
			return c, func(v parquet.Value) any { return time.Unix(int64(v.Int32())*86400, 0).UTC() }, nil
		case *format.IntType:
			if !t.IsSigned && t.BitWidth == 32 {
				c.Kind = schema.Int64
				return c, func(v parquet.Value) any { return int64(uint32(v.Int32())) }, nil
			}
		default:
			return unsupported()
		}
		c.Kind = schema.Int32
		return c, func(v parquet.Value) any { return v.Int32() }, nil
	case format.Int64:
		switch t := lt.(type) {
		case nil:
		case *format.TimestampType:
			c.Kind = schema.Timestamp
			switch t.Unit.Value.(type) {
			case *format.MilliSeconds:
				return c, func(v parquet.Value) any { return time.UnixMilli(v.Int64()).UTC() }, nil
			case *format.MicroSeconds:
				return c, func(v parquet.Value) any { return time.UnixMicro(v.Int64()).UTC() }, nil
			case *format.NanoSeconds:
				return c, func(v parquet.Value) any { return time.Unix(0, v.Int64()).UTC() }, nil
			}
			return unsupported()
		case *format.IntType:
			if !t.IsSigned {
				c.Kind = schema.Uint64
				return c, func(v parquet.Value) any { return strconv.FormatUint(v.Uint64(), 10) }, nil
			}
		default:
			return unsupported()
		}
		c.Kind = schema.Int64
		return c, func(v parquet.Value) any { return v.Int64() }, nil
	case format.Float:
		if lt != nil {
			return unsupported()
		}
		c.Kind = schema.Float
		return c, func(v parquet.Value) any { return v.Float() }, nil
	case format.Double:
		if lt != nil {
			return unsupported()
		}
		c.Kind = schema.Double
		return c, func(v parquet.Value) any { return v.Double() }, nil
	case format.ByteArray, format.FixedLenByteArray:
		switch lt.(type) {
		case *format.StringType, *format.EnumType, *format.JsonType:
			if typ == format.ByteArray {
				c.Kind = schema.String
				return c, func(v parquet.Value) any { return string(v.ByteArray()) }, nil
			}
		case nil:
			c.Kind = schema.Binary
			return c, func(v parquet.Value) any { return append([]byte{}, v.ByteArray()...) }, nil
		}
	}
	return unsupported()
}

// logicalOfConverted maps the converted types of older writers to their
// logical types.
func logicalOfConverted(e format.SchemaElement) format.LogicalTypeValue {
	ct, ok := e.ConvertedType.Get()
	if !ok {
		return nil
	}
	switch ct {
	case deprecated.UTF8, deprecated.Enum, deprecated.Json:
		return &format.StringType{}
	case deprecated.Date:
		return &format.DateType{}
	case deprecated.TimestampMillis:
		return &format.TimestampType{IsAdjustedToUTC: true, Unit: format.TimeUnit{Value: &format.MilliSeconds{}}}
	case deprecated.TimestampMicros:
		return &format.TimestampType{IsAdjustedToUTC: true, Unit: format.TimeUnit{Value: &format.MicroSeconds{}}}
	case deprecated.Decimal:
		p, _ := e.Precision.Get()
		s, _ := e.Scale.Get()
		return &format.DecimalType{Precision: p, Scale: s}
	}
	return nil
}

// unscaledText is the decimal text of a big-endian two's complement integer.
func unscaledText(b []byte) string {
	if len(b) <= 8 {
		var u uint64
		for _, c := range b {
			u = u<<8 | uint64(c)
		}
		if len(b) > 0 && b[0]&0x80 != 0 {
			u |= ^uint64(0) << (8 * len(b)) // sign extension; a no-op at 8 bytes
		}
		return strconv.FormatInt(int64(u), 10)
	}
	n := new(big.Int).SetBytes(b)
	if b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n.String()
}

// decimalText places the point scale digits from the right of an integer's
// text: "-1234567", 2 → "-12345.67"; "5", 3 → "0.005".
func decimalText(unscaled string, scale int) string {
	if scale == 0 {
		return unscaled
	}
	sign := ""
	if strings.HasPrefix(unscaled, "-") {
		sign, unscaled = "-", unscaled[1:]
	}
	if len(unscaled) <= scale {
		unscaled = strings.Repeat("0", scale-len(unscaled)+1) + unscaled
	}
	point := len(unscaled) - scale
	return sign + unscaled[:point] + "." + unscaled[point:]
}
