package config

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/extract"
	"github.com/mallet-etl/mallet/schema"
)

// TestParsedSelector checks that a source keeps its tenants parsed: the
// regexps compiled from the text, list entries split, the registry query
// compiled.
func TestParsedSelector(t *testing.T) {
	const servers = `    servers:
      - name: db1
        dsn: "${CRM_DB1_DSN}"
`
	const twoServers = servers + `      - name: db2
        dsn: "${CRM_DB1_DSN}"
`
	for _, tt := range []struct {
		name, servers, tenants string
		check                  func(t *testing.T, sel extract.Selector)
	}{
		{"match and exclude", servers, `{match: "^crm_", exclude: "_test$"}`, func(t *testing.T, sel extract.Selector) {
			if sel.Match == nil || sel.Match.String() != "^crm_" {
				t.Errorf("Match = %v, want ^crm_", sel.Match)
			}
			if sel.Exclude == nil || sel.Exclude.String() != "_test$" {
				t.Errorf("Exclude = %v, want _test$", sel.Exclude)
			}
			if sel.List != nil || sel.Registry != nil {
				t.Errorf("List = %v, Registry = %v; want neither", sel.List, sel.Registry)
			}
		}},
		{"list on one server", servers, `{list: [crm_a, db1/crm_b]}`, func(t *testing.T, sel extract.Selector) {
			want := []extract.Tenant{{Server: "db1", Database: "crm_a"}, {Server: "db1", Database: "crm_b"}}
			if !slices.EqualFunc(sel.List, want, func(a, b extract.Tenant) bool { return a.String() == b.String() }) {
				t.Errorf("List = %v, want %v", sel.List, want)
			}
			if sel.Match != nil || sel.Exclude != nil {
				t.Errorf("Match = %v, Exclude = %v; want neither", sel.Match, sel.Exclude)
			}
		}},
		{"list on two servers", twoServers, `{list: [db2/crm_a, db1/crm_b]}`, func(t *testing.T, sel extract.Selector) {
			want := []extract.Tenant{{Server: "db2", Database: "crm_a"}, {Server: "db1", Database: "crm_b"}}
			if !slices.EqualFunc(sel.List, want, func(a, b extract.Tenant) bool { return a.String() == b.String() }) {
				t.Errorf("List = %v, want %v", sel.List, want)
			}
		}},
		{"registry", twoServers, `{registry: {server: db2, query: "SELECT server, ` + "`database`" + ` FROM tenants WHERE active = 1"}}`, func(t *testing.T, sel extract.Selector) {
			if sel.Registry == nil {
				t.Fatal("Registry = nil, want the parsed registry")
			}
			if got, want := sel.Registry.Server, "db2"; got != want {
				t.Errorf("Registry.Server = %q, want %q", got, want)
			}
			if sel.Registry.Query == nil || !strings.Contains(sel.Registry.Query.Text(), "FROM tenants") {
				t.Errorf("Registry.Query = %v, want the compiled query", sel.Registry.Query)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(base, `    servers:
      - name: db1
        dsn: "${CRM_DB1_DSN}"
    tenants:
      match: "^crm_"
`, tt.servers+"    tenants: "+tt.tenants+"\n", 1)
			cfg, err := parseFile(t, text, testEnv)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, cfg.Sources["crm"].Selector)
		})
	}
}

// TestParsedJob checks that a job keeps its query, schedule and format
// parsed.
func TestParsedJob(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	after := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name, schedule, format string
		wantNext               time.Time // zero: no schedule
		wantFormat             schema.Format
	}{
		{"job zone", `"30 3 * * *"`, "csv.gz", time.Date(2026, 3, 2, 3, 30, 0, 0, tokyo), schema.CSVGzip},
		{"own zone", `"CRON_TZ=UTC 30 3 * * *"`, "csv", time.Date(2026, 3, 1, 3, 30, 0, 0, time.UTC), schema.CSV},
		{"descriptor", "'@daily'", "parquet", time.Date(2026, 3, 2, 0, 0, 0, 0, tokyo), schema.Parquet},
		{"no schedule", `""`, `""`, time.Time{}, schema.Parquet},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(base, `schedule: "30 3 * * *"`, "schedule: "+tt.schedule, 1)
			text = strings.Replace(text, "format: parquet", "format: "+tt.format, 1)
			cfg, err := parseFile(t, text, testEnv)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			job := cfg.Jobs["mail_send_counts"]
			if job.Statement == nil || job.Statement.Text() != "SELECT ? AS d" {
				t.Errorf("Statement = %v, want the compiled query SELECT ? AS d", job.Statement)
			} else if got := job.Statement.Params(); !slices.Equal(got, []string{"date"}) {
				t.Errorf("Statement.Params() = %v, want [date]", got)
			}
			if tt.wantNext.IsZero() {
				if job.Cron != nil {
					t.Errorf("Cron = %v, want nil for a job without a schedule", job.Cron)
				}
			} else if job.Cron == nil {
				t.Errorf("Cron = nil, want a schedule")
			} else if got := job.Cron.Next(after); !got.Equal(tt.wantNext) {
				t.Errorf("Cron.Next(%s) = %s, want %s", after, got, tt.wantNext)
			}
			if got := job.Output.Format; got != tt.wantFormat {
				t.Errorf("Output.Format = %q, want %q", got, tt.wantFormat)
			}
		})
	}
}

func TestParseS3URI(t *testing.T) {
	for _, tc := range []struct {
		uri            string
		bucket, prefix string
		wantErr        bool
	}{
		{"s3://b", "b", "", false},
		{"s3://b/", "b", "", false},
		{"s3://b/exports/prod/", "b", "exports/prod/", false},
		{"s3://b/exports", "b", "exports", false},
		{"s3:///x", "", "", true},
		{"s3://b?x/y", "", "", true},
		{"https://b/x", "", "", true},
		{"b/x", "", "", true},
	} {
		bucket, prefix, err := ParseS3URI(tc.uri)
		if (err != nil) != tc.wantErr || bucket != tc.bucket || prefix != tc.prefix {
			t.Errorf("ParseS3URI(%q) = %q, %q, %v; want %q, %q, error %v",
				tc.uri, bucket, prefix, err, tc.bucket, tc.prefix, tc.wantErr)
		}
	}
}
