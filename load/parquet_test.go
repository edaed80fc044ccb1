package load

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/mallet-etl/mallet/schema"
)

// pqAllKinds has every kind, in an order that is not alphabetical.
var pqAllKinds = schema.Schema{
	{Name: "zeta", Kind: schema.Int32, MySQL: "INT"},
	{Name: "alpha", Kind: schema.Int64, MySQL: "BIGINT"},
	{Name: "mid", Kind: schema.Uint64, MySQL: "UNSIGNED BIGINT"},
	{Name: "f32", Kind: schema.Float, MySQL: "FLOAT"},
	{Name: "f64", Kind: schema.Double, MySQL: "DOUBLE"},
	{Name: "d38", Kind: schema.Decimal, Precision: 38, Scale: 10, MySQL: "DECIMAL"},
	{Name: "money", Kind: schema.Decimal, Precision: 12, Scale: 2, MySQL: "DECIMAL"},
	{Name: "d20", Kind: schema.Decimal, Precision: 20, Scale: 0, MySQL: "DECIMAL"},
	{Name: "day", Kind: schema.Date, MySQL: "DATE"},
	{Name: "at", Kind: schema.Timestamp, MySQL: "DATETIME"},
	{Name: "text", Kind: schema.String, MySQL: "VARCHAR"},
	{Name: "blob", Kind: schema.Binary, MySQL: "BLOB"},
	{Name: "a,b", Kind: schema.String}, // a comma breaks parquet-go's struct types
}

// pqRow turns strings into a row; nil stays NULL.
func pqRow(vals ...any) [][]byte {
	row := make([][]byte, len(vals))
	for i, v := range vals {
		switch v := v.(type) {
		case string:
			row[i] = []byte(v)
		case []byte:
			row[i] = v
		case nil:
		default:
			panic(fmt.Sprintf("pqRow: %T", v))
		}
	}
	return row
}

func pqTime(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05.999999999", s)
	if err != nil {
		panic(err)
	}
	return t
}

