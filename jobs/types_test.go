package jobs_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/schema"
)

// typeColumn is one column of the types table: its DDL, the output column
// mallet must make of it, and its values in the rows with id 1, 2 and 4 (row
// 3 is all NULL).
type typeColumn struct {
	name  string
	ddl   string
	kind  schema.Kind
	prec  int // Decimal only
	scale int // Decimal only
	vals  [3]any
}

// messy is text a CSV writer must quote: quotes, commas, a CRLF and an LF
// line break, and leading spaces.
const messy = "  \"quoted\", a,b\r\nline2\nline3"

var typeColumns = []typeColumn{
	{"c_tinyint", "TINYINT", schema.Int32, 0, 0, [3]any{int64(127), int64(-128), int64(0)}},
	{"c_smallint", "SMALLINT", schema.Int32, 0, 0, [3]any{int64(32767), int64(-32768), int64(0)}},
	{"c_mediumint", "MEDIUMINT", schema.Int32, 0, 0, [3]any{int64(8388607), int64(-8388608), int64(0)}},
	{"c_int", "INT", schema.Int32, 0, 0, [3]any{int64(math.MaxInt32), int64(math.MinInt32), int64(0)}},
	{"c_bigint", "BIGINT", schema.Int64, 0, 0, [3]any{int64(math.MaxInt64), int64(math.MinInt64), int64(0)}},
	{"c_utinyint", "TINYINT UNSIGNED", schema.Int32, 0, 0, [3]any{int64(255), int64(0), int64(1)}},
	{"c_usmallint", "SMALLINT UNSIGNED", schema.Int32, 0, 0, [3]any{int64(65535), int64(0), int64(1)}},
	{"c_umediumint", "MEDIUMINT UNSIGNED", schema.Int32, 0, 0, [3]any{int64(16777215), int64(0), int64(1)}},
	{"c_uint", "INT UNSIGNED", schema.Int64, 0, 0, [3]any{int64(math.MaxUint32), int64(0), int64(1)}},
	{"c_ubigint", "BIGINT UNSIGNED", schema.Uint64, 0, 0, [3]any{"18446744073709551615", "0", "9223372036854775808"}},
	{"c_bit", "BIT(10)", schema.Int64, 0, 0, [3]any{int64(1023), int64(5), int64(0)}},
	{"c_year", "YEAR", schema.Int32, 0, 0, [3]any{int64(2155), int64(1901), int64(0)}},
	{"c_float", "FLOAT", schema.Float, 0, 0, [3]any{3.4028234663852886e38, -1.5, 123.456}},
	{"c_double", "DOUBLE", schema.Double, 0, 0, [3]any{math.MaxFloat64, -2.2250738585072014e-308, 0.1}},
	{"c_dec12", "DECIMAL(12,2)", schema.Decimal, 13, 2, [3]any{"9999999999.99", "-9999999999.99", "0.01"}},
	{"c_dec38", "DECIMAL(38,10)", schema.Decimal, 38, 10, [3]any{
		"9999999999999999999999999999.9999999999", "-9999999999999999999999999999.9999999999", "-0.0000000001"}},
	{"c_dec65", "DECIMAL(65,30)", schema.String, 0, 0, [3]any{
		"12345678901234567890123456789012345.123456789012345678901234567891",
		"-99999999999999999999999999999999999.999999999999999999999999999999",
		"0.000000000000000000000000000001"}},
	{"c_date", "DATE", schema.Date, 0, 0, [3]any{"9999-12-31", "0000-00-00", "2024-02-00"}},
	{"c_datetime", "DATETIME", schema.Timestamp, 0, 0, [3]any{"9999-12-31 23:59:59", "0000-00-00 00:00:00", "1000-01-01 00:00:00"}},
	{"c_datetime6", "DATETIME(6)", schema.Timestamp, 0, 0, [3]any{"2024-02-29 12:34:56.789999", "0000-00-00 00:00:00", "1969-12-31 23:59:59.000001"}},
	{"c_timestamp", "TIMESTAMP NULL", schema.Timestamp, 0, 0, [3]any{"2038-01-19 03:14:07", "0000-00-00 00:00:00", "1970-01-01 00:00:01"}},
	{"c_timestamp3", "TIMESTAMP(3) NULL", schema.Timestamp, 0, 0, [3]any{"2038-01-19 03:14:07.999", "0000-00-00 00:00:00", "2001-02-03 04:05:06.007"}},
	{"c_time", "TIME", schema.String, 0, 0, [3]any{"838:59:59", "-838:59:59", "12:34:56"}},
	{"c_char", "CHAR(10)", schema.String, 0, 0, [3]any{"abc", "", "  lead"}},
	{"c_varchar", "VARCHAR(100)", schema.String, 0, 0, [3]any{messy, "", "trailing "}},
	{"c_text", "TEXT", schema.String, 0, 0, [3]any{"寿司🍣が好き, 日本語", "", "\t"}},
	{"c_longtext", "LONGTEXT", schema.String, 0, 0, [3]any{strings.Repeat("長い🍣", 20000), "", "x"}},
	{"c_json", "JSON", schema.String, 0, 0, [3]any{`{"a": [1, 2.5, "x"], "ja": "日本🍣", "q": "\"q\""}`, "[]", "null"}},
	{"c_enum", "ENUM('a','b','c')", schema.String, 0, 0, [3]any{"b", "a", "c"}},
	{"c_set", "SET('x','y','z')", schema.String, 0, 0, [3]any{"x,z", "", "y"}},
	{"c_binary", "BINARY(4)", schema.Binary, 0, 0, [3]any{[]byte{0x00, 0xff, 0x0d, 0x0a}, []byte{}, []byte{'a', '"', ','}}},
	{"c_varbinary", "VARBINARY(16)", schema.Binary, 0, 0, [3]any{[]byte{0x00, 0xff, 0x0d, 0x0a, '"', ','}, []byte{}, []byte{0xfe}}},
	{"c_blob", "BLOB", schema.Binary, 0, 0, [3]any{[]byte{0x00, 0xff, 0x0d, 0x0a}, []byte{}, []byte("\xef\xbb\xbf")}},
	// Text in other character sets comes out as UTF-8: the session's
	// character set is utf8mb4 and the server converts.
	{"c_latin1", "VARCHAR(20) CHARACTER SET latin1", schema.String, 0, 0, [3]any{"café, ÿ €", "", "Ä\"q\""}},
	{"c_cp932", "VARCHAR(20) CHARACTER SET cp932", schema.String, 0, 0, [3]any{"日本語ｶﾅ①", "", "髙"}},
}

