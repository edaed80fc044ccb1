package load

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/mallet-etl/mallet/schema"
)

// CSVWriter encodes rows as RFC 4180 CSV: UTF-8 without a byte-order mark,
// a header row, CRLF-free "\n" line ends, fields quoted only when they hold a
// comma, a quote, a line break or leading/trailing space. NULL is an empty
// field; an empty string is written as "" so the two stay apart. Binary
// columns are written as the raw bytes, quoted where needed.
type CSVWriter struct {
	gz   *gzip.Writer
	w    *bufio.Writer
	buf  []byte
	rows int64
	cols int
}

var _ Encoder = (*CSVWriter)(nil)

// NewCSVWriter writes the header row of s to w and returns a writer for the
// rows, gzip-compressed when gz is true.
func NewCSVWriter(w io.Writer, s schema.Schema, gz bool) (*CSVWriter, error) {
	c := &CSVWriter{cols: len(s)}
	if gz {
		c.gz = gzip.NewWriter(w)
		w = c.gz
	}
	c.w = bufio.NewWriterSize(w, 64<<10)
	header := make([][]byte, len(s))
	for i, col := range s {
		header[i] = []byte(col.Name)
	}
	if err := c.writeRecord(header); err != nil {
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
	b := c.buf[:0]
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCSVField(b, v)
	}
	b = append(b, '\n')
	c.buf = b
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

func csvNeedsQuotes(v []byte) bool {
	if len(v) == 0 {
		return true // empty string, distinct from NULL
	}
	if v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t' {
		return true
	}
	return bytes.ContainsAny(v, ",\"\n\r")
}

// Rows returns the number of data rows written.
func (c *CSVWriter) Rows() int64 { return c.rows }

// Close flushes buffered rows and, for gzip, the trailer.
func (c *CSVWriter) Close() error {
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("csv: flush: %w", err)
	}
	if c.gz != nil {
		if err := c.gz.Close(); err != nil {
			return fmt.Errorf("csv: gzip close: %w", err)
		}
	}
	return nil
}
