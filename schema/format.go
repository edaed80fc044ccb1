package schema

import (
	"fmt"
	"slices"
	"strings"
)

// Format is an output file format: how a dataset of a Schema is written.
// It lives here, beside the column mapping, so that the config, the
// encoders in package load and the Athena DDL share one type without the
// DDL depending on the encoders and their storage clients.
type Format string

// The formats mallet writes. A new one must be added to formats, and every
// switch over formats (the encoders, the Athena table definition) must say
// how it is written and read; their tests walk Formats().
const (
	Parquet Format = "parquet"
	CSV     Format = "csv"
	CSVGzip Format = "csv.gz"
)

var formats = []Format{Parquet, CSV, CSVGzip}

// Formats returns every format mallet writes, in a new slice.
func Formats() []Format { return slices.Clone(formats) }

// ParseFormat checks a format name from the config; the error names the
// formats there are.
func ParseFormat(s string) (Format, error) {
	if f := Format(s); slices.Contains(formats, f) {
		return f, nil
	}
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	last := len(names) - 1
	return "", fmt.Errorf("unknown format %q (want %s or %s)", s, strings.Join(names[:last], ", "), names[last])
}

// Ext is the file name extension, without the dot.
func (f Format) Ext() string { return string(f) }