// TestTypes runs SELECT * over a table with every MySQL type mallet maps, to
// Parquet, CSV and csv.gz, and compares every value with what MariaDB
// returns, after the documented conversions: zero dates are NULL, BIT is
// decimal text, binary values are base64 in CSV, and Parquet keeps
// timestamps at milliseconds and floats as binary floats. Every CSV file
// must be valid UTF-8.
func TestTypes(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t)
	name := testdb.Prefix() + "types_t1"
	testdb.Create(t, db, name)
	f := &fleet{db: db}
	t.Run("types", func(t *testing.T) {
		createTypes(t, f, name, "types", typeColumns)
		runTypes(t, f, name, "types", typeColumns, checkRawCSV)
	})
	t.Run("unsigned_decimal", func(t *testing.T) {
		cols := []typeColumn{
			{"c_udec38", "DECIMAL(38,10) UNSIGNED", schema.Decimal, 38, 10, [3]any{"9999999999999999999999999999.9999999999", "0", "1.5"}},
			{"c_udec5", "DECIMAL(5,0) UNSIGNED", schema.Decimal, 5, 0, [3]any{"99999", "0", "1"}},
		}
		createTypes(t, f, name, "udec", cols)
		// go-sql-driver v1.10.1 reports DECIMAL(p,s) UNSIGNED as p-1 digits
		// (go-sql-driver/mysql#1813); extract widens every DECIMAL below 38
		// digits by one, so the widest unsigned values still fit.
		runTypes(t, f, name, "udec", cols, nil)
	})
}

