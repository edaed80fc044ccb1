package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// base is a valid config; cases below break one thing each.
const base = `timezone: Asia/Tokyo
sources:
  crm:
    servers:
      - name: db1
        dsn: "${CRM_DB1_DSN}"
    tenants:
      match: "^crm_"
    concurrency: 8
jobs:
  mail_send_counts:
    source: crm
    query: q.sql
    schedule: "30 3 * * *"
    merge: union
    on_tenant_error: fail
    output:
      to: s3://analytics-bucket/crm
      format: parquet
`

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

var testEnv = env(map[string]string{"CRM_DB1_DSN": "mallet:s3cret@tcp(127.0.0.1:3306)/"})

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "q.sql"), []byte("SELECT :date AS d"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "write.sql"), []byte("DELETE FROM t"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func parseFile(t *testing.T, text string, lookup func(string) (string, bool)) (*Config, error) {
	t.Helper()
	path := writeConfig(t, text)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(path, data, lookup)
}

func TestParseValid(t *testing.T) {
	cfg, err := parseFile(t, base, testEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	job := cfg.Jobs["mail_send_counts"]
	if got, want := job.Location.String(), "Asia/Tokyo"; got != want {
		t.Errorf("job location = %q, want %q", got, want)
	}
	if got, want := string(cfg.Sources["crm"].Servers[0].DSN), "mallet:s3cret@tcp(127.0.0.1:3306)/"; got != want {
		t.Errorf("dsn = %q, want %q", got, want)
	}
	if got, want := job.SQL, "SELECT :date AS d"; got != want {
		t.Errorf("SQL = %q, want %q", got, want)
	}
	if got, want := cfg.Sources["crm"].Columns.Database, "database"; got != want {
		t.Errorf("database column = %q, want %q", got, want)
	}
	if got, want := job.Athena, (Athena{Database: "mallet", Table: "mail_send_counts"}); got.Database != want.Database || got.Table != want.Table || got.UsesGlue() {
		t.Errorf("athena = %+v (glue %v), want %+v, glue off", got, got.UsesGlue(), want)
	}
	if got, want := job.SchemaDrift, DriftFail; got != want {
		t.Errorf("schema_drift = %q, want %q", got, want)
	}
}

func TestAthenaDefaultTable(t *testing.T) {
	text := strings.Replace(base, "  mail_send_counts:\n", "  Mail-Counts:\n", 1)
	text = strings.Replace(text, "    merge: union\n", "    merge: union\n    schema_drift: allow-add\n", 1)
	cfg, err := parseFile(t, text, testEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	job := cfg.Jobs["Mail-Counts"]
	if got, want := job.Athena.Table, "mail_counts"; got != want {
		t.Errorf("default table = %q, want %q", got, want)
	}
	if got, want := job.SchemaDrift, DriftAllowAdd; got != want {
		t.Errorf("schema_drift = %q, want %q", got, want)
	}
}

// TestAthenaDefaults checks that each key of a job's athena: overrides the
// top-level one on its own, and that glue with a local output is refused on
// the line that turned glue on.
func TestAthenaDefaults(t *testing.T) {
	tests := []struct {
		name      string
		top, job  string // YAML under athena:, indented
		to        string
		wantDB    string
		wantTable string
		wantGlue  bool
		wantErr   string // "line:text"
	}{
		{"defaults", "", "", "s3://b/p", "mallet", "mail_send_counts", false, ""},
		{"top level", "  database: analytics\n  glue: true\n", "", "s3://b/p", "analytics", "mail_send_counts", true, ""},
		{"job overrides database only", "  database: analytics\n  glue: true\n", "      database: crm\n", "s3://b/p", "crm", "mail_send_counts", true, ""},
		{"job turns glue off", "  glue: true\n", "      glue: false\n", "./out", "mallet", "mail_send_counts", false, ""},
		{"job names its table", "  database: analytics\n", "      table: sends\n", "s3://b/p", "analytics", "sends", false, ""},
		{"inherited glue, local output", "  glue: true\n", "", "./out", "", "", false, "3:athena.glue is on"},
		{"job glue, local output", "", "      glue: true\n", "./out", "", "", false, `17:athena.glue is on but output.to "./out" is not on s3://`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(base, "to: s3://analytics-bucket/crm", "to: "+tt.to, 1)
			if tt.top != "" {
				text = strings.Replace(text, "sources:\n", "athena:\n"+tt.top+"sources:\n", 1)
			}
			if tt.job != "" {
				text = strings.Replace(text, "    merge: union\n", "    merge: union\n    athena:\n"+tt.job, 1)
			}
			cfg, err := parseFile(t, text, testEnv)
			if tt.wantErr != "" {
				line, msg, _ := strings.Cut(tt.wantErr, ":")
				if err == nil || !strings.Contains(err.Error(), "config.yaml:"+line+": ") || !strings.Contains(err.Error(), msg) {
					t.Fatalf("got %v, want an error on line %s containing %q", err, line, msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a := cfg.Jobs["mail_send_counts"].Athena
			if a.Database != tt.wantDB || a.Table != tt.wantTable || a.UsesGlue() != tt.wantGlue {
				t.Errorf("got database %q table %q glue %v, want %q %q %v", a.Database, a.Table, a.UsesGlue(), tt.wantDB, tt.wantTable, tt.wantGlue)
			}
			if a.Glue == nil {
				t.Error("Glue is nil after Parse")
			}
		})
	}
}

func TestQuickSightConfig(t *testing.T) {
	text := strings.Replace(base, "sources:\n", "quicksight:\n  account_id: \"123456789012\"\n  wait: 10m\nsources:\n", 1)
	text = strings.Replace(text, "    merge: union\n", "    merge: union\n    quicksight: {datasets: [mail-send-counts, 0f1e2d3c-aaaa-bbbb-cccc-000000000000]}\n", 1)
	cfg, err := parseFile(t, text, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.QuickSight, (QuickSight{AccountID: "123456789012", Wait: 10 * time.Minute}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got, want := cfg.Jobs["mail_send_counts"].QuickSight.Datasets, []string{"mail-send-counts", "0f1e2d3c-aaaa-bbbb-cccc-000000000000"}; !slices.Equal(got, want) {
		t.Errorf("datasets %q, want %q", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		replace [2]string // old, new applied to base
		env     func(string) (string, bool)
		line    int
		want    string
	}{
		{"unknown key", [2]string{"    merge: union\n", "    merge: union\n    mrege: union\n"}, nil, 16, "unknown key mrege"},
		{"unknown top-level key", [2]string{"timezone: Asia/Tokyo\n", "timezone: Asia/Tokyo\nretries: 3\n"}, nil, 2, "unknown key retries"},
		{"wrong type", [2]string{"concurrency: 8", "concurrency: many"}, nil, 9, "cannot unmarshal !!str `many` into int"},
		{"missing query file", [2]string{"query: q.sql", "query: nope.sql"}, nil, 13, "query file nope.sql: no such file or directory"},
		{"query that writes", [2]string{"query: q.sql", "query: write.sql"}, nil, 13, "statement starts with DELETE"},
		{"unknown source", [2]string{"source: crm", "source: crn"}, nil, 12, `unknown source "crn"`},
		{"bad regexp", [2]string{`match: "^crm_"`, `match: "^crm_("`}, nil, 8, "tenants.match: bad regexp"},
		{"bad cron spec", [2]string{`schedule: "30 3 * * *"`, `schedule: "30 25 * * *"`}, nil, 14, `schedule "30 25 * * *"`},
		{"unset variable", [2]string{}, env(nil), 6, "environment variable CRM_DB1_DSN is not set"},
		{"bad merge", [2]string{"merge: union", "merge: concat"}, nil, 15, `merge "concat": want union or aggregate`},
		{"bad policy", [2]string{"on_tenant_error: fail", "on_tenant_error: ignore"}, nil, 16, `on_tenant_error "ignore"`},
		{"bad format", [2]string{"format: parquet", "format: xlsx"}, nil, 19, `unknown format "xlsx"`},
		{"bad timezone", [2]string{"timezone: Asia/Tokyo", "timezone: Mars/Olympus"}, nil, 1, `timezone "Mars/Olympus"`},
		{"bad output scheme", [2]string{"to: s3://analytics-bucket/crm", "to: gs://bucket/x"}, nil, 18, "unsupported scheme"},
		{"aggregate without group_by", [2]string{"merge: union", "merge: aggregate"}, nil, 15, "merge aggregate needs group_by"},
		{"multiStatements", [2]string{}, env(map[string]string{"CRM_DB1_DSN": "u:p@tcp(h:3306)/?multiStatements=true"}), 6, "multiStatements"},
		{"yaml syntax", [2]string{"    merge: union\n", "    merge: [union\n"}, nil, 15, "did not find expected"},
		{"bad athena table", [2]string{"    merge: union\n", "    merge: union\n    athena:\n      table: Mail-Counts\n"}, nil, 17, `athena.table "Mail-Counts" is not a valid Athena name`},
		{"bad athena database", [2]string{"    merge: union\n", "    merge: union\n    athena:\n      database: a.b\n"}, nil, 17, `athena.database "a.b"`},
		{"system schema listed", [2]string{`match: "^crm_"`, `list: [db1/crm_t1, db1/mysql]`}, nil, 8, `tenant "db1/mysql": mysql is a system schema, never a tenant`},
		{"system schema listed without server", [2]string{`match: "^crm_"`, `list: [crm_t1, Information_Schema]`}, nil, 8, `Information_Schema is a system schema`},
		{"top-level athena table", [2]string{"sources:\n", "athena:\n  table: t\nsources:\n"}, nil, 3, "athena.table names one job's table"},
		{"bad top-level database", [2]string{"sources:\n", "athena:\n  database: A-B\nsources:\n"}, nil, 3, `athena.database "A-B"`},
		{"datasets without account", [2]string{"    merge: union\n", "    merge: union\n    quicksight:\n      datasets: [abc]\n"}, nil, 17, "quicksight.datasets need quicksight.account_id"},
		{"bad account id", [2]string{"sources:\n", "quicksight:\n  account_id: 1234\nsources:\n"}, nil, 3, `quicksight.account_id "1234"`},
		{"bad dataset id", [2]string{"    merge: union\n", "    merge: union\n    quicksight:\n      datasets: [a/b]\n"}, nil, 17, `dataset id "a/b"`},
		{"dataset twice", [2]string{"    merge: union\n", "    merge: union\n    quicksight:\n      datasets:\n        - abc\n        - abc\n"}, nil, 19, `dataset "abc" listed twice`},
		{"quicksight datasets at top level", [2]string{"sources:\n", "quicksight:\n  datasets: [abc]\nsources:\n"}, nil, 3, "unknown key datasets"},
		{"negative wait", [2]string{"sources:\n", "quicksight:\n  wait: -1m\nsources:\n"}, nil, 3, "quicksight.wait must not be negative"},
		{"bad schema_drift", [2]string{"    merge: union\n", "    merge: union\n    schema_drift: allow\n"}, nil, 16, `schema_drift "allow": want fail or allow-add`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := base
			if tt.replace[0] != "" {
				if !strings.Contains(base, tt.replace[0]) {
					t.Fatalf("test bug: %q not in base", tt.replace[0])
				}
				text = strings.Replace(base, tt.replace[0], tt.replace[1], 1)
			}
			lookup := tt.env
			if lookup == nil {
				lookup = testEnv
			}
			_, err := parseFile(t, text, lookup)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, want *Error", err)
			}
			found := false
			for _, p := range ce.Problems {
				if p.Line == tt.line && strings.Contains(p.Msg, tt.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("got problems %+v, want one on line %d containing %q", ce.Problems, tt.line, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error text contains the password: %v", err)
			}
		})
	}
}

// TestParseReportsAllProblems checks that problems are reported together,
// not one per attempt.
func TestParseReportsAllProblems(t *testing.T) {
	text := strings.NewReplacer(`schedule: "30 3 * * *"`, `schedule: "bad"`,
		"source: crm", "source: nope", "format: parquet", "format: xml").Replace(base)
	_, err := parseFile(t, text, testEnv)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want *Error", err)
	}
	if got, want := len(ce.Problems), 3; got != want {
		t.Errorf("got %d problems, want %d: %v", got, want, err)
	}
	for _, line := range []string{"config.yaml:12:", "config.yaml:14:", "config.yaml:19:"} {
		if !strings.Contains(err.Error(), line) {
			t.Errorf("error %q does not name %s", err, line)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("user:pw@tcp(h)/")
	for _, got := range []string{s.String(), s.GoString()} {
		if strings.Contains(got, "pw") {
			t.Errorf("secret printed as %q", got)
		}
	}
}

// TestYAMLSyntaxLines checks the line of each kind of syntax error against
// the line a reader has to fix: yaml.v3 numbers its scanner's errors from 1
// and its parser's from 0.
func TestYAMLSyntaxLines(t *testing.T) {
	tests := []struct {
		name    string
		replace [2]string
		line    int
		want    string
	}{
		{"tab in indentation", [2]string{"    merge: union\n", "\tmerge: union\n"}, 15, "cannot start any token"},
		{"tab after a plain value", [2]string{"    query: q.sql\n", "    query: q.sql\n\tmode: window\n"}, 14, "tab character that violates indentation"},
		{"unclosed quote", [2]string{`    schedule: "30 3 * * *"`, `    schedule: "30 3 * * *`}, 14, "unexpected end of stream"},
		{"colon in a plain value", [2]string{"    merge: union\n", "    merge: union: aggregate\n"}, 15, "mapping values are not allowed"},
		{"character that starts no token", [2]string{"    merge: union\n", "    merge: @union\n"}, 15, "cannot start any token"},
		{"unclosed flow sequence", [2]string{"    merge: union\n", "    merge: [union\n"}, 15, "did not find expected ',' or ']'"},
		{"key indented less than its siblings", [2]string{"    merge: union\n", "   merge: union\n"}, 11, "did not find expected key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(base, tt.replace[0]) {
				t.Fatalf("test bug: %q not in base", tt.replace[0])
			}
			_, err := parseFile(t, strings.Replace(base, tt.replace[0], tt.replace[1], 1), testEnv)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want *Error", err)
			}
			if len(ce.Problems) != 1 {
				t.Fatalf("got %d problems, want 1: %v", len(ce.Problems), err)
			}
			if p := ce.Problems[0]; p.Line != tt.line || !strings.Contains(p.Msg, tt.want) {
				t.Errorf("got line %d %q, want line %d containing %q", p.Line, p.Msg, tt.line, tt.want)
			}
		})
	}
}

// TestOneProblemPerMistake checks that a mistake is reported once, and not
// again as a consequence elsewhere.
func TestOneProblemPerMistake(t *testing.T) {
	tests := []struct {
		name    string
		replace [2]string
		want    string
	}{
		{"query that writes, mode window", [2]string{"query: q.sql", "query: write.sql\n    mode: window"}, "statement starts with DELETE"},
		{"query that writes, mode incremental", [2]string{"query: q.sql", "query: write.sql\n    mode: incremental\n    cursor: id"}, "statement starts with DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFile(t, strings.Replace(base, tt.replace[0], tt.replace[1], 1), testEnv)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want *Error", err)
			}
			if len(ce.Problems) != 1 || !strings.Contains(ce.Problems[0].Msg, tt.want) {
				t.Errorf("got %v, want exactly one problem containing %q", err, tt.want)
			}
		})
	}
}

func TestTLSOption(t *testing.T) {
	tests := []struct {
		name, tls, dsn string
		want           string // the parsed TLS option
		problem        string // or the problem reported
	}{
		{"false is off", "false", "", "", ""},
		{"quoted false is off", `"false"`, "", "", ""},
		{"true", "true", "", "true", ""},
		{"skip-verify", "skip-verify", "", "skip-verify", ""},
		{"false beside tls in the dsn", "false", "?tls=true", "", "tls is false here but set in the dsn"},
		{"true beside tls in the dsn", "true", "?tls=true", "", "tls is set both here and in the dsn"},
		{"missing CA file", "ca.pem", "", "", "ca.pem: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(base, `dsn: "${CRM_DB1_DSN}"`, `dsn: "${CRM_DB1_DSN}`+tt.dsn+`"`+"\n        tls: "+tt.tls, 1)
			cfg, err := parseFile(t, text, testEnv)
			if tt.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tt.problem) {
					t.Fatalf("got %v, want a problem containing %q", err, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Sources["crm"].Servers[0].TLS; got != tt.want {
				t.Errorf("tls: got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestParseOffline checks that an offline parse lets a DSN that needs an
// unset variable pass as a note, leaves it unusable, and still reports
// every other problem, unset variables outside DSNs included.
func TestParseOffline(t *testing.T) {
	t.Run("unset dsn variable is a note", func(t *testing.T) {
		path := writeConfig(t, base)
		data, _ := os.ReadFile(path)
		cfg, err := ParseOffline(path, data, env(nil))
		if err != nil {
			t.Fatalf("ParseOffline: %v", err)
		}
		if len(cfg.Notes) != 1 || cfg.Notes[0].Line != 6 || !strings.Contains(cfg.Notes[0].Msg, "CRM_DB1_DSN is not set") {
			t.Errorf("notes: got %+v, want one on line 6 naming CRM_DB1_DSN", cfg.Notes)
		}
		if got, want := string(cfg.Sources["crm"].Servers[0].DSN), "${CRM_DB1_DSN}"; got != want {
			t.Errorf("dsn: got %q, want %q left as written", got, want)
		}
		if _, err := Parse(path, data, env(nil)); err == nil {
			t.Error("Parse (online) accepted the unset variable")
		}
	})
	t.Run("set dsn variable is checked", func(t *testing.T) {
		path := writeConfig(t, base)
		data, _ := os.ReadFile(path)
		_, err := ParseOffline(path, data, env(map[string]string{"CRM_DB1_DSN": "u:p@tcp(h:3306)/?multiStatements=true"}))
		if err == nil || !strings.Contains(err.Error(), "multiStatements") {
			t.Errorf("got %v, want the multiStatements problem", err)
		}
	})
	t.Run("unset variable outside a dsn is a problem", func(t *testing.T) {
		text := strings.Replace(base, "to: s3://analytics-bucket/crm", `to: "${OUT}"`, 1)
		path := writeConfig(t, text)
		data, _ := os.ReadFile(path)
		_, err := ParseOffline(path, data, env(nil))
		if err == nil || !strings.Contains(err.Error(), "config.yaml:18: environment variable OUT is not set") {
			t.Errorf("got %v, want the unset OUT reported on line 18", err)
		}
	})
	t.Run("other problems are still reported", func(t *testing.T) {
		text := strings.NewReplacer("format: parquet", "format: xml", "concurrency: 8", "concurrency: -1").Replace(base)
		path := writeConfig(t, text)
		data, _ := os.ReadFile(path)
		_, err := ParseOffline(path, data, env(nil))
		for _, want := range []string{"config.yaml:9: source crm: concurrency", "config.yaml:19: job mail_send_counts: output.format"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want a problem containing %q", err, want)
			}
		}
		if err != nil && strings.Contains(err.Error(), "CRM_DB1_DSN") {
			t.Errorf("the unset DSN variable is a problem offline: %v", err)
		}
	})
}
