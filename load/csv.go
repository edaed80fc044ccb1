package load

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"

	"github.com/mallet-etl/mallet/schema"
)

// CSVWriter encodes rows as RFC 4180 CSV: UTF-8 without a byte-order mark,
// a header row, CRLF-free "\n" line ends, fields quoted only when they hold a
// comma, a quote, a line break or leading/trailing space. NULL is an empty
// field; an empty string is written as "" so the two stay apart. Binary
// columns are written as the raw bytes, quoted where needed.
type CSVWriter struct {
	w    *bufio.Writer
	rows int64
	cols int

	// csv.gz: rows are gzipped on a goroutine of their own, fed through a
	// bounded pipe, so that compressing (the costliest step) runs beside
	// the extraction instead of after it on the same core.
	gzPipe *PipeWriter
	gzDone chan error
	closed bool
	err    error
}

var _ Encoder = (*CSVWriter)(nil)

// NewCSVWriter writes the header row of s to w and returns a writer for the
// rows, gzip-compressed when gz is true. With gz, the writer owns a
// goroutine until Close, which must be called even after an error.
func NewCSVWriter(w io.Writer, s schema.Schema, gz bool) (*CSVWriter, error) {
	c := &CSVWriter{cols: len(s)}
	if gz {
		pr, pw := Pipe(256<<10, 4)
		c.gzPipe, c.gzDone = pw, make(chan error, 1)
		zw := gzip.NewWriter(w)
		go func() {
			_, err := pr.WriteTo(zw)
			if err == nil {
				err = zw.Close()
			}
			pr.CloseWithError(err) // a failed write stops the writer too
			c.gzDone <- err
		}()
		w = pw
	}
	c.w = bufio.NewWriterSize(w, 64<<10)
	header := make([][]byte, len(s))
	for i, col := range s {
		header[i] = []byte(col.Name)
	}
	if err := c.writeRecord(header); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Write encodes one row.
func (c *CSVWriter) Write(row [][]byte) error {
	if len(row) != c.cols {
		return fmt.Errorf("csv: row has %d values, schema has %d columns", len(row), c.cols)
	}
	c.rows++
	return c.writeRecord(row)
}

func (c *CSVWriter) writeRecord(row [][]byte) error {
	// Encode straight into bufio's free space; append moves b elsewhere
	// only for a record longer than that, which Write then copies.
	b := c.w.AvailableBuffer()
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCSVField(b, v)
	}
	b = append(b, '\n')
	if _, err := c.w.Write(b); err != nil {
		return fmt.Errorf("csv: write: %w", err)
	}
	return nil
}

// appendCSVField appends v as one CSV field.
func appendCSVField(b, v []byte) []byte {
	if v == nil {
		return b
	}
	if !csvNeedsQuotes(v) {
		return append(b, v...)
	}
	b = append(b, '"')
	for {
		i := bytes.IndexByte(v, '"')
		if i < 0 {
			break
		}
		b = append(b, v[:i+1]...)
		b = append(b, '"')
		v = v[i+1:]
	}
	b = append(b, v...)
	return append(b, '"')
}

// csvSpecial marks the bytes that make a field need quotes.
var csvSpecial = [256]bool{',': true, '"': true, '\n': true, '\r': true}

func csvNeedsQuotes(v []byte) bool {
	if len(v) == 0 {
		return true // empty string, distinct from NULL
	}
	if v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t' {
		return true
	}
	// A table lookup per byte: bytes.ContainsAny builds its byte set on
	// every call, which showed in the profile.
	for _, x := range v {
		if csvSpecial[x] {
			return true
		}
	}
	return false
}

// Rows returns the number of data rows written.
func (c *CSVWriter) Rows() int64 { return c.rows }

// Close flushes buffered rows and, for gzip, the trailer, and ends the
// gzip goroutine. Later calls return the first call's result.
func (c *CSVWriter) Close() error {
	if c.closed {
		return c.err
	}
	c.closed = true
	if err := c.w.Flush(); err != nil {
		c.err = fmt.Errorf("csv: flush: %w", err)
	}
	if c.gzPipe != nil {
		c.gzPipe.CloseWithError(c.err)
		if err := <-c.gzDone; err != nil && c.err == nil {
			c.err = fmt.Errorf("csv: gzip: %w", err)
		}
	}
	return c.err
}