// runTypes runs "SELECT * FROM table ORDER BY id" in database to Parquet, CSV
// and csv.gz, and compares the output with MariaDB's result; rawCSV, when
// not nil, checks the bytes of the CSV files.
func runTypes(t *testing.T, f *fleet, database, table string, cols []typeColumn, rawCSV func(*testing.T, []byte, string, []string)) {
	t.Helper()
	query := "SELECT * FROM " + table + " ORDER BY id"
	queryPath := filepath.Join(t.TempDir(), table+".sql")
	if err := os.WriteFile(queryPath, []byte(query+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`timezone: UTC
sources:
  types:
    servers:
      - name: db1
        dsn: %q
    tenants: {list: [db1/%s]}
jobs:
  types_parquet:
    source: types
    query: %s
    output: {to: %q, format: parquet}
  types_csv:
    source: types
    query: %s
    output: {to: %q, format: csv}
  types_csvgz:
    source: types
    query: %s
    output: {to: %q, format: csv.gz}
`, testdb.DSN(), database, queryPath, out, queryPath, out, queryPath, out))

	want := tenantRows(database, f.query(t, database, query, nil))
	if got, wantN := len(want), 4; got != wantN {
		t.Fatalf("MariaDB returned %d rows, want %d", got, wantN)
	}
	wantSchema := schema.Schema{schema.Tenant("server"), schema.Tenant("database"), {Name: "id", Kind: schema.Int32}}
	for _, c := range cols {
		wantSchema = append(wantSchema, schema.Column{Name: c.name, Kind: c.kind, Precision: c.prec, Scale: c.scale})
	}

	for _, job := range []string{"types_parquet", "types_csv", "types_csvgz"} {
		t.Run(job, func(t *testing.T) {
			res, err := jobs.Run(t.Context(), cfg, job, jobs.Options{Date: runDate})
			if err != nil {
				for _, tr := range res.Tenants {
					if tr.Err != nil {
						t.Errorf("%v", tr.Err)
					}
				}
				t.Fatalf("run: %v", err)
			}
			if got, want := res.Rows, int64(4); got != want {
				t.Errorf("res.Rows = %d, want %d", got, want)
			}
			if got, want := len(res.Objects), 1; got != want {
				t.Fatalf("got %d objects, want %d", got, want)
			}
			checkTypesSchema(t, "result schema", res.Schema, wantSchema)
			open := dirOpener(t, out)
			data := open(res.Objects[0].Key)
			header, rows := readOutput(t, res, open)
			if got, want := strings.Join(header, ","), strings.Join(wantSchema.Names(), ","); got != want {
				t.Fatalf("header = %s, want %s", got, want)
			}
			parquet := job == "types_parquet"
			if parquet {
				fs, n, err := load.ReadParquetSchema(bytes.NewReader(data), int64(len(data)))
				if err != nil {
					t.Fatalf("read parquet schema: %v", err)
				}
				if n != 4 {
					t.Errorf("parquet file has %d rows, want 4", n)
				}
				checkTypesSchema(t, "parquet file schema", fs, wantSchema)
			} else {
				if job == "types_csvgz" {
					data = gunzip(t, data)
				}
				if !utf8.Valid(data) {
					t.Errorf("the CSV file is not valid UTF-8: %q", data[:min(len(data), 2000)])
				}
				if rawCSV != nil {
					rawCSV(t, data, database, wantSchema.Names())
				}
				// encoding/csv, which readOutput uses, reads "" as NULL and
				// a quoted CRLF as LF; the file's own bytes compare exactly.
				rows = rawCSVRows(t, data)[1:]
			}
			compareTypes(t, res.Schema, rows, want, parquet)
		})
	}
}

// createTypes creates a table of the columns, with an INT id first, and
// fills it: rows 1, 2 and 4 with the columns' values, row 3 with NULLs. The
// session runs without NO_ZERO_DATE and NO_ZERO_IN_DATE so that zero dates
// can be stored.
func createTypes(t *testing.T, f *fleet, database, table string, cols []typeColumn) {
	t.Helper()
	conn, err := f.db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ddl := []string{"id INT PRIMARY KEY"}
	for _, c := range cols {
		ddl = append(ddl, c.name+" "+c.ddl)
	}
	for _, s := range []string{
		"USE `" + database + "`",
		"SET SESSION sql_mode = ''",
		"CREATE TABLE " + table + " (" + strings.Join(ddl, ", ") + ") CHARACTER SET utf8mb4",
	} {
		if _, err := conn.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("%.80s: %v", s, err)
		}
	}
	insert := "INSERT INTO " + table + " VALUES (?" + strings.Repeat(", ?", len(cols)) + ")"
	for r, id := range []int{1, 2, 4} {
		args := []any{id}
		for _, c := range cols {
			args = append(args, c.vals[r])
		}
		if _, err := conn.ExecContext(t.Context(), insert, args...); err != nil {
			t.Fatalf("insert row %d: %v", id, err)
		}
	}
	if _, err := conn.ExecContext(t.Context(), "INSERT INTO "+table+" (id) VALUES (3)"); err != nil {
		t.Fatalf("insert the NULL row: %v", err)
	}
}