// pqWrite writes rows to a file and returns it.
func pqWrite(t testing.TB, s schema.Schema, o ParquetOptions, rows ...[][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewParquetWriter(&buf, s, o)
	if err != nil {
		t.Fatalf("NewParquetWriter: %v", err)
	}
	for i, row := range rows {
		if err := w.Write(row); err != nil {
			t.Fatalf("Write row %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, want := w.Rows(), int64(len(rows)); got != want {
		t.Errorf("Rows() = %d, want %d", got, want)
	}
	return buf.Bytes()
}

// pqReadAll reads every row of a file.
func pqReadAll(t testing.TB, file []byte) [][]any {
	t.Helper()
	var rows [][]any
	err := ReadParquetRows(bytes.NewReader(file), int64(len(file)), func(row []any) error {
		rows = append(rows, append([]any(nil), row...))
		return nil
	})
	if err != nil {
		t.Fatalf("ReadParquetRows: %v", err)
	}
	return rows
}

func pqEqual(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb) && ta.Location() == tb.Location()
	}
	if fa, ok := a.(float32); ok && math.IsNaN(float64(fa)) {
		fb, ok := b.(float32)
		return ok && math.IsNaN(float64(fb))
	}
	return reflect.DeepEqual(a, b)
}

func TestParquetRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   [][]byte
		want []any
	}{
		{
			name: "nulls",
			in:   make([][]byte, len(pqAllKinds)),
			want: make([]any, len(pqAllKinds)),
		},
		{
			name: "max",
			in: pqRow("2147483647", "9223372036854775807", "18446744073709551615", "3.40282e38",
				"1.7976931348623157e308", "9999999999999999999999999999.9999999999", "9999999999.99",
				"99999999999999999999", "9999-12-31", "9999-12-31 23:59:59.999999", "🍣🍺 emoji",
				[]byte{0x00, 0xff, 0x00, 0x80}, "x,y"),
			want: []any{int32(math.MaxInt32), int64(math.MaxInt64), "18446744073709551615", float32(3.40282e38),
				math.MaxFloat64, "9999999999999999999999999999.9999999999", "9999999999.99",
				"99999999999999999999", pqTime("9999-12-31 00:00:00"), pqTime("9999-12-31 23:59:59.999"), "🍣🍺 emoji",
				[]byte{0x00, 0xff, 0x00, 0x80}, "x,y"},
		},
		{
			name: "min",
			in: pqRow("-2147483648", "-9223372036854775808", "0", "-3.4e38", "1e-10",
				"-9999999999999999999999999999.9999999999", "-9999999999.99", "-99999999999999999999",
				"0001-01-01", "1000-01-01 00:00:00", "日本語のテキスト", []byte{}, ""),
			want: []any{int32(math.MinInt32), int64(math.MinInt64), "0", float32(-3.4e38), 1e-10,
				"-9999999999999999999999999999.9999999999", "-9999999999.99", "-99999999999999999999",
				pqTime("0001-01-01 00:00:00"), pqTime("1000-01-01 00:00:00"), "日本語のテキスト", []byte{}, ""},
		},
		{
			name: "small and padded",
			in: pqRow("-12", "42", "1", "1.5", "-2.5e-300", "-0.0000000001", "-12345.67", "-1",
				"2006-01-02", "2006-01-02 15:04:05.123456", "ｶﾀｶﾅ", []byte("\x00"), "日本"),
			want: []any{int32(-12), int64(42), "1", float32(1.5), -2.5e-300, "-0.0000000001", "-12345.67", "-1",
				pqTime("2006-01-02 00:00:00"), pqTime("2006-01-02 15:04:05.123"), "ｶﾀｶﾅ", []byte{0}, "日本"},
		},
		{
			name: "fewer fraction digits than the scale",
			in: pqRow("0", "-0", "18446744073709551614", "0", "0", "1.5", "-0.5", "0",
				"2024-02-29", "2024-02-29 12:00:00", "a", []byte("b"), nil),
			want: []any{int32(0), int64(0), "18446744073709551614", float32(0), float64(0), "1.5000000000", "-0.50", "0",
				pqTime("2024-02-29 00:00:00"), pqTime("2024-02-29 12:00:00"), "a", []byte("b"), nil},
		},
		{
			name: "before the epoch",
			in: pqRow(nil, nil, nil, nil, nil, "0.05", "0.05", nil,
				"1969-12-31", "1969-12-31 23:59:59.9", nil, nil, nil),
			want: []any{nil, nil, nil, nil, nil, "0.0500000000", "0.05", nil,
				pqTime("1969-12-31 00:00:00"), pqTime("1969-12-31 23:59:59.9"), nil, nil, nil},
		},
		{
			name: "zero dates are null",
			in: pqRow(nil, nil, nil, nil, nil, nil, nil, nil,
				"0000-00-00", "0000-00-00 00:00:00", nil, nil, nil),
			want: make([]any, len(pqAllKinds)),
		},
		{
			name: "partial zero dates are null",
			in: pqRow(nil, nil, nil, nil, nil, nil, nil, nil,
				"2020-00-15", "2020-05-00 10:00:00.5", nil, nil, nil),
			want: make([]any, len(pqAllKinds)),
		},
	}
	var in [][][]byte
	for _, tt := range tests {
		in = append(in, tt.in)
	}
	file := pqWrite(t, pqAllKinds, ParquetOptions{}, in...)
	got := pqReadAll(t, file)
	if len(got) != len(tests) {
		t.Fatalf("read %d rows, want %d", len(got), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for j, c := range pqAllKinds {
				if !pqEqual(got[i][j], tt.want[j]) {
					t.Errorf("%s: got %#v (%T), want %#v (%T)", c.Name, got[i][j], got[i][j], tt.want[j], tt.want[j])
				}
			}
		})
	}

	s, rows, err := ReadParquetSchema(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatalf("ReadParquetSchema: %v", err)
	}
	if rows != int64(len(tests)) {
		t.Errorf("ReadParquetSchema rows: got %d, want %d", rows, len(tests))
	}
	if !s.Equal(pqAllKinds) {
		t.Errorf("ReadParquetSchema: got %+v, want %+v; diff: %s", s, pqAllKinds, pqAllKinds.Diff(s))
	}
	for i := range s {
		if s[i].MySQL != pqAllKinds[i].MySQL {
			t.Errorf("column %q MySQL type: got %q, want %q", s[i].Name, s[i].MySQL, pqAllKinds[i].MySQL)
		}
	}
}

