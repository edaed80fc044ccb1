// Package athena writes the Amazon Athena DDL that reads a job's output: a
// CREATE EXTERNAL TABLE with partition projection over the job's symlink
// manifests, and for CSV output a view that gives the columns their types.
//
// The column types come from schema.Column.Athena, the mapping the Parquet
// writer follows; this package only spells them, quotes names and chooses
// the storage clauses.
package athena

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/mallet-etl/mallet/schema"
)

// PartitionColumn is the partition key of every mallet table: the run date.
const PartitionColumn = "dt"

// DateFormat is the partition value format, in Java's notation for
// projection.dt.format.
const DateFormat = "yyyy-MM-dd"

// RawSuffix ends the name of the all-string table under a CSV job's view.
const RawSuffix = "_raw"

// Table describes the Athena objects of one job.
type Table struct {
	Database string // Athena database, e.g. "mallet"
	Name     string // table name; for CSV the view's, the table being Name+RawSuffix
	// Location is the URI of the job's symlink folder, ending in "/":
	// <output.to>/<job>/symlinks/. Partition dt=D is read from
	// Location+"dt=D/", which holds the manifests listing the data files.
	Location string
	Format   schema.Format
	Schema   schema.Schema
	// FirstDate is the first partition (yyyy-mm-dd): the lower end of the
	// projected range.
	FirstDate string
}

// ErrSchema is wrapped by the errors for a schema Athena cannot read as
// written: no columns, a name Athena cannot hold, names that are equal once
// lowercased, or a column named like the partition key (see CheckColumns).
var ErrSchema = errors.New("schema not usable in Athena")

var datePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// check reports every problem of t at once, and returns how Athena reads
// t's format.
func (t Table) check() (layout, error) {
	var probs []string
	if t.Database == "" || t.Name == "" {
		probs = append(probs, "database and table names are required")
	}
	if !strings.HasSuffix(t.Location, "/") || strings.ContainsAny(t.Location, "'\n") {
		probs = append(probs, fmt.Sprintf("location %q must end in / and hold no quote", t.Location))
	}
	if !datePattern.MatchString(t.FirstDate) {
		probs = append(probs, fmt.Sprintf("first date %q is not yyyy-mm-dd", t.FirstDate))
	}
	l, err := layoutOf(t.Format)
	if err != nil {
		probs = append(probs, err.Error())
	}
	if len(t.Schema) == 0 {
		probs = append(probs, "the schema has no columns")
	}
	probs = append(probs, columnProblems(t.Schema)...)
	if len(probs) > 0 {
		return layout{}, fmt.Errorf("athena %s.%s: %w: %s", t.Database, t.Name, ErrSchema, strings.Join(probs, "; "))
	}
	return l, nil
}

// MaxNameLength is the longest column name Athena (the Glue catalog) holds,
// in bytes.
const MaxNameLength = 255

// CheckColumns reports, all at once, the columns of s that an Athena table
// cannot hold as named: a name with anything but ASCII letters, digits and
// _, or longer than MaxNameLength; two names equal once lowercased (Athena
// lowercases every name); a column named like the partition column. Each
// problem names the column and the fix, a different name given with AS in
// the query. Errors wrap ErrSchema.
func CheckColumns(s schema.Schema) error {
	if probs := columnProblems(s); len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrSchema, strings.Join(probs, "; "))
	}
	return nil
}

func columnProblems(s schema.Schema) []string {
	var probs []string
	seen := map[string]string{}
	for _, c := range s {
		lower := strings.ToLower(c.Name)
		switch {
		case !validName(c.Name):
			probs = append(probs, fmt.Sprintf("column %q: Athena names hold only letters, digits and _, at most %d: rename it with AS, such as AS %s", c.Name, MaxNameLength, suggestName(c.Name)))
		case lower == PartitionColumn:
			probs = append(probs, fmt.Sprintf("column %q clashes with the partition column %s: rename it with AS", c.Name, PartitionColumn))
		case seen[lower] != "":
			probs = append(probs, fmt.Sprintf("columns %q and %q are the same name in Athena, which lowercases names: rename one with AS", seen[lower], c.Name))
		}
		if seen[lower] == "" {
			seen[lower] = c.Name
		}
	}
	return probs
}