// tenantRows prefixes MariaDB's rows with the tenant columns.
func tenantRows(database string, rows [][]*string) [][]*string {
	server := "db1"
	out := make([][]*string, len(rows))
	for i, r := range rows {
		out[i] = append([]*string{&server, &database}, r...)
	}
	return out
}

// checkTypesSchema compares columns' names, kinds and decimal sizes.
func checkTypesSchema(t *testing.T, what string, got, want schema.Schema) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d columns, want %d", what, len(got), len(want))
	}
	for i, w := range want {
		if g := got[i]; !g.Equal(w) {
			t.Errorf("%s: column %d (driver type %q): got %s %s, want %s %s", what, i+1, g.MySQL, g.Name, kindText(g), w.Name, kindText(w))
		}
	}
}

func kindText(c schema.Column) string {
	if c.Kind == schema.Decimal {
		return fmt.Sprintf("decimal(%d,%d)", c.Precision, c.Scale)
	}
	return c.Kind.String()
}

// compareTypes compares output values with MariaDB's text after mallet's
// documented conversions.
func compareTypes(t *testing.T, s schema.Schema, got, want [][]*string, parquet bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("row %d: got %d values, want %d", i+1, len(got[i]), len(want[i]))
		}
		for j, c := range s {
			w := expected(t, c, want[i][j], parquet)
			g := got[i][j]
			if !sameValue(c, g, w, parquet) {
				t.Errorf("row %d column %s (%s): got %s, want %s", i+1, c.Name, c.MySQL, short(g), short(w))
			}
		}
	}
}

// expected converts MariaDB's text of a value to what the output must hold.
func expected(t *testing.T, c schema.Column, v *string, parquet bool) *string {
	t.Helper()
	if v == nil {
		return nil
	}
	s := *v
	switch {
	case c.MySQL == "BIT":
		var u uint64
		for _, b := range []byte(s) {
			u = u<<8 | uint64(b)
		}
		s = strconv.FormatUint(u, 10)
	case c.Kind == schema.Binary && !parquet:
		s = base64.StdEncoding.EncodeToString([]byte(s))
	case c.Kind == schema.Date || c.Kind == schema.Timestamp:
		if s[5:7] == "00" || s[8:10] == "00" { // 0000-00-00 included
			return nil
		}
		if parquet && c.Kind == schema.Timestamp {
			return msText(&s)
		}
	case parquet && (c.Kind == schema.Int32 || c.Kind == schema.Int64):
		// YEAR 0 is "0000" in MySQL's text, 0 in an INT32 column.
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("column %s: MariaDB returned %q: %v", c.Name, s, err)
		}
		s = strconv.FormatInt(n, 10)
	}
	return &s
}

// sameValue compares floats numerically in Parquet, where they are binary,
// and everything else as text.
func sameValue(c schema.Column, got, want *string, parquet bool) bool {
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	if parquet && (c.Kind == schema.Float || c.Kind == schema.Double) {
		bits := 64
		if c.Kind == schema.Float {
			bits = 32
		}
		g, err1 := strconv.ParseFloat(*got, bits)
		w, err2 := strconv.ParseFloat(*want, bits)
		return err1 == nil && err2 == nil && g == w
	}
	return *got == *want
}

// short quotes a value, cutting long ones.
func short(v *string) string {
	if v == nil || len(*v) <= 100 {
		return str(v)
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote((*v)[:100]), len(*v))
}

func gunzip(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkRawCSV checks the bytes of a CSV file: no byte-order mark, a header
// row, "\n" line ends, the CRLF of a quoted field kept, "" for an empty
// string and an empty field for NULL.
func checkRawCSV(t *testing.T, data []byte, database string, header []string) {
	t.Helper()
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		t.Error("the file starts with a byte-order mark")
	}
	if got, want := string(data[:bytes.IndexByte(data, '\n')+1]), strings.Join(header, ",")+"\n"; got != want {
		t.Errorf("first line = %q, want the header %q", got, want)
	}
	quoted := `"` + strings.ReplaceAll(messy, `"`, `""`) + `"`
	nullRow := "\ndb1," + database + ",3" + strings.Repeat(",", len(typeColumns)) + "\n"
	for _, c := range []struct{ what, want string }{
		{"the messy value quoted, CRLF kept", "," + quoted + ","},
		{"an empty CHAR, VARCHAR, TEXT, LONGTEXT as \"\"", `,"","","","",`},
		{"the BINARY, VARBINARY and BLOB bytes as base64, unquoted", ",AP8NCg==,AP8NCiIs,AP8NCg==,"},
		{"an empty VARBINARY as \"\"", `,AAAAAA==,"",""`},
		{"the all-NULL row as empty fields", nullRow},
	} {
		if !bytes.Contains(data, []byte(c.want)) {
			t.Errorf("the file lacks %s: %q", c.what, c.want)
		}
	}
	// The messy VARCHAR holds a CRLF; any other would be a CRLF line end
	// (or binary bytes written raw).
	if got, want := bytes.Count(data, []byte("\r\n")), 1; got != want {
		t.Errorf("got %d CRLF in the file, want %d", got, want)
	}
}

