package athena_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/mallet-etl/mallet/athena"
	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// everyKind has one column per kind mallet writes, plus the tenant columns
// (`database` is a reserved word in Athena DDL).
var everyKind = schema.Schema{
	schema.Tenant("server"),
	schema.Tenant("database"),
	schema.FromMySQL("tiny", "TINYINT", 0, 0),
	schema.FromMySQL("medium_u", "UNSIGNED MEDIUMINT", 0, 0),
	schema.FromMySQL("year", "YEAR", 0, 0),
	schema.FromMySQL("big", "BIGINT", 0, 0),
	schema.FromMySQL("int_u", "UNSIGNED INT", 0, 0),
	schema.FromMySQL("bits", "BIT", 0, 0),
	schema.FromMySQL("big_u", "UNSIGNED BIGINT", 0, 0),
	schema.FromMySQL("f", "FLOAT", 0, 0),
	schema.FromMySQL("d", "DOUBLE", 0, 0),
	schema.FromMySQL("amount", "DECIMAL", 12, 2),
	schema.FromMySQL("wide", "DECIMAL", 38, 10),
	schema.FromMySQL("too_wide", "DECIMAL", 65, 0),
	schema.FromMySQL("day", "DATE", 0, 0),
	schema.FromMySQL("at", "DATETIME", 0, 0),
	schema.FromMySQL("ts", "TIMESTAMP", 0, 0),
	schema.FromMySQL("name", "VARCHAR", 0, 0),
	schema.FromMySQL("doc", "JSON", 0, 0),
	schema.FromMySQL("blob", "BLOB", 0, 0),
	schema.FromMySQL("Mixed_Case", "VARCHAR", 0, 0), // Athena lowercases it
}

// one text value per column of everyKind, in MySQL's text form.
var everyKindRow = [][]byte{
	[]byte("db1"), []byte("crm_t001"), []byte("-128"), []byte("16777215"), []byte("2026"),
	[]byte("-9223372036854775808"), []byte("4294967295"), []byte("5"), []byte("18446744073709551615"),
	[]byte("1.5"), []byte("2.25"), []byte("-12345.67"), []byte("1.0000000001"), []byte("123"),
	[]byte("2026-11-25"), []byte("2026-11-25 10:00:00.123"), []byte("2026-11-25 01:00:00"),
	[]byte("x"), []byte(`{"a":1}`), []byte{0, 1, 2}, []byte("m"),
}

func table(f schema.Format) athena.Table {
	return athena.Table{
		Database:  "mallet",
		Name:      "every_kind",
		Location:  "s3://analytics-bucket/crm/every_kind/symlinks/",
		Format:    f,
		Schema:    everyKind,
		FirstDate: "2026-11-01",
	}
}