// The reader derives kinds from the file's types; without mallet's metadata,
// DECIMAL(20,0) can only be a Decimal.
func TestParquetSchemaWithoutMetadata(t *testing.T) {
	file := pqWrite(t, pqAllKinds, ParquetOptions{}, make([][]byte, len(pqAllKinds)))
	f, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range f.Metadata().Schema[1:] {
		got, _, err := parquetColumnOf(e)
		if err != nil {
			t.Fatalf("column %q: %v", e.Name, err)
		}
		want := pqAllKinds[i]
		want.MySQL = ""
		if want.Kind == schema.Uint64 {
			want.Kind, want.Precision = schema.Decimal, 20
		}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
}

func TestParquetFileTypes(t *testing.T) {
	file := pqWrite(t, pqAllKinds, ParquetOptions{}, pqRow("1", "1", "1", "1", "1", "1", "1", "1",
		"2000-01-01", "2000-01-01 00:00:00", "x", "y", "z"))
	f, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	millis := &format.TimestampType{IsAdjustedToUTC: true, Unit: format.TimeUnit{Value: &format.MilliSeconds{}}}
	tests := []struct {
		name    string
		typ     format.Type
		length  int32 // FIXED_LEN_BYTE_ARRAY only
		logical format.LogicalTypeValue
	}{
		{"zeta", format.Int32, 0, &format.IntType{BitWidth: 32, IsSigned: true}},
		{"alpha", format.Int64, 0, &format.IntType{BitWidth: 64, IsSigned: true}},
		{"mid", format.FixedLenByteArray, 9, &format.DecimalType{Precision: 20, Scale: 0}},
		{"f32", format.Float, 0, nil},
		{"f64", format.Double, 0, nil},
		{"d38", format.FixedLenByteArray, 16, &format.DecimalType{Precision: 38, Scale: 10}},
		{"money", format.FixedLenByteArray, 6, &format.DecimalType{Precision: 12, Scale: 2}},
		{"d20", format.FixedLenByteArray, 9, &format.DecimalType{Precision: 20, Scale: 0}},
		{"day", format.Int32, 0, &format.DateType{}},
		{"at", format.Int64, 0, millis},
		{"text", format.ByteArray, 0, &format.StringType{}},
		{"blob", format.ByteArray, 0, nil},
		{"a,b", format.ByteArray, 0, &format.StringType{}},
	}
	md := f.Metadata()
	if got, want := len(md.Schema), len(tests)+1; got != want {
		t.Fatalf("schema elements: got %d, want %d", got, want)
	}
	if n, _ := md.Schema[0].NumChildren.Get(); n != int32(len(tests)) {
		t.Errorf("root children: got %d, want %d", n, len(tests))
	}
	for i, tt := range tests {
		e := md.Schema[i+1]
		t.Run(tt.name, func(t *testing.T) {
			if e.Name != tt.name {
				t.Errorf("column %d: got %q, want %q", i, e.Name, tt.name)
			}
			if typ, _ := e.Type.Get(); typ != tt.typ {
				t.Errorf("physical type: got %s, want %s", typ, tt.typ)
			}
			if n, ok := e.TypeLength.Get(); tt.length != 0 && (!ok || n != tt.length) {
				t.Errorf("type length: got %d, want %d", n, tt.length)
			}
			if rep, _ := e.RepetitionType.Get(); rep != format.Optional {
				t.Errorf("repetition: got %s, want OPTIONAL", rep)
			}
			if !reflect.DeepEqual(e.LogicalType.Value, tt.logical) {
				t.Errorf("logical type: got %v, want %v", &e.LogicalType, tt.logical)
			}
			if d, ok := tt.logical.(*format.DecimalType); ok {
				// The converted type and its fields, for readers older than
				// logical types (Hive).
				p, _ := e.Precision.Get()
				s, _ := e.Scale.Get()
				if p != d.Precision || s != d.Scale {
					t.Errorf("precision, scale fields: got %d,%d, want %d,%d", p, s, d.Precision, d.Scale)
				}
			}
		})
	}

	if v, _ := f.Lookup("writer"); v != "mallet" {
		t.Errorf(`metadata "writer": got %q, want "mallet"`, v)
	}
	for _, rg := range md.RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != format.Zstd {
				t.Errorf("column %v codec: got %s, want ZSTD", c.MetaData.PathInSchema, c.MetaData.Codec)
			}
			for _, enc := range c.MetaData.Encoding {
				if enc != format.Plain && enc != format.RLE {
					t.Errorf("column %v encoding %s, want PLAIN and RLE only", c.MetaData.PathInSchema, enc)
				}
			}
		}
	}
}

func TestParquetCompression(t *testing.T) {
	tests := []struct {
		name string
		want format.CompressionCodec
	}{
		{"", format.Zstd},
		{"zstd", format.Zstd},
		{"snappy", format.Snappy},
		{"gzip", format.Gzip},
		{"none", format.Uncompressed},
	}
	s := schema.Schema{{Name: "s", Kind: schema.String}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := pqWrite(t, s, ParquetOptions{Compression: tt.name}, pqRow("hello"), pqRow(nil))
			f, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Metadata().RowGroups[0].Columns[0].MetaData.Codec; got != tt.want {
				t.Errorf("codec: got %s, want %s", got, tt.want)
			}
			rows := pqReadAll(t, file)
			if len(rows) != 2 || rows[0][0] != "hello" || rows[1][0] != nil {
				t.Errorf("rows: got %v, want [[hello] [<nil>]]", rows)
			}
		})
	}
}