// rawCSVRows parses RFC 4180 CSV byte for byte: a quoted field is a value,
// even when empty; an empty unquoted field is NULL. It is strict: a quote
// inside an unquoted field, or a CR outside quotes, is an error.
func rawCSVRows(t *testing.T, data []byte) [][]*string {
	t.Helper()
	rows, err := parseRawCSV(data)
	if err != nil {
		t.Fatalf("csv: %v", err)
	}
	return rows
}

func parseRawCSV(data []byte) ([][]*string, error) {
	var rows [][]*string
	var row []*string
	for i := 0; i < len(data); {
		var v *string
		if data[i] == '"' {
			var b []byte
			i++
			for {
				if i >= len(data) {
					return nil, errors.New("unterminated quoted field")
				}
				if data[i] == '"' {
					if i+1 < len(data) && data[i+1] == '"' {
						b = append(b, '"')
						i += 2
						continue
					}
					i++
					break
				}
				b = append(b, data[i])
				i++
			}
			s := string(b)
			v = &s
		} else {
			j := i
			for j < len(data) && data[j] != ',' && data[j] != '\n' {
				if data[j] == '"' || data[j] == '\r' {
					return nil, fmt.Errorf("row %d: %q in an unquoted field", len(rows)+1, data[j])
				}
				j++
			}
			if j > i {
				s := string(data[i:j])
				v = &s
			}
			i = j
		}
		row = append(row, v)
		if i >= len(data) {
			return nil, errors.New("the last line has no line end")
		}
		switch data[i] {
		case ',':
			i++
		case '\n':
			rows = append(rows, row)
			row = nil
			i++
		default:
			return nil, fmt.Errorf("row %d: %q after a quoted field", len(rows)+1, data[i])
		}
	}
	return rows, nil
}

// TestRegistryBinaryAttribute takes a registry attribute from a binary
// expression whose bytes are not UTF-8: the attribute is a text column, so
// each invalid byte becomes U+FFFD, in CSV and in Parquet alike.
func TestRegistryBinaryAttribute(t *testing.T) {
	db := testdb.Open(t)
	name := testdb.Prefix() + "attr_t1"
	testdb.Create(t, db, name)
	qpath := filepath.Join(t.TempDir(), "q.sql")
	if err := os.WriteFile(qpath, []byte("SELECT 1 AS n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	registry := fmt.Sprintf("SELECT 'db1' AS server, '%s' AS `database`, UNHEX('FF41C3') AS tag, _utf8mb4'ok é' AS plain", name)
	cfg := writeConfig(t, fmt.Sprintf(`sources:
  s:
    servers: [{name: db1, dsn: %q}]
    tenants: {registry: {server: db1, query: %q}}
jobs:
  csv: {source: s, query: %s, output: {to: %q, format: csv}}
  parquet: {source: s, query: %s, output: {to: %q, format: parquet}}
`, testdb.DSN(), registry, qpath, out, qpath, out))
	for _, job := range []string{"csv", "parquet"} {
		t.Run(job, func(t *testing.T) {
			res, err := jobs.Run(t.Context(), cfg, job, jobs.Options{Date: runDate})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			open := dirOpener(t, out)
			if job == "csv" {
				if data := open(res.Objects[0].Key); !utf8.Valid(data) {
					t.Errorf("the CSV file is not valid UTF-8: %q", data)
				}
			}
			_, rows := readOutput(t, res, open)
			if len(rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(rows))
			}
			if got, want := str(rows[0][2]), str(ptr("\uFFFDA\uFFFD")); got != want {
				t.Errorf("tag = %s, want %s", got, want)
			}
			if got, want := str(rows[0][3]), str(ptr("ok é")); got != want {
				t.Errorf("plain = %s, want %s", got, want)
			}
		})
	}
}

func ptr(s string) *string { return &s }
