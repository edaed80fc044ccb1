package load

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"

	"github.com/mallet-etl/mallet/schema"
)

// CSVWriter encodes rows as RFC 4180 CSV: UTF-8 without a byte-order mark,
// a header row, CRLF-free "\n" line ends, fields quoted only when they hold a
// comma, a quote, a line break or leading/trailing space. NULL is an empty
// field; an empty string is written as "" so the two stay apart. Binary
// columns are written as standard base64 (RFC 4648, padded), so that the
// file stays UTF-8 text whatever the bytes: Athena's from_base64 and
// DuckDB's from_base64 give the bytes back. Text values must be UTF-8
// already (package extract sees to it).
type CSVWriter struct {
	w      *bufio.Writer
	rows   int64
	cols   int
	binary []bool // by column: base64-encode the value

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
	c := &CSVWriter{cols: len(s), binary: make([]bool, len(s))}
	for i, col := range s {
		c.binary[i] = col.Kind == schema.Binary
	}
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
	if err := c.writeRecord(header, nil); err != nil {
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
	return c.writeRecord(row, c.binary)
}

// writeRecord writes one record; binary, when not nil, marks the fields to
// base64-encode.
func (c *CSVWriter) writeRecord(row [][]byte, binary []bool) error {
	// Encode straight into bufio's free space; append moves b elsewhere
	// only for a record longer than that, which Write then copies.
	b := c.w.AvailableBuffer()
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case binary != nil && binary[i] && len(v) > 0:
			// The base64 alphabet holds nothing that needs quotes.
			b = base64.StdEncoding.AppendEncode(b, v)
		default:
			b = appendCSVField(b, v)
		}
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