func TestParquetRowGroups(t *testing.T) {
	s := schema.Schema{
		{Name: "id", Kind: schema.Int64},
		{Name: "pad", Kind: schema.String},
		{Name: "amount", Kind: schema.Decimal, Precision: 10, Scale: 2},
	}
	amount := func(i int) string { return fmt.Sprintf("%d.%02d", i/100-5, i%100) }
	tests := []struct {
		name       string
		groupRows  int
		groupBytes int64 // 0: the default
		rows       int
		want       []int64 // rows per group
	}{
		{"by rows", 100, 0, 1050, []int64{100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 50}},
		{"exact multiple", 100, 0, 300, []int64{100, 100, 100}},
		{"larger than a batch", 1000, 0, 2500, []int64{1000, 1000, 500}},
		{"by bytes", 100_000, 1, 1100, []int64{parquetBatchRows, parquetBatchRows, 1100 - 2*parquetBatchRows}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewParquetWriter(&buf, s, ParquetOptions{RowGroupRows: tt.groupRows})
			if err != nil {
				t.Fatal(err)
			}
			if tt.groupBytes != 0 {
				w.groupBytes = tt.groupBytes
			}
			for i := range tt.rows {
				if err := w.Write(pqRow(strconv.Itoa(i), strings.Repeat("p", i%50), amount(i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			file := buf.Bytes()
			f, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, rg := range f.RowGroups() {
				got = append(got, rg.NumRows())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rows per row group: got %v, want %v", got, tt.want)
			}
			rows := pqReadAll(t, file)
			if len(rows) != tt.rows {
				t.Fatalf("read %d rows, want %d", len(rows), tt.rows)
			}
			for i, row := range rows {
				if row[0] != int64(i) || row[1] != strings.Repeat("p", i%50) || row[2] != amount(i) {
					t.Fatalf("row %d: got %v, want [%d %q %s]", i, row, i, strings.Repeat("p", i%50), amount(i))
				}
			}
			// Each row group has its own page index, one entry per page.
			if got, want := len(f.ColumnIndexes()), len(tt.want)*len(s); got != want {
				t.Errorf("column indexes: got %d, want %d", got, want)
			}
			for j, ci := range f.ColumnIndexes() {
				if n := len(ci.NullPages); len(ci.MinValues) != n || len(ci.MaxValues) != n || n == 0 {
					t.Errorf("column index %d: got %d null pages, %d min, %d max", j, n, len(ci.MinValues), len(ci.MaxValues))
				}
			}
		})
	}
}

// Decimal statistics and page indexes must order values as signed integers,
// with an entry for every page, or Athena skips data or rejects the file.
func TestParquetDecimalStatistics(t *testing.T) {
	s := schema.Schema{
		{Name: "d", Kind: schema.Decimal, Precision: 38, Scale: 2},
		{Name: "m", Kind: schema.Decimal, Precision: 12, Scale: 2},
		{Name: "u", Kind: schema.Uint64},
	}
	// Enough NULLs to fill whole pages first, then mixed signs.
	var rows [][][]byte
	nulls := 3 * parquetPageBytes / 5
	for range nulls {
		rows = append(rows, pqRow(nil, nil, nil))
	}
	for _, v := range [][2]string{{"-1.00", "1"}, {"1.00", "7"}, {"-7.50", "0"}, {"0", "3"}, {"3.25", "5"}} {
		rows = append(rows, pqRow(v[0], v[0], v[1]))
	}
	file := pqWrite(t, s, ParquetOptions{RowGroupRows: 1 << 20}, rows...)
	f, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ lo, hi string }{{"-7.50", "3.25"}, {"-7.50", "3.25"}, {"0", "7"}}
	text := func(b []byte, col int) string { return decimalText(unscaledText(b), s[col].Scale) }
	for i, c := range f.Metadata().RowGroups[0].Columns {
		st := c.MetaData.Statistics
		if lo, hi := text(st.MinValue, i), text(st.MaxValue, i); lo != want[i].lo || hi != want[i].hi {
			t.Errorf("column %q statistics: got min %s max %s, want min %s max %s", s[i].Name, lo, hi, want[i].lo, want[i].hi)
		}
		if st.NullCount != int64(nulls) {
			t.Errorf("column %q null count: got %d, want %d", s[i].Name, st.NullCount, nulls)
		}
	}
	indexes := f.ColumnIndexes()
	if len(indexes) != len(s) {
		t.Fatalf("column indexes: got %d, want %d", len(indexes), len(s))
	}
	for i, ci := range indexes {
		pages := len(ci.NullPages)
		if pages < 2 || !ci.NullPages[0] {
			t.Errorf("column %q: got null pages %v, want a page of nulls first and more pages", s[i].Name, ci.NullPages)
		}
		if len(ci.MinValues) != pages || len(ci.MaxValues) != pages || len(ci.NullCounts) != pages {
			t.Errorf("column %q index: got %d min, %d max, %d null counts for %d pages, want one each per page",
				s[i].Name, len(ci.MinValues), len(ci.MaxValues), len(ci.NullCounts), pages)
			continue
		}
		last := pages - 1
		if lo, hi := text(ci.MinValues[last], i), text(ci.MaxValues[last], i); lo != want[i].lo || hi != want[i].hi {
			t.Errorf("column %q last page bounds: got %s..%s, want %s..%s", s[i].Name, lo, hi, want[i].lo, want[i].hi)
		}
	}
}

func TestParquetInvalidValue(t *testing.T) {
	long := strings.Repeat("9", 100)
	tests := []struct {
		name    string
		col     schema.Column
		value   string
		wantErr error // wrapped, when not nil
	}{
		{"int32 syntax", schema.Column{Kind: schema.Int32}, "12x", strconv.ErrSyntax},
		{"int32 empty", schema.Column{Kind: schema.Int32}, "", strconv.ErrSyntax},
		{"int32 range", schema.Column{Kind: schema.Int32}, "2147483648", strconv.ErrRange},
		{"int64 range", schema.Column{Kind: schema.Int64}, "-9223372036854775809", strconv.ErrRange},
		{"int64 float", schema.Column{Kind: schema.Int64}, "1.5", strconv.ErrSyntax},
		{"uint64 negative", schema.Column{Kind: schema.Uint64}, "-1", strconv.ErrSyntax},
		{"uint64 range", schema.Column{Kind: schema.Uint64}, "18446744073709551616", strconv.ErrRange},
		{"float syntax", schema.Column{Kind: schema.Float}, "abc", strconv.ErrSyntax},
		{"float range", schema.Column{Kind: schema.Float}, "1e39", strconv.ErrRange},
		{"double syntax", schema.Column{Kind: schema.Double}, "1,5", strconv.ErrSyntax},
		{"decimal scale", schema.Column{Kind: schema.Decimal, Precision: 12, Scale: 2}, "1.234", errScale},
		{"decimal precision", schema.Column{Kind: schema.Decimal, Precision: 12, Scale: 2}, "12345678901.5", errPrecision},
		{"decimal 39 digits", schema.Column{Kind: schema.Decimal, Precision: 38, Scale: 0}, long[:39], errPrecision},
		{"decimal syntax", schema.Column{Kind: schema.Decimal, Precision: 12, Scale: 2}, "1.2.3", strconv.ErrSyntax},
		{"decimal exponent", schema.Column{Kind: schema.Decimal, Precision: 12, Scale: 2}, "1e5", strconv.ErrSyntax},
		{"decimal sign only", schema.Column{Kind: schema.Decimal, Precision: 12, Scale: 2}, "-", strconv.ErrSyntax},
		{"date day", schema.Column{Kind: schema.Date}, "2021-02-29", strconv.ErrRange},
		{"date month", schema.Column{Kind: schema.Date}, "2021-13-01", strconv.ErrRange},
		{"date format", schema.Column{Kind: schema.Date}, "20210101", strconv.ErrSyntax},
		{"date with time", schema.Column{Kind: schema.Date}, "2021-01-01 00:00:00", strconv.ErrSyntax},
		{"timestamp hour", schema.Column{Kind: schema.Timestamp}, "2021-01-01 24:00:00", strconv.ErrRange},
		{"timestamp T", schema.Column{Kind: schema.Timestamp}, "2021-01-01T00:00:00", strconv.ErrSyntax},
		{"timestamp date only", schema.Column{Kind: schema.Timestamp}, "2021-01-01", strconv.ErrSyntax},
		{"timestamp 7 digits", schema.Column{Kind: schema.Timestamp}, "2021-01-01 00:00:00.1234567", strconv.ErrSyntax},
		{"timestamp empty fraction", schema.Column{Kind: schema.Timestamp}, "2021-01-01 00:00:00.", strconv.ErrSyntax},
		{"long value", schema.Column{Kind: schema.Int64}, strings.Repeat("x", 100), strconv.ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.col.Name = "col_" + strings.ReplaceAll(tt.name, " ", "_")
			s := schema.Schema{{Name: "ok", Kind: schema.Int32}, tt.col}
			var buf bytes.Buffer
			w, err := NewParquetWriter(&buf, s, ParquetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			err = w.Write(pqRow("1", tt.value))
			if err == nil {
				t.Fatalf("Write(%q): got no error, want one", tt.value)
			}
			msg := err.Error()
			shown := tt.value
			if len(shown) > 64 {
				shown = shown[:64] + "..."
			}
			if !strings.HasPrefix(msg, "parquet: ") || !strings.Contains(msg, strconv.Quote(tt.col.Name)) ||
				!strings.Contains(msg, strconv.Quote(shown)) {
				t.Errorf("error %q: want the prefix \"parquet: \", the column %q and the value %q", msg, tt.col.Name, shown)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q: want it to wrap %q", msg, tt.wantErr)
			}

			// The bad row is left out; the writer goes on.
			if err := w.Write(pqRow("2", nil)); err != nil {
				t.Fatalf("Write after a bad value: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			rows := pqReadAll(t, buf.Bytes())
			if len(rows) != 1 || rows[0][0] != int32(2) || rows[0][1] != nil {
				t.Errorf("rows: got %v, want [[2 <nil>]]", rows)
			}
		})
	}
}

func TestParquetWriterErrors(t *testing.T) {
	good := schema.Schema{{Name: "a", Kind: schema.Int32}}
	tests := []struct {
		name string
		s    schema.Schema
		o    ParquetOptions
		want string
	}{
		{"no columns", nil, ParquetOptions{}, "no columns"},
		{"codec", good, ParquetOptions{Compression: "lzo"}, `unknown compression "lzo"`},
		{"negative rows", good, ParquetOptions{RowGroupRows: -1}, "negative row group size"},
		{"duplicate", schema.Schema{{Name: "a", Kind: schema.Int32}, {Name: "a", Kind: schema.String}}, ParquetOptions{}, `duplicate column "a"`},
		{"no name", schema.Schema{{Kind: schema.Int32}}, ParquetOptions{}, "column 1 has no name"},
		{"no kind", schema.Schema{{Name: "a"}}, ParquetOptions{}, "unknown kind"},
		{"precision 39", schema.Schema{{Name: "a", Kind: schema.Decimal, Precision: 39}}, ParquetOptions{}, "invalid decimal(39,0)"},
		{"precision 0", schema.Schema{{Name: "a", Kind: schema.Decimal}}, ParquetOptions{}, "invalid decimal(0,0)"},
		{"scale", schema.Schema{{Name: "a", Kind: schema.Decimal, Precision: 5, Scale: 6}}, ParquetOptions{}, "invalid decimal(5,6)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewParquetWriter(io.Discard, tt.s, tt.o)
			if err == nil || !strings.HasPrefix(err.Error(), "parquet: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want a \"parquet: \" error containing %q", err, tt.want)
			}
		})
	}

	t.Run("row length", func(t *testing.T) {
		w, err := NewParquetWriter(io.Discard, good, ParquetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(pqRow("1", "2")); err == nil || !strings.Contains(err.Error(), "2 values, schema has 1") {
			t.Errorf("got %v, want a row length error", err)
		}
	})

	t.Run("write after close", func(t *testing.T) {
		w, err := NewParquetWriter(io.Discard, good, ParquetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("second Close: got %v, want nil", err)
		}
		if err := w.Write(pqRow("1")); err == nil {
			t.Errorf("Write after Close: got no error")
		}
	})

	t.Run("output fails", func(t *testing.T) {
		w, err := NewParquetWriter(pqFailingWriter{}, good, ParquetOptions{RowGroupRows: 10})
		if err != nil {
			t.Fatal(err)
		}
		for range 100 {
			if err := w.Write(pqRow("1")); err != nil {
				break
			}
		}
		err = w.Close()
		if !errors.Is(err, errPQSink) {
			t.Fatalf("Close: got %v, want %v", err, errPQSink)
		}
		if err2 := w.Write(pqRow("1")); !errors.Is(err2, errPQSink) {
			t.Errorf("Write after failure: got %v, want %v", err2, errPQSink)
		}
	})
}

var errPQSink = errors.New("sink failed")

type pqFailingWriter struct{}

func (pqFailingWriter) Write([]byte) (int, error) { return 0, errPQSink }

// Write copies what it keeps: rewriting the caller's slices after Write
// returns must not change the file.
func TestParquetWriteCopies(t *testing.T) {
	s := schema.Schema{{Name: "s", Kind: schema.String}, {Name: "b", Kind: schema.Binary}, {Name: "d", Kind: schema.Decimal, Precision: 5, Scale: 1}}
	var buf bytes.Buffer
	w, err := NewParquetWriter(&buf, s, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	row := [][]byte{[]byte("first"), []byte("bytes"), []byte("1.5")}
	if err := w.Write(row); err != nil {
		t.Fatal(err)
	}
	copy(row[0], "XXXXX")
	copy(row[1], "YYYYY")
	copy(row[2], "9.9")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows := pqReadAll(t, buf.Bytes())
	want := []any{"first", []byte("bytes"), "1.5"}
	if len(rows) != 1 || !reflect.DeepEqual(rows[0], want) {
		t.Errorf("got %v, want [%v]", rows, want)
	}
}

// Writing a row allocates nothing once the writer's buffers have grown.
func TestParquetWriteAllocs(t *testing.T) {
	w, err := NewParquetWriter(io.Discard, pqBenchSchema, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows := pqBenchRows(1024)
	for _, row := range rows { // warm up: page buffers and encoders
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(20_000, func() {
		if err := w.Write(rows[i%len(rows)]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	// Cutting and compressing a page allocates a little; AllocsPerRun
	// rounds the average down, so this asks for less than one per row.
	if allocs >= 1 {
		t.Errorf("allocations per row: got %v, want < 1", allocs)
	}
}

func TestParquetDecimalSizes(t *testing.T) {
	// Parquet spec: the minimal bytes for a precision.
	want := map[int]int{1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 9: 4, 10: 5, 18: 8, 19: 9, 20: 9, 21: 9, 38: 16}
	for p, n := range want {
		if got := decimalSize(p); got != n {
			t.Errorf("decimalSize(%d): got %d, want %d", p, got, n)
		}
	}
	for p := 1; p <= schema.MaxDecimalPrecision; p++ {
		largest := new(big.Int).Sub(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil), big.NewInt(1))
		if bits := largest.BitLen() + 1; bits > 8*decimalSize(p) || bits <= 8*(decimalSize(p)-1) {
			t.Errorf("decimalSize(%d) = %d bytes, but %d-digit values need %d bits", p, decimalSize(p), p, bits)
		}
	}
}

func TestParquetDecimalEncoding(t *testing.T) {
	tests := []struct {
		in    string
		p, s  int
		want  string // unscaled
		bytes string // hex of the FIXED_LEN_BYTE_ARRAY
	}{
		{"-1", 5, 0, "-1", "ffffff"},
		{"1", 5, 0, "1", "000001"},
		{"-12345.67", 12, 2, "-1234567", "ffffffed2979"},
		{"0.00", 12, 2, "0", "000000000000"},
		{"-0.01", 12, 2, "-1", "ffffffffffff"},
		{"+3", 12, 2, "300", "00000000012c"},
		{"12.", 12, 2, "1200", "0000000004b0"},
		{".5", 12, 2, "50", "000000000032"},
		{"00012.5", 5, 1, "125", "00007d"},
		{"99999999999999999999999999999999999999", 38, 0, "99999999999999999999999999999999999999", "4b3b4ca85a86c47a098a223fffffffff"},
		{"-9999999999999999999999999999.9999999999", 38, 10, "-99999999999999999999999999999999999999", "b4c4b357a5793b85f675ddc000000001"},
		{"-9223372036854775809", 20, 0, "-9223372036854775809", "ff7fffffffffffffff"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			hi, lo, err := parseDecimal([]byte(tt.in), tt.p, tt.s)
			if err != nil {
				t.Fatalf("parseDecimal: %v", err)
			}
			dst := make([]byte, decimalSize(tt.p))
			putInt128(dst, hi, lo)
			if got := fmt.Sprintf("%x", dst); got != tt.bytes {
				t.Errorf("bytes: got %s, want %s", got, tt.bytes)
			}
			if got := unscaledText(dst); got != tt.want {
				t.Errorf("unscaled: got %s, want %s", got, tt.want)
			}
		})
	}
}

// The hand-written date and time parsers agree with package time over the
// whole range MySQL prints.
func TestParquetParseTimestamp(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 100_000 {
		want := time.Date(rnd.IntN(10000), time.Month(1+rnd.IntN(12)), 1+rnd.IntN(31),
			rnd.IntN(24), rnd.IntN(60), rnd.IntN(60), rnd.IntN(1e9), time.UTC)
		digits := rnd.IntN(7)
		layout := "2006-01-02 15:04:05"
		if digits > 0 {
			layout += "." + strings.Repeat("0", digits)
		}
		text := want.Format(layout)
		ms, ok, err := parseTimestamp([]byte(text))
		if err != nil || !ok {
			t.Fatalf("parseTimestamp(%q): got %v, %v, want a time", text, ok, err)
		}
		// The text has digits fraction digits; milliseconds keep 3 of them.
		wantMS := want.Truncate(time.Second / time.Duration(math.Pow10(min(digits, 3)))).UnixMilli()
		if ms != wantMS {
			t.Fatalf("parseTimestamp(%q): got %d, want %d", text, ms, wantMS)
		}
		days, ok, err := parseDate([]byte(text[:10]))
		y, m, d := want.Date()
		if wantDays := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400; err != nil || !ok || days != wantDays {
			t.Fatalf("parseDate(%q): got %d, %v, %v, want %d", text[:10], days, ok, err, wantDays)
		}
	}
}

// pqBenchSchema is a mail log table: 13 columns.
var pqBenchSchema = schema.Schema{
	{Name: "id", Kind: schema.Int64, MySQL: "BIGINT"},
	{Name: "tenant_id", Kind: schema.Int32, MySQL: "INT"},
	{Name: "message_id", Kind: schema.Uint64, MySQL: "UNSIGNED BIGINT"},
	{Name: "status", Kind: schema.Int32, MySQL: "TINYINT"},
	{Name: "price", Kind: schema.Decimal, Precision: 12, Scale: 2, MySQL: "DECIMAL"},
	{Name: "sent_at", Kind: schema.Timestamp, MySQL: "DATETIME"},
	{Name: "updated_at", Kind: schema.Timestamp, MySQL: "TIMESTAMP"},
	{Name: "kind", Kind: schema.String, MySQL: "ENUM"},
	{Name: "headers", Kind: schema.String, MySQL: "JSON"},
	{Name: "subject", Kind: schema.String, MySQL: "VARCHAR"},
	{Name: "to_addr", Kind: schema.String, MySQL: "VARCHAR"},
	{Name: "score", Kind: schema.Double, MySQL: "DOUBLE"},
	{Name: "sent_on", Kind: schema.Date, MySQL: "DATE"},
}

// pqBenchRows returns n different mail rows, with some NULLs. The values are
// random enough that pages do not compress far better than real ones.
func pqBenchRows(n int) [][][]byte {
	rnd := rand.New(rand.NewPCG(1, 2))
	kinds := []string{"transactional", "campaign", "notification", "bounce"}
	subjects := []string{"ご注文ありがとうございます", "パスワード再設定のお知らせ", "Your invoice is ready", "【重要】メンテナンスのお知らせ"}
	rows := make([][][]byte, n)
	sec := int64(1_700_000_000)
	for i := range rows {
		sec += rnd.Int64N(60)
		at := time.Unix(sec, rnd.Int64N(1e9)).UTC()
		var updated any = at.Add(time.Duration(rnd.IntN(3600)) * time.Second).Format("2006-01-02 15:04:05")
		if rnd.IntN(7) == 0 {
			updated = nil
		}
		var score any = strconv.FormatFloat(rnd.Float64()*100, 'g', -1, 64)
		if rnd.IntN(3) == 0 {
			score = nil
		}
		rows[i] = pqRow(
			strconv.Itoa(10_000_000+i),
			strconv.Itoa(rnd.IntN(50)),
			strconv.FormatUint(rnd.Uint64(), 10),
			strconv.Itoa(rnd.IntN(4)),
			fmt.Sprintf("%d.%02d", rnd.IntN(100000), rnd.IntN(100)),
			at.Format("2006-01-02 15:04:05.000000"),
			updated,
			kinds[rnd.IntN(len(kinds))],
			fmt.Sprintf(`{"x-mailer":"mallet","x-campaign":%d,"dkim":%t,"size":%d,"ip":"10.%d.%d.%d"}`,
				rnd.IntN(1000), rnd.IntN(2) == 0, rnd.IntN(100000), rnd.IntN(256), rnd.IntN(256), rnd.IntN(256)),
			fmt.Sprintf("%s #%d", subjects[rnd.IntN(len(subjects))], rnd.IntN(1_000_000)),
			fmt.Sprintf("user%d@example%d.co.jp", rnd.IntN(100000), rnd.IntN(100)),
			score,
			at.Format("2006-01-02"),
		)
	}
	return rows
}

// BenchmarkParquetWriter writes b.N rows of the 13-column mail table, one
// row per op, with the default options (zstd), Close included. It reports
// rows/s and the file bytes per row.
func BenchmarkParquetWriter(b *testing.B) {
	benchmarkEncoder(b, func(w io.Writer) (Encoder, error) { return NewParquetWriter(w, pqBenchSchema, ParquetOptions{}) })
}

type pqCountingWriter struct{ n int64 }

func (w *pqCountingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
