package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// The schema file is what "mallet config schema" prints; regenerate it with
//
//	go run ./cmd/mallet config schema > config/config.schema.json
const schemaFile = "config.schema.json"

func TestSchemaFileUpToDate(t *testing.T) {
	want, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("config/%s differs from the config types' schema: run\n\tgo run ./cmd/mallet config schema > config/%s", schemaFile, schemaFile)
	}
}

// compiledSchema compiles the shipped schema file with a JSON Schema
// library of its own, so the file is checked as an editor reads it.
func compiledSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaFile, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(schemaFile)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaFile, err)
	}
	return s
}

// validateYAML validates config text as written against the schema.
func validateYAML(t *testing.T, s *jsonschema.Schema, text string) error {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("yaml: %v\n%s", err, text)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

// schemaEnv sets every ${..._DSN} to a valid DSN and leaves the rest unset.
func schemaEnv(name string) (string, bool) {
	if strings.HasSuffix(name, "_DSN") {
		return "mallet:pw@tcp(127.0.0.1:3306)/", true
	}
	return "", false
}

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestShippedConfigsMatchSchema validates every config the repository
// ships or documents, and every config of the tests that Parse accepts,
// against the schema: none may be flagged in an editor.
func TestShippedConfigsMatchSchema(t *testing.T) {
	s := compiledSchema(t)
	configs := map[string]string{} // name -> text
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	configs["config.yaml"] = read("../config.yaml")
	docs, _ := filepath.Glob("../docs/*.md")
	for _, doc := range append(docs, "../README.md") {
		for i, m := range yamlBlock.FindAllStringSubmatch(read(doc), -1) {
			if strings.Contains(m[1], "sources:") && strings.Contains(m[1], "jobs:") {
				configs[filepath.Base(doc)+" block "+string(rune('1'+i))] = m[1]
			}
		}
	}
	if len(configs) < 2 {
		t.Fatalf("found %d configs, want config.yaml and README's example at least", len(configs))
	}
	corpus, _ := filepath.Glob("testdata/fuzz/FuzzParseConfig/*")
	for _, f := range corpus {
		configs["fuzz corpus "+filepath.Base(f)] = fuzzEntry(t, f)
	}
	shipped, err := filepath.Abs("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for name, text := range configs {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(shipped, []byte(text), schemaEnv); err != nil {
				if !strings.HasPrefix(name, "fuzz corpus") {
					t.Fatalf("Parse refuses a shipped config: %v", err)
				}
				return // the corpus holds broken configs on purpose
			}
			checked++
			if err := validateYAML(t, s, text); err != nil {
				t.Errorf("Parse accepts it, the schema does not:\n%v\n%s", err, text)
			}
		})
	}
	t.Run("config_test base", func(t *testing.T) {
		if _, err := parseFile(t, base, testEnv); err != nil {
			t.Fatal(err)
		}
		if err := validateYAML(t, s, base); err != nil {
			t.Errorf("Parse accepts it, the schema does not:\n%v", err)
		}
	})
	if checked < 4 {
		t.Errorf("validated %d configs, want at least 5", checked)
	}
}

// fuzzEntry reads the config text of a fuzz corpus file.
func fuzzEntry(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var text string
	for _, l := range strings.Split(string(b), "\n") {
		if q, ok := strings.CutPrefix(l, "[]byte("); ok {
			if err := json.Unmarshal([]byte(strings.TrimSuffix(q, ")")), &text); err != nil {
				return "" // Go escapes JSON cannot read: not a config anyway
			}
		}
	}
	return text
}

// TestSchemaRefuses checks that mistakes Parse refuses and the schema can
// see are flagged by the schema too.
func TestSchemaRefuses(t *testing.T) {
	s := compiledSchema(t)
	tests := []struct {
		name    string
		replace [2]string
	}{
		{"unknown top-level key", [2]string{"timezone: Asia/Tokyo\n", "timezone: Asia/Tokyo\nretries: 3\n"}},
		{"unknown job key", [2]string{"    merge: union\n", "    merge: union\n    mrege: union\n"}},
		{"unknown server key", [2]string{"      - name: db1\n", "      - name: db1\n        port: 3306\n"}},
		{"wrong type", [2]string{"concurrency: 8", "concurrency: many"}},
		{"bad merge", [2]string{"merge: union", "merge: concat"}},
		{"bad policy", [2]string{"on_tenant_error: fail", "on_tenant_error: ignore"}},
		{"bad format", [2]string{"format: parquet", "format: xlsx"}},
		{"bad mode", [2]string{"merge: union", "merge: union\n    mode: daily"}},
		{"bad duration", [2]string{"concurrency: 8", "concurrency: 8\n    query_timeout: 10 minutes"}},
		{"negative duration", [2]string{"concurrency: 8", "concurrency: 8\n    query_timeout: -1s"}},
		{"no output.to", [2]string{"      to: s3://analytics-bucket/crm\n", ""}},
		{"two tenant selectors", [2]string{`      match: "^crm_"`, `      match: "^crm_"` + "\n      list: [a]"}},
		{"no tenant selector", [2]string{`      match: "^crm_"`, `      exclude: "^x"`}},
		{"bad job name", [2]string{"  mail_send_counts:\n", "  mail send counts:\n"}},
		{"bad athena table", [2]string{"    merge: union\n", "    merge: union\n    athena:\n      table: Mail-Counts\n"}},
		{"bad sse", [2]string{"timezone: Asia/Tokyo\n", "timezone: Asia/Tokyo\ns3:\n  sse: KMS\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(base, tt.replace[0]) {
				t.Fatalf("test bug: %q not in base", tt.replace[0])
			}
			text := strings.Replace(base, tt.replace[0], tt.replace[1], 1)
			if _, err := parseFile(t, text, testEnv); err == nil {
				t.Fatalf("test bug: Parse accepts it")
			}
			if err := validateYAML(t, s, text); err == nil {
				t.Errorf("the schema accepts a config Parse refuses:\n%s", text)
			}
		})
	}
}

// TestSchemaEnvReferences checks that the schema takes ${VAR} where Parse
// does (string values, those with fixed values included) and not where
// Parse does not (numbers, booleans, durations).
func TestSchemaEnvReferences(t *testing.T) {
	s := compiledSchema(t)
	tests := []struct {
		name    string
		replace [2]string
		ok      bool
	}{
		{"format", [2]string{"format: parquet", `format: "${FORMAT:-parquet}"`}, true},
		{"merge", [2]string{"merge: union", `merge: "${MERGE:-union}"`}, true},
		{"tls", [2]string{`dsn: "${CRM_DB1_DSN}"`, `dsn: "${CRM_DB1_DSN}"` + "\n        tls: \"${TLS:-true}\""}, true},
		{"concurrency", [2]string{"concurrency: 8", `concurrency: "${CONCURRENCY:-8}"`}, false},
		{"query_timeout", [2]string{"concurrency: 8", "concurrency: 8\n    query_timeout: \"${QT:-10m}\""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(base, tt.replace[0], tt.replace[1], 1)
			_, perr := parseFile(t, text, testEnv)
			serr := validateYAML(t, s, text)
			if (perr == nil) != tt.ok {
				t.Fatalf("test bug: Parse: got %v, want ok %v", perr, tt.ok)
			}
			if (serr == nil) != tt.ok {
				t.Errorf("schema: got %v, want ok %v (as Parse)", serr, tt.ok)
			}
		})
	}
}
