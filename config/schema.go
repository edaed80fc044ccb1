package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mallet-etl/mallet/schema"
)

// JSONSchema returns the JSON Schema (draft-07) of the config file, for
// editors (the yaml-language-server comment at the top of config.yaml) and
// linters. It is derived from the Config type by reflection, so every key
// Parse accepts is in it and no other: fields tagged yaml:"-" are left out,
// inline structs are merged, and every object refuses unknown keys as Parse
// does. schemaNotes adds what the types cannot say (descriptions, allowed
// values, required keys), checked against the types when the schema is
// built. The schema checks the text as written, before ${VAR} expansion,
// as Parse's strict first pass does: any string value may hold "${".
//
// It validates less than Parse (no regexps compiled, no files read), never
// more: a config Parse accepts is valid against it.
func JSONSchema() ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}, used: map[string]bool{}}
	root, err := g.object(reflect.TypeFor[Config]())
	if err != nil {
		return nil, err
	}
	for key := range schemaNotes {
		if !g.used[key] {
			return nil, fmt.Errorf("config schema: note for %s, which is no field of the config types", key)
		}
	}
	root["$schema"] = "http://json-schema.org/draft-07/schema#"
	root["title"] = "mallet config.yaml"
	g.defs["env"] = map[string]any{
		"description": "a value taken from the environment when the config is read: ${VAR} or ${VAR:-default}",
		"type":        "string",
		"pattern":     `\$\{`,
	}
	root["definitions"] = g.defs
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("config schema: %w", err)
	}
	return append(b, '\n'), nil
}

// schemaNote is what the schema says about one field beyond its type.
type schemaNote struct {
	doc      string
	enum     []string // the values the field takes
	pattern  string   // a regexp every value matches
	keys     string   // a map's keys match this regexp
	required bool
	also     []any // other schemas the value may match, as well as its type's
}