// validName reports a name Athena holds as it is, but for case.
func validName(name string) bool {
	if name == "" || len(name) > MaxNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// suggestName is a valid name close to name, for error messages.
func suggestName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' {
			b.WriteRune(r)
		} else if !strings.HasSuffix(b.String(), "_") {
			b.WriteByte('_')
		}
	}
	out := strings.Trim(b.String(), "_")
	if out == "" {
		out = "c"
	}
	return out[:min(len(out), MaxNameLength)]
}

// Column is a column as the catalog holds it: a lowercase name and a Hive
// type, as in the DDL's column list.
type Column struct {
	Name string
	Type string
}

// Property is a table or SerDe property; lists of them keep the DDL's order.
type Property struct {
	Key   string
	Value string
}

// TableDef is an external table as its CREATE EXTERNAL TABLE defines it,
// field by field: what the statement stores in the Glue Data Catalog when
// Athena runs it. The DDL is rendered from it (TableDef.DDL), and package
// catalog writes the same fields through the Glue API, so the two cannot
// differ.
type TableDef struct {
	Database      string
	Name          string
	Columns       []Column
	PartitionKeys []Column
	SerDe         string // serialization library
	SerDeParams   []Property
	InputFormat   string
	OutputFormat  string
	Location      string
	Properties    []Property // TBLPROPERTIES
}

// ViewDef is the typed view over a CSV job's raw table.
type ViewDef struct {
	Database string
	Name     string
	// Columns are the view's column names, lowercase, in order, the
	// partition column last.
	Columns []string
	// SQL is the CREATE OR REPLACE VIEW statement, without a semicolon.
	SQL string
}

// Define returns the objects of t: the external table, and for CSV the view
// over it (nil for Parquet). Errors wrap ErrSchema.
func Define(t Table) (TableDef, *ViewDef, error) {
	l, err := t.check()
	if err != nil {
		return TableDef{}, nil, err
	}
	if l.typed {
		return tableDef(t, l, t.Name), nil, nil
	}
	cols := make([]string, 0, len(t.Schema)+1)
	for _, c := range t.Schema {
		cols = append(cols, strings.ToLower(c.Name))
	}
	cols = append(cols, PartitionColumn)
	v := &ViewDef{Database: t.Database, Name: t.Name, Columns: cols, SQL: createView(t)}
	return tableDef(t, l, t.Name+RawSuffix), v, nil
}

// Statements returns the DDL for t, one statement per element, without
// trailing semicolons (Athena runs one statement per query): the CREATE
// EXTERNAL TABLE, and for CSV the CREATE OR REPLACE VIEW over it. Errors
// wrap ErrSchema.
func Statements(t Table) ([]string, error) {
	def, view, err := Define(t)
	if err != nil {
		return nil, err
	}
	if view == nil {
		return []string{def.DDL()}, nil
	}
	return []string{def.DDL(), view.SQL}, nil
}

// DDL returns the statements of Statements as one script, each statement
// ending in ";" and separated by a blank line.
func DDL(t Table) (string, error) {
	stmts, err := Statements(t)
	if err != nil {
		return "", err
	}
	return strings.Join(stmts, ";\n\n") + ";\n", nil
}

// Storage. Both formats read each partition through Hive symlink
// manifests (text files listing one data URI per line), so a partition
// shows exactly the files of its published run and nothing else. Athena
// takes the target files' format from the SerDe, and recognises gzip by
// the .gz extension. The CSV escape character is the deserializer's
// default, backslash (Athena turns an explicit '"' into it too): mallet
// doubles quotes as RFC 4180 says, which the SerDe reads, but a backslash
// in a value is read as an escape (see docs/athena.md).
const (
	symlinkInput   = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
	parquetSerDe   = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
	parquetOutput  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
	openCSVSerDe   = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
	textOutput     = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
	csvEscape      = `\`
	csvSeparator   = ","
	csvQuote       = `"`
	headerProperty = "skip.header.line.count"
)

