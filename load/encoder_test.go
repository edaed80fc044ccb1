package load_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/schema"
)

// The encoder suite writes the same rows with every format's encoder and
// reads every value back: a format may not lose, reorder or change a value
// of any kind the encoders accept. Each format's own lossy rules (Parquet
// truncates timestamps to milliseconds and writes zero dates as NULL) are
// tested beside its encoder; the values here are the ones every format
// keeps exactly.

// encSchema holds every kind, with decimals at the precisions where the
// Parquet width changes, and a DECIMAL too wide for Athena (a string).
var encSchema = schema.Schema{
	{Name: "server", Kind: schema.String},
	{Name: "i32", Kind: schema.Int32, MySQL: "INT"},
	{Name: "i64", Kind: schema.Int64, MySQL: "BIGINT"},
	{Name: "u64", Kind: schema.Uint64, MySQL: "UNSIGNED BIGINT"},
	{Name: "f32", Kind: schema.Float, MySQL: "FLOAT"},
	{Name: "f64", Kind: schema.Double, MySQL: "DOUBLE"},
	{Name: "d9", Kind: schema.Decimal, Precision: 9, Scale: 2, MySQL: "DECIMAL"},
	{Name: "d18", Kind: schema.Decimal, Precision: 18, Scale: 4, MySQL: "DECIMAL"},
	{Name: "d20", Kind: schema.Decimal, Precision: 20, Scale: 0, MySQL: "DECIMAL"},
	{Name: "d38", Kind: schema.Decimal, Precision: 38, Scale: 10, MySQL: "DECIMAL"},
	{Name: "d65", Kind: schema.String, MySQL: "DECIMAL"},
	{Name: "day", Kind: schema.Date, MySQL: "DATE"},
	{Name: "at", Kind: schema.Timestamp, MySQL: "DATETIME"},
	{Name: "text", Kind: schema.String, MySQL: "VARCHAR"},
	{Name: "doc", Kind: schema.String, MySQL: "JSON"},
	{Name: "blob", Kind: schema.Binary, MySQL: "BLOB"},
}

// encRow builds a row from column name to text; columns not named are NULL.
func encRow(vals map[string]string) [][]byte {
	row := make([][]byte, len(encSchema))
	for name, v := range vals {
		i := encSchema.Index(name)
		if i < 0 {
			panic("encRow: no column " + name)
		}
		row[i] = []byte(v)
	}
	return row
}

