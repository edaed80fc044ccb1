package load

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/mallet-etl/mallet/schema"
)

func TestParquetBounds(t *testing.T) {
	ff := func(n int) string { return strings.Repeat("\xff", n) }
	tests := []struct {
		name   string
		in     string
		text   bool
		lo, hi string
	}{
		{"short text kept", "abc", true, "abc", "abc"},
		{"exactly n kept", strings.Repeat("a", 8), true, strings.Repeat("a", 8), strings.Repeat("a", 8)},
		{"ascii cut", "abcdefghij", true, "abcdefgh", "abcdefgi"},
		{"cut before a split character", "abcdef日本", true, "abcdef", "abcdeg"},
		{"multi-byte incremented", "ab日本語xyz", true, "ab日本", "ab日札"},
		{"surrogates skipped", "abcde\ud7ffz", true, "abcde\ud7ff", "abcde\ue000"},
		{"longer successor carries", "abcdefg\x7fz", true, "abcdefg\x7f", "abcdefh"},
		{"max rune carries", "a\U0010ffff\U0010ffffzz", true, "a\U0010ffff", "b"},
		{"only max runes", "\U0010ffff\U0010ffff\U0010ffffz", true, "\U0010ffff\U0010ffff", "\U0010ffff\U0010ffff\U0010ffff{"},
		{"text not utf-8 falls back to bytes", "abc\xffdefgh", true, "abc\xffdefg", "abc\xffdefh"},
		{"binary cut", "abcdefghij", false, "abcdefgh", "abcdefgi"},
		{"binary carry over 0xff", "abcdefg\xffij", false, "abcdefg\xff", "abcdefh"},
		{"binary all 0xff prefix", ff(10) + "\x01rest", false, ff(8), ff(10) + "\x02"},
		{"binary all 0xff", ff(12), false, ff(8), ff(12)},
		{"empty", "", false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := lowerBound([]byte(tt.in), 8, tt.text), upperBound([]byte(tt.in), 8, tt.text)
			if string(lo) != tt.lo || string(hi) != tt.hi {
				t.Errorf("bounds of %q: got %q, %q; want %q, %q", tt.in, lo, hi, tt.lo, tt.hi)
			}
			if bytes.Compare(lo, []byte(tt.in)) > 0 || bytes.Compare(hi, []byte(tt.in)) < 0 {
				t.Errorf("bounds of %q: got %q, %q, which do not enclose it", tt.in, lo, hi)
			}
			if tt.text && utf8.ValidString(tt.in) && (!utf8.Valid(lo) || !utf8.Valid(hi)) {
				t.Errorf("bounds of valid UTF-8 %q: got %q, %q, not UTF-8", tt.in, lo, hi)
			}
		})
	}
}

// TestParquetBoundsRandom checks that bounds enclose random values and stay
// short, over an alphabet rich in the bytes where the cases are.
func TestParquetBoundsRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "z", "\x7f", "é", "日", "\ud7ff", "\ue000", "\U0010ffff", "\U0001f600"}
	for i := range 20000 {
		var b strings.Builder
		for range rnd.IntN(40) {
			b.WriteString(alphabet[rnd.IntN(len(alphabet))])
		}
		v := []byte(b.String())
		for _, text := range []bool{true, false} {
			lo, hi := lowerBound(v, 16, text), upperBound(v, 16, text)
			if bytes.Compare(lo, v) > 0 || bytes.Compare(hi, v) < 0 {
				t.Fatalf("case %d text %t: bounds %q, %q do not enclose %q", i, text, lo, hi, v)
			}
			long := bytes.HasPrefix(v, []byte(strings.Repeat("\U0010ffff", 4)))
			if len(lo) > 16 || len(hi) > 16 && !long {
				t.Fatalf("case %d text %t: bounds %q, %q longer than 16 bytes", i, text, lo, hi)
			}
			if text && (!utf8.Valid(lo) || !utf8.Valid(hi)) {
				t.Fatalf("case %d: text bounds %q, %q of %q are not UTF-8", i, lo, hi, v)
			}
		}
	}
}

// pqLargeRows returns rows of 1 MiB compressible values: a text body in
// Japanese and ASCII whose 64-byte cut falls inside a character, and a
// binary attachment, one of which starts with a run of 0xFF bytes.
func pqLargeRows(n int) [][][]byte {
	const size = 1 << 20
	rows := make([][][]byte, n)
	for i := range rows {
		head := fmt.Sprintf("件名%03d ", i)
		body := head + strings.Repeat("ご注文ありがとうございます。order "+strconv.Itoa(i)+"\n", size/64)
		blob := make([]byte, size)
		for j := range blob {
			blob[j] = byte((j*7 + i) % 251)
		}
		binary.BigEndian.PutUint32(blob, uint32(i))
		if i == 1 {
			copy(blob, bytes.Repeat([]byte{0xff}, 100))
		}
		var b any = blob
		if i == 2 {
			b = nil
		}
		rows[i] = pqRow(strconv.Itoa(i), body, b)
	}
	return rows
}