// TestDDLGolden walks every format, so a new one fails here until its DDL
// has been written and checked into a golden file.
func TestDDLGolden(t *testing.T) {
	for _, f := range schema.Formats() {
		t.Run(string(f), func(t *testing.T) {
			got, err := athena.DDL(table(f))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "every_kind."+string(f)+".sql.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./athena -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("DDL differs from %s (run with -update after checking):\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// TestDDLMatchesParquetFile writes a Parquet file with the load package's
// writer and checks each DDL column type against the types the file itself
// declares, read two ways: through load.ReadParquetSchema, and straight from
// the Parquet footer with a mapping written independently here from
// Athena's documented Parquet type support.
func TestDDLMatchesParquetFile(t *testing.T) {
	var buf bytes.Buffer
	w, err := load.NewParquetWriter(&buf, everyKind, load.ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(everyKindRow); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()

	ddl, err := athena.DDL(table(schema.Parquet))
	if err != nil {
		t.Fatal(err)
	}
	ddlTypes := columnTypes(t, ddl)

	read, rows, err := load.ReadParquetSchema(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("got %d rows, want 1", rows)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	leaves := f.Metadata().Schema[1:]
	if len(read) != len(everyKind) || len(leaves) != len(everyKind) || len(ddlTypes) != len(everyKind) {
		t.Fatalf("got %d columns read, %d leaves, %d in the DDL; want %d", len(read), len(leaves), len(ddlTypes), len(everyKind))
	}
	for i, c := range everyKind {
		t.Run(c.Name, func(t *testing.T) {
			want := ddlTypes[i]
			if got := read[i].Athena(); got != want[1] {
				t.Errorf("file column %q reads back as Athena %s, the DDL says %s", read[i].Name, got, want[1])
			}
			if got := athenaOfLeaf(leaves[i]); got != want[1] {
				t.Errorf("file leaf %q (%v %v) is Athena %s, the DDL says %s", leaves[i].Name, leaves[i].Type, leaves[i].LogicalType, got, want[1])
			}
			if got := "`" + strings.ToLower(leaves[i].Name) + "`"; got != want[0] {
				t.Errorf("file leaf %s, DDL column %s", got, want[0])
			}
		})
	}
}

// columnTypes parses the column list of a CREATE EXTERNAL TABLE.
func columnTypes(t *testing.T, ddl string) [][2]string {
	t.Helper()
	start := strings.Index(ddl, "(\n")
	end := strings.Index(ddl, "\n)\nPARTITIONED BY")
	if start < 0 || end < 0 {
		t.Fatalf("no column list in %s", ddl)
	}
	var out [][2]string
	for _, line := range strings.Split(ddl[start+2:end], "\n") {
		line = strings.TrimSuffix(strings.TrimSpace(line), ",")
		i := strings.LastIndex(line, " ")
		out = append(out, [2]string{line[:i], line[i+1:]})
	}
	return out
}

// athenaOfLeaf is the Athena type that reads a Parquet leaf, from the
// Parquet physical and logical types alone, as Athena's Parquet SerDe
// documents them: INT32/INT64 as int/bigint, DATE, TIMESTAMP in millis or
// micros, DECIMAL(p,s), UTF-8 strings, other byte arrays as binary.
func athenaOfLeaf(e format.SchemaElement) string {
	typ, _ := e.Type.Get()
	switch lt := e.LogicalType.Value.(type) {
	case *format.DecimalType:
		return fmt.Sprintf("decimal(%d,%d)", lt.Precision, lt.Scale)
	case *format.DateType:
		if typ == format.Int32 {
			return "date"
		}
	case *format.TimestampType:
		if typ == format.Int64 && lt.IsAdjustedToUTC && lt.Unit.Value != nil && lt.Unit.Value.String() == "MILLIS" {
			return "timestamp"
		}
	case *format.StringType:
		if typ == format.ByteArray {
			return "string"
		}
	case *format.IntType:
		switch {
		case typ == format.Int32 && lt.BitWidth == 32 && lt.IsSigned:
			return "int"
		case typ == format.Int64 && lt.BitWidth == 64 && lt.IsSigned:
			return "bigint"
		}
	case nil:
		switch typ {
		case format.Int32:
			return "int"
		case format.Int64:
			return "bigint"
		case format.Float:
			return "float"
		case format.Double:
			return "double"
		case format.ByteArray:
			return "binary"
		}
	}
	return fmt.Sprintf("unsupported %v %v", typ, e.LogicalType.Value)
}

func TestStatementsRejectBadSchemas(t *testing.T) {
	tests := []struct {
		name string
		cols schema.Schema
		want string
	}{
		{"partition clash", schema.Schema{schema.Tenant("DT")}, "clashes with the partition column"},
		{"case clash", schema.Schema{schema.Tenant("userId"), schema.Tenant("userid")}, `"userId" and "userid"`},
		{"backtick", schema.Schema{schema.Tenant("a`b")}, "only letters, digits and _"},
		{"space", schema.Schema{schema.Tenant("Mixed Case")}, `column "Mixed Case": Athena names hold only letters, digits and _, at most 255: rename it with AS, such as AS mixed_case`},
		{"expression", schema.Schema{schema.Tenant("COUNT(*)")}, "AS count"},
		{"non-ASCII", schema.Schema{schema.Tenant("件数")}, `column "件数"`},
		{"too long", schema.Schema{schema.Tenant(strings.Repeat("a", 256))}, "at most 255"},
		{"case clash of three", schema.Schema{schema.Tenant("x"), schema.Tenant("X"), schema.Tenant("id"), schema.Tenant("Id")}, `columns "x" and "X" are the same name in Athena, which lowercases names: rename one with AS; columns "id" and "Id"`},
		{"empty", nil, "no columns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := table(schema.Parquet)
			tb.Schema = tt.cols
			_, err := athena.Statements(tb)
			if !errors.Is(err, athena.ErrSchema) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want ErrSchema containing %q", err, tt.want)
			}
		})
	}
}

func TestCheckColumnsAccepts(t *testing.T) {
	s := schema.Schema{schema.Tenant("a"), schema.Tenant("Upper_Case"), schema.Tenant("_lead"), schema.Tenant("9lives"), schema.Tenant(strings.Repeat("z", 255))}
	if err := athena.CheckColumns(s); err != nil {
		t.Errorf("got %v, want nil", err)
	}
}

func TestAddColumns(t *testing.T) {
	tb := table(schema.CSV)
	tb.Schema = append(schema.Schema{}, everyKind[:3]...)
	added := schema.Schema{schema.FromMySQL("opened_at", "DATETIME", 0, 0)}
	tb.Schema = append(tb.Schema, added...)
	stmts, err := athena.AddColumns(tb, added)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stmts[0], "ALTER TABLE `mallet`.`every_kind_raw` ADD COLUMNS (`opened_at` string)"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if len(stmts) != 2 || !strings.Contains(stmts[1], `CAST(NULLIF("opened_at", '') AS timestamp) AS "opened_at"`) {
		t.Errorf("view not redefined with the new column: %q", stmts)
	}
}

// TestEveryFormatHasATableDefinition walks every format mallet writes: each
// must be listed here with how Athena reads it, and get exactly that, so a
// new format cannot silently be read through another format's table.
func TestEveryFormatHasATableDefinition(t *testing.T) {
	type want struct {
		table, serde string // the table over the files, its SerDe class
		stmts        int    // 2 when a view casts the table's strings
		colType      string // the table's type for a DATETIME column
	}
	csv := want{"`every_kind_raw`", "OpenCSVSerde", 2, "string"}
	wants := map[schema.Format]want{
		schema.Parquet: {"`every_kind`", "ParquetHiveSerDe", 1, "timestamp"},
		schema.CSV:     csv,
		schema.CSVGzip: csv,
	}
	added := schema.FromMySQL("opened_at", "DATETIME", 0, 0)
	for _, f := range schema.Formats() {
		t.Run(string(f), func(t *testing.T) {
			w, ok := wants[f]
			if !ok {
				t.Fatalf("format %s has no expectation here: say how Athena reads it", f)
			}
			tb := table(f)
			tb.Schema = append(schema.Schema{}, everyKind[:3]...)
			tb.Schema = append(tb.Schema, added)
			stmts, err := athena.Statements(tb)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(stmts), w.stmts; got != want {
				t.Fatalf("got %d statements, want %d: %q", got, want, stmts)
			}
			if prefix := "CREATE EXTERNAL TABLE `mallet`." + w.table + " ("; !strings.HasPrefix(stmts[0], prefix) {
				t.Errorf("table statement starts %.60q, want %q", stmts[0], prefix)
			}
			if !strings.Contains(stmts[0], w.serde) {
				t.Errorf("table statement has no %s:\n%s", w.serde, stmts[0])
			}
			if col := "`opened_at` " + w.colType + "\n"; !strings.Contains(stmts[0], col) {
				t.Errorf("table statement has no column %q:\n%s", col, stmts[0])
			}
			alter, err := athena.AddColumns(tb, schema.Schema{added})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := alter[0], "ALTER TABLE `mallet`."+w.table+" ADD COLUMNS (`opened_at` "+w.colType+")"; got != want {
				t.Errorf("got %s, want %s", got, want)
			}
			if got, want := len(alter), len(stmts); got != want {
				t.Errorf("AddColumns gave %d statements, want %d (the view redefined with the table)", got, want)
			}
		})
	}
}

func TestUnknownFormat(t *testing.T) {
	for _, f := range []schema.Format{"", "orc", "PARQUET"} {
		t.Run(string(f), func(t *testing.T) {
			tb := table(f)
			_, err := athena.Statements(tb)
			if !errors.Is(err, athena.ErrSchema) || !strings.Contains(err.Error(), "unknown format") {
				t.Errorf("Statements: got %v, want ErrSchema naming the unknown format", err)
			}
			_, err = athena.AddColumns(tb, everyKind[:1])
			if !errors.Is(err, athena.ErrSchema) || !strings.Contains(err.Error(), "unknown format") {
				t.Errorf("AddColumns: got %v, want ErrSchema naming the unknown format", err)
			}
		})
	}
}