// encRows are the rows every format must give back unchanged.
func encRows() (names []string, rows [][][]byte) {
	add := func(name string, vals map[string]string) {
		names = append(names, name)
		rows = append(rows, encRow(vals))
	}
	rng := rand.New(rand.NewPCG(3, 5))
	random := make([]byte, 1<<20)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}

	add("nulls", map[string]string{})
	add("zeros and empty", map[string]string{
		"server": "", "i32": "0", "i64": "0", "u64": "0", "f32": "0", "f64": "0",
		"d9": "0.00", "d18": "0.0000", "d20": "0", "d38": "0.0000000000", "d65": "0",
		"day": "1970-01-01", "at": "1970-01-01 00:00:00", "text": "", "doc": "{}", "blob": "",
	})
	add("largest", map[string]string{
		"server": "db1", "i32": "2147483647", "i64": "9223372036854775807", "u64": "18446744073709551615",
		"f32": "3.4028235e+38", "f64": "1.7976931348623157e+308",
		"d9": "9999999.99", "d18": "99999999999999.9999", "d20": "99999999999999999999",
		"d38": "9999999999999999999999999999.9999999999",
		"d65": "99999999999999999999999999999999999.999999999999999999999999999999",
		"day": "9999-12-31", "at": "9999-12-31 23:59:59.999", "text": "z", "doc": `{"a":[1,2,3]}`, "blob": string(every),
	})
	add("smallest", map[string]string{
		"server": "db1", "i32": "-2147483648", "i64": "-9223372036854775808", "u64": "1",
		"f32": "-3.4028235e+38", "f64": "-1.7976931348623157e+308",
		"d9": "-9999999.99", "d18": "-99999999999999.9999", "d20": "-99999999999999999999",
		"d38": "-9999999999999999999999999999.9999999999",
		"d65": "-99999999999999999999999999999999999.999999999999999999999999999999",
		"day": "1000-01-01", "at": "1000-01-01 00:00:00", "text": " ", "doc": "null", "blob": "\x00",
	})
	add("fractions and the epoch", map[string]string{
		"server": "db2", "i32": "-1", "i64": "1", "u64": "9223372036854775808",
		"f32": "0.1", "f64": "-2.5e-300",
		"d9": "0.01", "d18": "-0.0001", "d20": "1", "d38": "0.0000000001", "d65": "-0.5",
		"day": "1969-12-31", "at": "1969-12-31 23:59:59.999", "text": "1.5", "doc": `"x"`, "blob": "\xff",
	})
	add("after 2038", map[string]string{
		"server": "db2", "i32": "2038", "i64": "2147483648", "u64": "4294967296",
		"f32": "1e-45", "f64": "4.9e-324",
		"d9": "1234567.89", "d18": "12345678901234.5678", "d20": "12345678901234567890",
		"d38": "1234567890123456789012345678.1234567890", "d65": "1e10",
		"day": "2038-01-20", "at": "2038-01-19 03:14:08.001", "text": "2038", "doc": "[]", "blob": "2038",
	})
	add("unicode", map[string]string{
		"server": "サーバー", "text": "日本語 🍣🍺 e\u0301 שלום 👨\u200d👩\u200d👧 \u2028 Ωmega",
		"doc": `{"名前":"太郎","emoji":"🎉"}`, "blob": "\xff\xfe\x00 not UTF-8 \xc3\x28",
	})
	add("csv specials", map[string]string{
		"server": `"`, "text": "a,b \"quoted\" \n line \r\n crlf \r cr", "doc": `""`,
		"d65": " padded ", "blob": "\n,\"\r", "day": "2000-02-29", "at": "2000-02-29 12:00:00.5",
	})
	add("null look-alikes", map[string]string{
		"server": "NULL", "text": `\N`, "doc": "null", "d65": "", "blob": "NULL",
	})
	add("leading and trailing blanks", map[string]string{
		"server": "\ttab", "text": "trailing ", "doc": " leading", "blob": " ",
	})
	add("large values", map[string]string{
		"server": "db3", "text": strings.Repeat("長い値 long value, \"quoted\"\n", 40_000),
		"doc": `{"k":"` + strings.Repeat("x", 1<<20) + `"}`, "blob": string(random),
	})
	// Enough rows for several Parquet batches, pages and gzip blocks.
	for i := range 3000 {
		add(fmt.Sprintf("row %d", i), map[string]string{
			"server": "db" + strconv.Itoa(i%7), "i32": strconv.Itoa(i - 1500), "i64": strconv.Itoa(i * 1_000_003),
			"u64": strconv.Itoa(i), "f64": strconv.Itoa(i) + ".25", "d9": strconv.Itoa(i) + ".50",
			"day":  time.Date(2020, 1, 1+i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly),
			"at":   time.UnixMilli(int64(i) * 86_399_999).UTC().Format("2006-01-02 15:04:05.000"),
			"text": strings.Repeat("v", i%50),
		})
	}
	return names, rows
}

// TestEncoders runs the encoder suite over every format.
func TestEncoders(t *testing.T) {
	names, rows := encRows()
	want := make([][]any, len(rows))
	for i, row := range rows {
		v, err := textValues(encSchema, row)
		if err != nil {
			t.Fatalf("row %q: %v", names[i], err)
		}
		want[i] = v
	}
	// How each format's file is read back; a format missing here fails the
	// suite, so a new format cannot go untested.
	readers := map[schema.Format]func(t *testing.T, file []byte) [][]any{
		schema.CSV:     func(t *testing.T, file []byte) [][]any { return readCSVValues(t, file, names, rows) },
		schema.CSVGzip: func(t *testing.T, file []byte) [][]any { return readCSVValues(t, gunzip(t, file), names, rows) },
		schema.Parquet: readParquetValues,
	}
	for _, f := range schema.Formats() {
		t.Run(string(f), func(t *testing.T) {
			read, ok := readers[f]
			if !ok {
				t.Fatalf("the encoder suite cannot read %s files: add a reader", f)
			}
			var buf bytes.Buffer
			enc, err := load.NewEncoder(f, &buf, encSchema)
			if err != nil {
				t.Fatal(err)
			}
			for i, row := range rows {
				if err := enc.Write(row); err != nil {
					t.Fatalf("Write row %q: %v", names[i], err)
				}
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			got := read(t, buf.Bytes())
			if len(got) != len(want) {
				t.Fatalf("read %d rows, wrote %d", len(got), len(want))
			}
			failed := 0
			for i := range want {
				for j, c := range encSchema {
					if !sameValue(got[i][j], want[i][j]) && failed < 20 {
						failed++
						t.Errorf("row %q, column %s: got %s, want %s", names[i], c.Name, short(got[i][j]), short(want[i][j]))
					}
				}
			}
		})
	}
}

// textValues decodes a row of MySQL text by kind into the Go values that
// ReadParquetRows documents, with the standard library's parsers rather
// than the encoders' own.
func textValues(s schema.Schema, row [][]byte) ([]any, error) {
	out := make([]any, len(s))
	for i, c := range s {
		v := row[i]
		if v == nil {
			continue
		}
		var err error
		switch c.Kind {
		case schema.Int32:
			var n int64
			n, err = strconv.ParseInt(string(v), 10, 32)
			out[i] = int32(n)
		case schema.Int64:
			out[i], err = strconv.ParseInt(string(v), 10, 64)
		case schema.Float:
			var f float64
			f, err = strconv.ParseFloat(string(v), 32)
			out[i] = float32(f)
		case schema.Double:
			out[i], err = strconv.ParseFloat(string(v), 64)
		case schema.Uint64, schema.Decimal, schema.String:
			out[i] = string(v)
		case schema.Date:
			out[i], err = time.Parse(time.DateOnly, string(v))
		case schema.Timestamp:
			out[i], err = time.Parse(time.DateTime, string(v)) // takes a fraction too
		case schema.Binary:
			out[i] = bytes.Clone(v)
		default:
			err = fmt.Errorf("kind %s not in the suite", c.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
	}
	return out, nil
}

// sameValue compares decoded values: times by instant and zone, the rest
// deeply.
func sameValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb) && ta.Location() == tb.Location()
	}
	return reflect.DeepEqual(a, b)
}