var pqLargeSchema = schema.Schema{
	{Name: "id", Kind: schema.Int64},
	{Name: "body", Kind: schema.String},
	{Name: "attachment", Kind: schema.Binary},
}

// TestParquetLargeValues writes 1 MiB values and checks that the footer and
// every page header stay small (min/max are cut to parquetBoundBytes, and
// pages carry no statistics), that the bounds still enclose the values, and
// that parquet-go and DuckDB read every value back whole.
func TestParquetLargeValues(t *testing.T) {
	n := 40
	if testing.Short() {
		n = 12
	}
	rows := pqLargeRows(n)
	file := pqWrite(t, pqLargeSchema, ParquetOptions{}, rows...)
	input := 0
	for _, r := range rows {
		input += len(r[1]) + len(r[2])
	}
	if len(file) > input/20 {
		t.Errorf("file: got %d bytes for %d bytes of compressible values, want at most a twentieth", len(file), input)
	}
	footer := int(binary.LittleEndian.Uint32(file[len(file)-8:]))
	if max := 2048 + 1024*n; footer > max {
		t.Errorf("footer: got %d bytes, want at most %d", footer, max)
	}

	f, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	meta := f.Metadata()
	for g, rg := range meta.RowGroups {
		for c, cc := range rg.Columns {
			st := cc.MetaData.Statistics
			if len(st.MinValue) > parquetBoundBytes || len(st.MaxValue) > 101 || len(st.Min) > 0 || len(st.Max) > 0 {
				t.Errorf("row group %d column %d statistics: got min %d bytes, max %d bytes, deprecated %d/%d bytes; want at most %d (101 for the 0xFF run), 0",
					g, c, len(st.MinValue), len(st.MaxValue), len(st.Min), len(st.Max), parquetBoundBytes)
			}
		}
	}
	indexes, offsets := f.ColumnIndexes(), f.OffsetIndexes()
	col := 0
	for g, rg := range meta.RowGroups {
		for c := range rg.Columns {
			ci, oi := indexes[col], offsets[col]
			col++
			for p, loc := range oi.PageLocations {
				var h format.PageHeader
				r := new(thrift.CompactProtocol).NewReaderFromBytes(file[loc.Offset:])
				if err := thrift.NewDecoder(r).Decode(&h); err != nil {
					t.Fatalf("row group %d column %d page %d header: %v", g, c, p, err)
				}
				if size := r.BytesRead(); size > 256 {
					t.Errorf("row group %d column %d page %d: header of %d bytes, want at most 256", g, c, p, size)
				}
				if st := h.DataPageHeader.V.Statistics; st.MaxValue != nil || st.Max != nil || st.MinValue != nil {
					t.Errorf("row group %d column %d page %d: page header has statistics, want none", g, c, p)
				}
			}
			for p := range ci.MinValues {
				if len(ci.MinValues[p]) > parquetBoundBytes || len(ci.MaxValues[p]) > 101 {
					t.Errorf("row group %d column %d page %d index: min %d bytes, max %d bytes", g, c, p, len(ci.MinValues[p]), len(ci.MaxValues[p]))
				}
				if c == 1 && (!utf8.Valid(ci.MinValues[p]) || !utf8.Valid(ci.MaxValues[p])) {
					t.Errorf("row group %d text page %d index: bounds %q, %q are not UTF-8", g, p, ci.MinValues[p], ci.MaxValues[p])
				}
			}
		}
	}
	// The chunk statistics enclose every value of their row group.
	first := 0
	for g, rg := range meta.RowGroups {
		for c := 1; c < 3; c++ {
			st := rg.Columns[c].MetaData.Statistics
			for _, r := range rows[first : first+int(rg.NumRows)] {
				if r[c] != nil && (bytes.Compare(st.MinValue, r[c]) > 0 || bytes.Compare(st.MaxValue, r[c]) < 0) {
					t.Errorf("row group %d column %d: statistics %q..%q do not enclose a value starting %q", g, c, st.MinValue, st.MaxValue, r[c][:80])
				}
			}
		}
		first += int(rg.NumRows)
	}

	read := pqReadAll(t, file)
	if len(read) != len(rows) {
		t.Fatalf("parquet-go read %d rows, want %d", len(read), len(rows))
	}
	for i, r := range read {
		if s, _ := r[1].(string); s != string(rows[i][1]) {
			t.Errorf("parquet-go row %d body: got %d bytes, want %d, equal", i, len(s), len(rows[i][1]))
		}
		if b, _ := r[2].([]byte); !bytes.Equal(b, rows[i][2]) || (r[2] == nil) != (rows[i][2] == nil) {
			t.Errorf("parquet-go row %d attachment: got %d bytes, want %d, equal", i, len(b), len(rows[i][2]))
		}
	}

	path := filepath.Join(t.TempDir(), "large.parquet")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	q := "SELECT id, length(body), md5(body), octet_length(attachment), md5(attachment) FROM read_parquet('" + path + "') ORDER BY id"
	duck := duckDBQuery(t, q)
	if len(duck) != len(rows) {
		t.Fatalf("duckdb read %d rows, want %d", len(duck), len(rows))
	}
	hexMD5 := func(b []byte) any {
		if b == nil {
			return nil
		}
		s := md5.Sum(b)
		return hex.EncodeToString(s[:])
	}
	for i, r := range duck {
		body, att := rows[i][1], rows[i][2]
		var attLen any
		if att != nil {
			attLen = len(att)
		}
		want := []any{strconv.Itoa(i), utf8.RuneCount(body), hexMD5(body), attLen, hexMD5(att)}
		if fmt.Sprint(r...) != fmt.Sprint(want...) {
			t.Errorf("duckdb row %d: got %v, want %v", i, r, want)
		}
	}
	// Whole values as filters find their rows. (DuckDB 1.5 did not prune
	// these with the statistics when they were wrong; the checks above
	// prove the bounds.)
	var filters []string
	var want [][]any
	for _, i := range []int{0, 1, n - 1} {
		filters = append(filters, fmt.Sprintf("SELECT %d AS row, id FROM read_parquet('%s') WHERE body = '%s' AND attachment = from_hex('%x')",
			i, path, rows[i][1], rows[i][2]))
		want = append(want, []any{i, i})
	}
	got := duckDBQuery(t, strings.Join(filters, " UNION ALL ")+" ORDER BY row")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("duckdb, filtering on whole values: got (row, id) %v, want %v", got, want)
	}
}

