package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/schema"
)

func TestInspect(t *testing.T) {
	s := schema.Schema{
		schema.Tenant("server"),
		schema.FromMySQL("n", "BIGINT", 0, 0),
		schema.FromMySQL("cost", "DECIMAL", 12, 2),
		schema.FromMySQL("at", "DATETIME", 0, 0),
	}
	rows := [][][]byte{
		{[]byte("db1"), []byte("1"), []byte("1.50"), []byte("2026-11-25 10:00:00")},
		{[]byte("db1"), nil, []byte("2.00"), []byte("2026-11-25 11:00:00")},
		{[]byte("a,\"b\"\nc"), []byte("3"), nil, nil},
	}
	dir := t.TempDir()
	write := func(name string, enc func(*bytes.Buffer) (load.Encoder, error)) string {
		var buf bytes.Buffer
		e, err := enc(&buf)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if err := e.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pq := write("part-00000.parquet", func(b *bytes.Buffer) (load.Encoder, error) {
		return load.NewParquetWriter(b, s, load.ParquetOptions{})
	})
	csvPath := write("part-00000.csv", func(b *bytes.Buffer) (load.Encoder, error) { return load.NewCSVWriter(b, s, false) })
	gzPath := write("part-00000.csv.gz", func(b *bytes.Buffer) (load.Encoder, error) { return load.NewCSVWriter(b, s, true) })
	if _, err := gzip.NewReader(bytes.NewReader(mustRead(t, gzPath))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		uri  string
		want []string
	}{
		{"parquet path", pq, []string{"format parquet, 3 rows, 4 columns", "2  n       int64    bigint", "3  cost    decimal  decimal(12,2)", "4  at      timestamp  timestamp"}},
		{"parquet file uri", "file://" + pq, []string{"format parquet, 3 rows, 4 columns"}},
		{"csv", csvPath, []string{"format csv, 3 rows, 4 columns", "1  server", "4  at"}},
		{"csv.gz", "file://" + gzPath, []string{"format csv.gz, 3 rows, 4 columns"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			c := &inspectCmd{}
			if err := c.inspect(t.Context(), &out, tt.uri); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(collapse(out.String()), collapse(w)) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
	var out bytes.Buffer
	if err := (&inspectCmd{}).inspect(t.Context(), &out, filepath.Join(dir, "x.json")); err == nil {
		t.Error("inspect of a .json file succeeded, want a usage error")
	}
}

// collapse folds runs of spaces, so checks do not depend on column widths.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAthenaDDLBeforeFirstRun reads the columns with LIMIT 0 from a tenant
// (no run published yet) and writes the DDL next to the data.
func TestAthenaDDLBeforeFirstRun(t *testing.T) {
	db := testdb.Open(t)
	prefix := testdb.Prefix()
	tenant := prefix + "crm_t001"
	testdb.Create(t, db, tenant)
	testdb.ExecFile(t, db, tenant, "testdata/sample/tenant_schema.sql")
	out := t.TempDir()
	dir := t.TempDir()
	cfgText := fmt.Sprintf(`sources:
  crm:
    servers:
      - name: db1
        dsn: %q
    tenants:
      match: "^%scrm_t"
jobs:
  mail-counts:
    source: crm
    query: %s
    athena: {database: analytics}
    output: {to: %q, format: csv}
`, testdb.DSN(), prefix, filepath.Join(testdb.Root(), "queries", "mail_send_counts.sql"), out)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	c := &athenaCmd{stdout: &stdout}
	if err := c.Run(t.Context(), []string{"ddl", "mail-counts", "--write", "--config", cfgPath}); err != nil {
		t.Fatal(err)
	}
	ddl := stdout.String()
	for _, want := range []string{
		"columns from the query's columns in db1/" + tenant,
		"CREATE EXTERNAL TABLE `analytics`.`mail_counts_raw` (\n  `server` string,\n  `database` string,\n  `mail_request_id` string,",
		"LOCATION 'file://" + out + "/mail-counts/symlinks/'",
		`CREATE OR REPLACE VIEW "analytics"."mail_counts" AS`,
		`CAST(NULLIF("mail_request_id", '') AS bigint) AS "mail_request_id"`,
	} {
		if !strings.Contains(ddl, want) {
			t.Errorf("DDL lacks %q:\n%s", want, ddl)
		}
	}
	stored := mustRead(t, filepath.Join(out, "mail-counts", "_mallet", "athena.sql"))
	if string(stored) != ddl {
		t.Errorf("stored DDL differs from the printed one")
	}
}