// Patterns of values the types cannot express.
var (
	// durationPattern is a non-negative Go duration ("90s", "1h30m", "0").
	durationPattern = `^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	// lookbackPattern is a Lookback: a duration or a non-negative integer.
	lookbackPattern = `^([0-9]+|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	// sizePattern is a Size: bytes, or a whole number with a unit.
	sizePattern = `^[0-9]+ ?(B|KB|MB|GB|KiB|MiB|GiB)?$`
)

// schemaNotes annotates fields by "Type.Field" (Go names). JSONSchema fails
// when a key names no field, so a renamed field cannot leave a note behind.
var schemaNotes = map[string]schemaNote{
	"Config.Timezone":   {doc: "IANA time zone for run dates and query windows (default UTC)"},
	"Config.S3":         {doc: "options of every s3:// output"},
	"Config.Athena":     {doc: "defaults for every job's athena: keys; a job's own keys override them one by one"},
	"Config.QuickSight": {doc: "where the SPICE datasets that jobs refresh live"},
	"Config.Sources":    {doc: "tenant groups: databases that share one schema", required: true, keys: validName.String()},
	"Config.Jobs":       {doc: "extractions, by name", required: true, keys: validName.String()},

	"S3.PathStyle": {doc: "path-style addressing, for MinIO and other S3-compatible servers (also MALLET_S3_PATH_STYLE=true)"},
	"S3.Region":    {doc: "bucket region (default: the SDK's chain, else us-east-1)"},
	"S3.SSE":       {doc: "server-side encryption of every object", enum: []string{"AES256", "aws:kms"}},
	"S3.KMSKeyID":  {doc: "KMS key for sse: aws:kms"},

	"Source.Servers":        {doc: "the MySQL servers holding the source's databases", required: true},
	"Source.Tenants":        {doc: "which databases are tenants: exactly one of match, list or registry", required: true},
	"Source.Concurrency":    {doc: "tenants extracted at once (default 4)"},
	"Source.MaxConnections": {doc: "open connections per server at most (default concurrency)"},
	"Source.Columns":        {doc: "names of the tenant columns added in front of every row"},
	"Source.QueryTimeout":   {doc: "bound on one tenant's query, enforced by the server and the client (default none)"},
	"Source.TenantTimeout":  {doc: "bound on one tenant, all its tries (default none)"},

	"TenantColumns.Server":   {doc: "name of the server column (default server)"},
	"TenantColumns.Database": {doc: "name of the database column (default database)"},

	"Server.Name": {doc: "server name used in tenant lists, the registry and the server column", required: true},
	"Server.DSN":  {doc: `go-sql-driver DSN without a database, normally "${VAR}": user:pass@tcp(host:3306)/`, required: true},
	"Server.TLS": {doc: "TLS to the server: true (system CAs), false (off), skip-verify, or a PEM CA bundle file relative to the config file",
		also: []any{map[string]any{"type": "boolean"}}},

	"Tenants.Match":    {doc: "regexp (Go RE2) over database names on every server"},
	"Tenants.List":     {doc: "server/database entries, or database when the source has one server"},
	"Tenants.Registry": {doc: "a query on one server whose rows name the tenants"},
	"Tenants.Exclude":  {doc: "regexp of database names to leave out"},

	"Registry.Server": {doc: "the source's server the query runs on", required: true},
	"Registry.Query":  {doc: "one SELECT returning columns server and database; every other column becomes an attribute column", required: true},

	"Job.Source":        {doc: "a source name", required: true},
	"Job.Query":         {doc: "SQL file, relative to the config file's folder: one SELECT or WITH ... SELECT", required: true},
	"Job.Schedule":      {doc: `cron: five fields "min hour dom month dow", or @daily, @hourly, @every 1h (default: manual runs only)`},
	"Job.Timezone":      {doc: "the job's own IANA time zone (default the config's)"},
	"Job.Merge":         {doc: "union: whole tenants packed into parts of output.file_size; aggregate: group all tenants' rows", enum: []string{MergeUnion, MergeAggregate}},
	"Job.OnTenantError": {doc: "fail: publish nothing if a tenant fails; skip: publish the others and exit 3", enum: []string{OnErrorFail, OnErrorSkip}},
	"Job.Output":        {doc: "where and how the result is written", required: true},
	"Job.Athena":        {doc: "names in the Athena DDL, and whether runs keep the Glue catalog in step"},
	"Job.QuickSight":    {doc: "SPICE datasets refreshed after each publish"},
	"Job.CatchUp":       {doc: "window: how far back a run without --date publishes the windows not yet committed (default 168h daily, 48h hourly)"},

	"JobQuickSight.Datasets": {doc: "ids of SPICE datasets to refresh (full refresh) after each publish"},

	"QuickSight.AccountID": {doc: "AWS account of the SPICE datasets: 12 digits, quoted; required when a job lists datasets"},
	"QuickSight.Region":    {doc: "region of the datasets (default: the SDK's chain)"},
	"QuickSight.Wait":      {doc: "how long a run waits for its SPICE refreshes to end (default 0: start them only)"},
	"Job.SchemaDrift":      {doc: "what a run does when its columns differ from the last committed run's", enum: []string{DriftFail, DriftAllowAdd}},
	"Job.Mode":             {doc: "snapshot: the whole result; window: the previous day or hour; incremental: rows past the last cursor", enum: []string{ModeSnapshot, ModeWindow, ModeIncremental}},
	"Job.Cursor":           {doc: "incremental: the column runs resume from"},
	"Job.Key":              {doc: "incremental: the rows' unique key column (default the cursor)"},
	"Job.Lookback":         {doc: "incremental: re-read this far behind the cursor: a duration (10m) or, for integer cursors, a count"},
	"Job.LeaseTTL":         {doc: "lease lifetime, renewed every third of it (default 60s)"},
	"Job.RunTimeout":       {doc: "bound on the whole run; on expiry it is cancelled and publishes nothing (default none)"},

	"Aggregate.GroupBy":   {doc: "aggregate: columns to group by"},
	"Aggregate.Sum":       {doc: "aggregate: columns to sum (exact for integers and decimals)"},
	"Aggregate.Min":       {doc: "aggregate: columns to take the minimum of"},
	"Aggregate.Max":       {doc: "aggregate: columns to take the maximum of"},
	"Aggregate.Count":     {doc: "aggregate: name of an added column counting rows per group"},
	"Aggregate.MaxGroups": {doc: "aggregate: groups held in memory at most (default 1000000)"},

	"Athena.Glue":      {doc: "after each commit, make the job's table in the AWS Glue Data Catalog what mallet athena ddl prints (needs output.to on s3://)"},
	"Athena.FirstDate": {doc: "first date (YYYY-MM-DD) of the table's projected dt range; runs dated before it are refused (default 2000-01-01)", pattern: `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`},
	"Athena.Database":  {doc: "Athena database (default mallet)", pattern: athenaName.String()},
	"Athena.Table":     {doc: "Athena table (default the job name)", pattern: athenaName.String()},

	"Output.To":       {doc: "s3://bucket/prefix, file:///abs/path or a folder relative to the working directory", required: true},
	"Output.Format":   {doc: "file format (default parquet)", enum: formatNames()},
	"Output.FileSize": {doc: "union: a part closes once its output reaches this: bytes, or 128MiB, 100MB (default 128MiB)"},
	"Output.FileRows": {doc: "union: a part also closes once it holds this many rows (default none)"},
}

type schemaGen struct {
	defs map[string]any
	used map[string]bool // schemaNotes keys seen
}

var envRefSchema = map[string]any{"$ref": "#/definitions/env"}

// object returns the schema of a struct type's YAML mapping.
func (g *schemaGen) object(t reflect.Type) (map[string]any, error) {
	props := map[string]any{}
	var required []string
	if err := g.fields(t, props, &required); err != nil {
		return nil, err
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	if t == reflect.TypeFor[Tenants]() {
		// exactly one way to find the tenants
		s["oneOf"] = []any{
			map[string]any{"required": []string{"match"}},
			map[string]any{"required": []string{"list"}},
			map[string]any{"required": []string{"registry"}},
		}
	}
	return s, nil
}

// fields adds the YAML keys of struct t (and of its inline structs) to props.
func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) error {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			if err := g.fields(f.Type, props, required); err != nil {
				return err
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // as yaml.v3 does
		}
		key := t.Name() + "." + f.Name
		note := schemaNotes[key]
		g.used[key] = true
		s, err := g.value(f.Type, note)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if note.doc != "" {
			if ref, ok := s["$ref"]; ok {
				// draft-07 ignores the siblings of $ref
				s = map[string]any{"allOf": []any{map[string]any{"$ref": ref}}}
			}
			s["description"] = note.doc
		}
		props[name] = s
		if note.required {
			*required = append(*required, name)
		}
	}
	return nil
}

