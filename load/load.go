// Package load writes rows to files and files to stores: the CSV and Parquet
// encoders, the Store interface with its local-folder and S3
// implementations, and Upload, which streams rows through an encoder into a
// store object (counting and hashing the bytes once on the way).
//
// Rows reach an encoder as [][]byte in the text form MySQL's text protocol
// uses (see package schema for the kinds), with a nil slice for NULL. The
// caller may reuse the slices after Write returns; an encoder copies what it
// keeps.
package load

import (
	"fmt"
	"io"

	"github.com/mallet-etl/mallet/schema"
)

// Format is an output file format.
type Format string

// The formats mallet writes.
const (
	Parquet Format = "parquet"
	CSV     Format = "csv"
	CSVGzip Format = "csv.gz"
)

// ParseFormat checks a format name from the config.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Parquet, CSV, CSVGzip:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want parquet, csv or csv.gz)", s)
}

// Ext is the file name extension, without the dot.
func (f Format) Ext() string { return string(f) }

// Encoder writes rows of one schema to a stream. Close writes what remains
// (a Parquet footer, a gzip trailer) but does not close the underlying writer.
type Encoder interface {
	Write(row [][]byte) error
	Close() error
}

// NewEncoder returns an encoder of the format writing to w.
func NewEncoder(f Format, w io.Writer, s schema.Schema) (Encoder, error) {
	switch f {
	case Parquet:
		p, err := NewParquetWriter(w, s, ParquetOptions{})
		if err != nil {
			return nil, err
		}
		return p, nil
	case CSV, CSVGzip:
		c, err := NewCSVWriter(w, s, f == CSVGzip)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, fmt.Errorf("load: unknown format %q", f)
}