// layout is how Athena reads the files of one format.
type layout struct {
	serDe        string
	serDeParams  []Property
	outputFormat string
	// typed is true when the files carry the column types. Otherwise the
	// table (named with RawSuffix) reads every column as a string and a
	// view over it casts them.
	typed bool
	// header is true when each file starts with a line of column names.
	header bool
}

// layoutOf switches over every format, so that a format added to package
// schema is an error here until it is given a table definition, instead
// of silently getting another format's.
func layoutOf(f schema.Format) (layout, error) {
	switch f {
	case schema.Parquet:
		return layout{serDe: parquetSerDe, outputFormat: parquetOutput, typed: true}, nil
	case schema.CSV, schema.CSVGzip:
		return layout{
			serDe:        openCSVSerDe,
			serDeParams:  []Property{{"separatorChar", csvSeparator}, {"quoteChar", csvQuote}, {"escapeChar", csvEscape}},
			outputFormat: textOutput,
			header:       true,
		}, nil
	default:
		if _, err := schema.ParseFormat(string(f)); err != nil {
			return layout{}, err
		}
		return layout{}, fmt.Errorf("format %s has no Athena table definition", f)
	}
}

// tableDef defines the external table called name over t's files, read
// as l says.
func tableDef(t Table, l layout, name string) TableDef {
	d := TableDef{
		Database:      strings.ToLower(t.Database),
		Name:          strings.ToLower(name),
		PartitionKeys: []Column{{Name: PartitionColumn, Type: "string"}},
		SerDe:         l.serDe,
		SerDeParams:   slices.Clone(l.serDeParams),
		InputFormat:   symlinkInput,
		OutputFormat:  l.outputFormat,
		Location:      t.Location,
	}
	for _, c := range t.Schema {
		typ := c.Athena()
		if !l.typed {
			// OpenCSVSerde parses only epoch numbers as dates and
			// timestamps; the view casts the text instead.
			typ = "string"
		}
		d.Columns = append(d.Columns, Column{Name: strings.ToLower(c.Name), Type: typ})
	}
	d.Properties = []Property{
		{"projection.enabled", "true"},
		{"projection.dt.type", "date"},
		{"projection.dt.format", DateFormat},
		// NOW+1DAYS: Athena evaluates NOW in UTC, and a job's zone
		// (Asia/Tokyo) may already be on tomorrow's date.
		{"projection.dt.range", t.FirstDate + ",NOW+1DAYS"},
		{"projection.dt.interval", "1"},
		{"projection.dt.interval.unit", "DAYS"},
		{"storage.location.template", t.Location + PartitionColumn + "=${" + PartitionColumn + "}/"},
	}
	if l.header {
		d.Properties = append(d.Properties, Property{headerProperty, "1"})
	}
	return d
}

// DDL renders d as a CREATE EXTERNAL TABLE statement, without a semicolon.
func (d TableDef) DDL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE %s.%s (\n", QuoteDDL(d.Database), QuoteDDL(d.Name))
	for i, c := range d.Columns {
		fmt.Fprintf(&b, "  %s %s", QuoteDDL(c.Name), c.Type)
		if i < len(d.Columns)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(")\nPARTITIONED BY (")
	for i, c := range d.PartitionKeys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", QuoteDDL(c.Name), c.Type)
	}
	fmt.Fprintf(&b, ")\nROW FORMAT SERDE %s\n", quoteString(d.SerDe))
	if len(d.SerDeParams) > 0 {
		b.WriteString("WITH SERDEPROPERTIES (\n")
		writeProperties(&b, d.SerDeParams)
		b.WriteString(")\n")
	}
	fmt.Fprintf(&b, "STORED AS INPUTFORMAT %s\nOUTPUTFORMAT %s\n", quoteString(d.InputFormat), quoteString(d.OutputFormat))
	fmt.Fprintf(&b, "LOCATION %s\nTBLPROPERTIES (\n", quoteString(d.Location))
	writeProperties(&b, d.Properties)
	b.WriteString(")")
	return b.String()
}