// value returns the schema of one field's value.
func (g *schemaGen) value(t reflect.Type, note schemaNote) (map[string]any, error) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// Only string fields take ${VAR}: the strict first pass decodes the
	// text as written, where "${VAR}" is no number, bool or duration.
	scalar := func(s map[string]any) map[string]any {
		if note.also == nil {
			return s
		}
		return map[string]any{"anyOf": append([]any{s}, note.also...)}
	}
	str := func(s map[string]any) map[string]any {
		alts := append([]any{s}, note.also...)
		return map[string]any{"anyOf": append(alts, envRefSchema)}
	}
	switch t {
	case reflect.TypeFor[time.Duration]():
		return scalar(map[string]any{"type": "string", "pattern": durationPattern}), nil
	case reflect.TypeFor[Size]():
		return scalar(map[string]any{"anyOf": []any{
			map[string]any{"type": "integer", "minimum": 0},
			map[string]any{"type": "string", "pattern": sizePattern},
		}}), nil
	case reflect.TypeFor[Lookback]():
		return scalar(map[string]any{"anyOf": []any{
			map[string]any{"type": "integer", "minimum": 0},
			map[string]any{"type": "string", "pattern": lookbackPattern},
		}}), nil
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		return nil, fmt.Errorf("type %s decodes itself: say what it accepts in config/schema.go", t)
	}
	switch t.Kind() {
	case reflect.String:
		s := map[string]any{"type": "string"}
		if note.enum != nil {
			s = map[string]any{"enum": note.enum}
		}
		if note.pattern != "" {
			s["pattern"] = note.pattern
		}
		if note.enum == nil && note.pattern == "" && note.also == nil {
			return s, nil // a plain string may hold ${VAR} anyway
		}
		return str(s), nil
	case reflect.Bool:
		return scalar(map[string]any{"type": "boolean"}), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar(map[string]any{"type": "integer"}), nil
	case reflect.Float32, reflect.Float64:
		return scalar(map[string]any{"type": "number"}), nil
	case reflect.Slice:
		items, err := g.value(t.Elem(), schemaNote{})
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": items}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key %s: only string keys", t.Key())
		}
		v, err := g.value(t.Elem(), schemaNote{})
		if err != nil {
			return nil, err
		}
		s := map[string]any{"type": "object", "additionalProperties": v}
		if note.keys != "" {
			s["propertyNames"] = map[string]any{"pattern": note.keys}
		}
		return s, nil
	case reflect.Struct:
		name := t.Name()
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // a placeholder against recursion
			def, err := g.object(t)
			if err != nil {
				return nil, err
			}
			g.defs[name] = def
		}
		return map[string]any{"$ref": "#/definitions/" + name}, nil
	}
	return nil, fmt.Errorf("type %s: no JSON Schema for its kind; teach config/schema.go", t)
}

func formatNames() []string {
	var names []string
	for _, f := range schema.Formats() {
		names = append(names, string(f))
	}
	return names
}
