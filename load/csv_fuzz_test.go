package load_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/schema"
)

// FuzzCSV encodes random rows with NewCSVWriter and reads them back with
// encoding/csv: every field must come back equal, modulo the ambiguities
// the CSV format documents:
//   - NULL and the empty string both read back as "" (mallet writes NULL
//     as an empty field and "" quoted, which encoding/csv does not keep
//     apart);
//   - "\r\n" inside a quoted field reads back as "\n" (encoding/csv
//     normalizes it);
//   - a row of a single NULL column is an empty line, which encoding/csv
//     skips (mallet's rows always start with the server and database
//     columns, so it never writes one).
//
// Every second column is binary: its bytes, whatever they are, must read
// back as their base64, and the file must be valid UTF-8 whenever the text
// fields are.
//
// The input is the column count, gzip or not, a bit mask of NULL fields
// and the fields' bytes separated by NUL.
func FuzzCSV(f *testing.F) {
	f.Add(uint8(3), false, uint64(0), []byte("a\x00b\x00c"))
	f.Add(uint8(2), true, uint64(0), []byte("x\x00\xff\xfe\r\n\",\x00\x00"))
	f.Fuzz(func(t *testing.T, ncols uint8, gz bool, nulls uint64, data []byte) {
		cols := int(ncols%8) + 1
		fields := bytes.Split(data, []byte{0})
		var s schema.Schema
		for i := range cols {
			kind := schema.String
			if i%2 == 1 {
				kind = schema.Binary
			}
			s = append(s, schema.Column{Name: fmt.Sprintf("c%d", i), Kind: kind})
		}
		textValid := true
		var rows [][][]byte
		for i := 0; i+cols <= len(fields); i += cols {
			row := make([][]byte, cols)
			for j := range cols {
				if k := i + j; k < 64 && nulls&(1<<k) != 0 {
					continue // NULL
				}
				row[j] = fields[i+j]
				if s[j].Kind == schema.String && !utf8.Valid(row[j]) {
					textValid = false
				}
			}
			rows = append(rows, row)
		}
		var buf bytes.Buffer
		w, err := load.NewCSVWriter(&buf, s, gz)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			if err := w.Write(row); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		var r io.Reader = &buf
		if gz {
			zr, err := gzip.NewReader(&buf)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		raw, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if textValid && !utf8.Valid(raw) {
			t.Fatalf("the file is not UTF-8, though every text field is:\n%q", raw)
		}
		if bytes.Contains(raw, []byte("\r\n")) && !bytes.Contains(data, []byte("\r\n")) {
			t.Fatalf("CRLF line end written:\n%q", raw)
		}
		recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
		if err != nil {
			t.Fatalf("encoding/csv: %v\n%q", err, raw)
		}
		if len(recs) == 0 || strings.Join(recs[0], ",") != strings.Join(s.Names(), ",") {
			t.Fatalf("header %q, want %v", recs, s.Names())
		}
		var want [][]string
		for _, row := range rows {
			if cols == 1 && row[0] == nil {
				continue // an empty line: skipped by encoding/csv
			}
			rec := make([]string, cols)
			for j, v := range row {
				if s[j].Kind == schema.Binary {
					rec[j] = base64.StdEncoding.EncodeToString(v)
					continue
				}
				rec[j] = strings.ReplaceAll(string(v), "\r\n", "\n")
			}
			want = append(want, rec)
		}
		got := recs[1:]
		if len(got) != len(want) {
			t.Fatalf("read %d rows, wrote %d:\n%q", len(got), len(want), raw)
		}
		for i := range want {
			for j := range want[i] {
				if got[i][j] != want[i][j] {
					t.Fatalf("row %d column %d: got %q, want %q\n%q", i, j, got[i][j], want[i][j], raw)
				}
			}
		}
	})
}