func writeProperties(b *strings.Builder, props []Property) {
	for i, p := range props {
		fmt.Fprintf(b, "  %s = %s", quoteString(p.Key), quoteString(p.Value))
		if i < len(props)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
}

// createView casts the raw table's text to the columns' types. The CSV
// writes NULL as an empty field, and OpenCSVSerde reads both NULL and the
// empty string as an empty string; for typed columns that can only be NULL,
// so NULLIF restores it. String columns keep the empty string (NULL and the
// empty string are not told apart). Binary columns were written as base64
// and decode back to varbinary; an empty value reads as NULL.
func createView(t Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE OR REPLACE VIEW %s.%s AS\nSELECT\n", QuoteView(t.Database), QuoteView(t.Name))
	for _, c := range t.Schema {
		col := QuoteView(c.Name)
		switch typ := TrinoType(c); typ {
		case "varchar":
			fmt.Fprintf(&b, "  %s,\n", col)
		case "varbinary":
			fmt.Fprintf(&b, "  from_base64(NULLIF(%s, '')) AS %s,\n", col, col)
		default:
			fmt.Fprintf(&b, "  CAST(NULLIF(%s, '') AS %s) AS %s,\n", col, typ, col)
		}
	}
	fmt.Fprintf(&b, "  %s\nFROM %s.%s", QuoteView(PartitionColumn), QuoteView(t.Database), QuoteView(t.Name+RawSuffix))
	return b.String()
}

// TrinoType spells the column's Athena type as Athena's SQL engine (Trino)
// names it in queries and views: the DDL's int, float and binary are
// integer, real and varbinary there, string is varchar.
func TrinoType(c schema.Column) string {
	switch typ := c.Athena(); typ {
	case "int":
		return "integer"
	case "float":
		return "real"
	case "binary":
		return "varbinary"
	case "string":
		return "varchar"
	default:
		return typ
	}
}

// QuoteDDL quotes an identifier for Athena DDL (Hive): in backticks, a
// backtick doubled. Names such as `database` are reserved words there.
func QuoteDDL(name string) string {
	return "`" + strings.ReplaceAll(strings.ToLower(name), "`", "``") + "`"
}

// QuoteView quotes an identifier for Athena queries and views (Trino): in
// double quotes, a double quote doubled.
func QuoteView(name string) string {
	return `"` + strings.ReplaceAll(strings.ToLower(name), `"`, `""`) + `"`
}

// quoteString quotes a string literal for Athena DDL (Hive), where a
// backslash escapes the next character.
func quoteString(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// AddColumns returns the ALTER TABLE that adds cols (new columns appended at
// the end) to an existing table t, for schema_drift: allow-add. For CSV it
// also returns the view's new definition.
func AddColumns(t Table, cols schema.Schema) ([]string, error) {
	def, view, err := Define(t)
	if err != nil {
		return nil, err
	}
	types := make(map[string]string, len(def.Columns))
	for _, c := range def.Columns {
		types[c.Name] = c.Type
	}
	parts := make([]string, 0, len(cols))
	for _, c := range cols {
		name := strings.ToLower(c.Name)
		typ, ok := types[name]
		if !ok {
			return nil, fmt.Errorf("athena %s.%s: %w: added column %q is not in the table's schema", t.Database, t.Name, ErrSchema, c.Name)
		}
		parts = append(parts, QuoteDDL(name)+" "+typ)
	}
	stmts := []string{fmt.Sprintf("ALTER TABLE %s.%s ADD COLUMNS (%s)", QuoteDDL(def.Database), QuoteDDL(def.Name), strings.Join(parts, ", "))}
	if view != nil {
		stmts = append(stmts, view.SQL)
	}
	return stmts, nil
}
