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

// Encoder writes rows of one schema to a stream. Close writes what remains
// (a Parquet footer, a gzip trailer) but does not close the underlying writer.
type Encoder interface {
	Write(row [][]byte) error
	Close() error
}

// NewEncoder returns an encoder of the format writing to w.
func NewEncoder(f schema.Format, w io.Writer, s schema.Schema) (Encoder, error) {
	switch f {
	case schema.Parquet:
		p, err := NewParquetWriter(w, s, ParquetOptions{})
		if err != nil {
			return nil, err
		}
		return p, nil
	case schema.CSV, schema.CSVGzip:
		c, err := NewCSVWriter(w, s, f == schema.CSVGzip)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, fmt.Errorf("load: unknown format %q", f)
}