// TestParquetDocumentBounds: columns of documents (TEXT, BLOB and JSON of
// any size) get no min and max, neither in the column chunk statistics nor
// in the page index, while short text keeps them; every value is read back.
func TestParquetDocumentBounds(t *testing.T) {
	s := schema.Schema{
		{Name: "code", Kind: schema.String, MySQL: "VARCHAR"},
		{Name: "body", Kind: schema.String, MySQL: "MEDIUMTEXT"},
		{Name: "doc", Kind: schema.String, MySQL: "JSON"},
		{Name: "raw", Kind: schema.Binary, MySQL: "LONGBLOB"},
		{Name: "tiny", Kind: schema.String, MySQL: "tinytext"},
	}
	bounded := map[string]bool{"code": true}
	var rows [][][]byte
	for i := range 300 {
		v := []byte(fmt.Sprintf("value %03d", i))
		rows = append(rows, [][]byte{v, v, []byte(fmt.Sprintf(`{"n": %d}`, i)), v, v})
	}
	file := pqWrite(t, s, ParquetOptions{}, rows...)
	f, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	indexes := f.ColumnIndexes()
	col := 0
	for g, rg := range f.Metadata().RowGroups {
		for c, cc := range rg.Columns {
			name := s[c].Name
			st := cc.MetaData.Statistics
			if got := st.MinValue != nil && st.MaxValue != nil; got != bounded[name] {
				t.Errorf("row group %d %s: chunk statistics min %q max %q, want bounds %v", g, name, st.MinValue, st.MaxValue, bounded[name])
			}
			ci := indexes[col]
			col++
			for p := range ci.MinValues {
				if got := len(ci.MinValues[p]) > 0 || len(ci.MaxValues[p]) > 0; got != bounded[name] {
					t.Errorf("row group %d %s page %d: index min %q max %q, want bounds %v", g, name, p, ci.MinValues[p], ci.MaxValues[p], bounded[name])
				}
			}
		}
	}
	read := pqReadAll(t, file)
	if len(read) != len(rows) {
		t.Fatalf("read %d rows, want %d", len(read), len(rows))
	}
	for i, r := range read {
		if got, want := r[1], string(rows[i][1]); got != want {
			t.Errorf("row %d body: got %v, want %q", i, got, want)
		}
	}
}