func readParquetValues(t *testing.T, file []byte) [][]any {
	t.Helper()
	s, n, err := load.ReadParquetSchema(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Equal(encSchema) {
		t.Errorf("schema read back differs: %s", encSchema.Diff(s))
	}
	var rows [][]any
	err = load.ReadParquetRows(bytes.NewReader(file), int64(len(file)), func(row []any) error {
		rows = append(rows, append([]any(nil), row...))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(rows)) {
		t.Errorf("footer says %d rows, read %d", n, len(rows))
	}
	return rows
}

// readCSVValues parses a CSV file strictly, checks its header and that
// every field is the text written, byte for byte (CSV keeps MySQL's text
// as it is; binary values are base64), and decodes the fields by kind.
func readCSVValues(t *testing.T, file []byte, names []string, wrote [][][]byte) [][]any {
	t.Helper()
	recs, err := parseCSV(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		t.Fatal("no header")
	}
	var header []string
	for _, f := range recs[0] {
		header = append(header, string(f))
	}
	if !reflect.DeepEqual(header, encSchema.Names()) {
		t.Errorf("header %q, want %q", header, encSchema.Names())
	}
	var out [][]any
	for i, rec := range recs[1:] {
		if len(rec) != len(encSchema) || i >= len(wrote) {
			t.Fatalf("record %d has %d fields, want %d, or is one too many", i, len(rec), len(encSchema))
		}
		for j, f := range rec {
			if encSchema[j].Kind == schema.Binary && f != nil {
				b, err := base64.StdEncoding.DecodeString(string(f))
				if err != nil {
					t.Fatalf("row %q, column %s: %v", names[i], encSchema[j].Name, err)
				}
				rec[j] = b
				f = b
			}
			if (f == nil) != (wrote[i][j] == nil) || !bytes.Equal(f, wrote[i][j]) {
				t.Errorf("row %q, column %s: text %s, want %s", names[i], encSchema[j].Name, short(f), short(wrote[i][j]))
			}
		}
		v, err := textValues(encSchema, rec)
		if err != nil {
			t.Fatalf("row %q: %v", names[i], err)
		}
		out = append(out, v)
	}
	return out
}

// parseCSV reads RFC 4180 as mallet writes it, keeping apart what
// encoding/csv merges: an unquoted empty field is NULL (nil), a quoted
// one the empty string, and a quoted "\r\n" stays as written. Records end
// with "\n"; an unquoted field may not hold a quote, CR or LF.
func parseCSV(b []byte) ([][][]byte, error) {
	var recs [][][]byte
	var rec [][]byte
	for len(b) > 0 {
		var field []byte
		if b[0] == '"' {
			field = []byte{}
			b = b[1:]
			for {
				i := bytes.IndexByte(b, '"')
				if i < 0 {
					return nil, errors.New("csv: unterminated quoted field")
				}
				field = append(field, b[:i]...)
				b = b[i+1:]
				if len(b) > 0 && b[0] == '"' {
					field = append(field, '"')
					b = b[1:]
					continue
				}
				break
			}
		} else {
			i := bytes.IndexAny(b, ",\n")
			if i < 0 {
				return nil, errors.New("csv: last record has no line end")
			}
			if i > 0 {
				field = b[:i:i]
			}
			if bytes.ContainsAny(field, "\"\r") {
				return nil, fmt.Errorf("csv: unquoted field %q holds a quote or CR", field)
			}
			b = b[i:]
		}
		rec = append(rec, field)
		if len(b) == 0 {
			return nil, errors.New("csv: last record has no line end")
		}
		switch b[0] {
		case ',':
			b = b[1:]
		case '\n':
			recs, rec = append(recs, rec), nil
			b = b[1:]
		default:
			return nil, fmt.Errorf("csv: %q after a quoted field", b[0])
		}
	}
	return recs, nil
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// short prints a value for a failure message, cut to 60 bytes.
func short(v any) string {
	s := fmt.Sprintf("%#v", v)
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}
