package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mallet-etl/mallet/catalog"
	"github.com/mallet-etl/mallet/catalog/gluetest"
	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/load/s3test"
)

// TestAthenaSync sets a CSV job's catalog up before its first run, as a
// person does once: the database and the raw table are created, the view
// is printed to run in Athena, and once it exists sync succeeds and
// changes nothing.
func TestAthenaSync(t *testing.T) {
	db := testdb.Open(t)
	prefix := testdb.Prefix()
	tenant := prefix + "crm_t001"
	testdb.Create(t, db, tenant)
	testdb.ExecFile(t, db, tenant, "testdata/sample/tenant_schema.sql")
	s3test.Start(t, "bucket")
	glue := gluetest.Start(t)
	cfgText := fmt.Sprintf(`sources:
  crm:
    servers:
      - name: db1
        dsn: %q
    tenants:
      match: "^%scrm_t"
athena: {database: analytics, glue: true}
jobs:
  mail-counts:
    source: crm
    query: %s
    output: {to: "s3://bucket/crm", format: csv}
`, testdb.DSN(), prefix, filepath.Join(testdb.Root(), "queries", "mail_send_counts.sql"))
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := &athenaCmd{stdout: &out}
	err := c.Run(t.Context(), []string{"sync", "mail-counts", "--config", cfgPath})
	if !errors.Is(err, catalog.ErrView) || exitCode(err) != exitFailed {
		t.Fatalf("got %v (exit %d), want ErrView, exit %d", err, exitCode(err), exitFailed)
	}
	for _, want := range []string{
		"glue table analytics.mail_counts_raw created",
		"(database created)",
		"Run this in Athena",
		`CREATE OR REPLACE VIEW "analytics"."mail_counts" AS`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	raw, ok := glue.Table("analytics", "mail_counts_raw")
	if !ok || raw.StorageDescriptor.Location != "s3://bucket/crm/mail-counts/symlinks/" || raw.StorageDescriptor.Columns[2].Name != "mail_request_id" {
		t.Fatalf("raw table %+v, want it over s3://bucket/crm/mail-counts/symlinks/ with the query's columns", raw)
	}

	// The person runs the view's statement; Athena stores the view.
	v := gluetest.Table{Name: "mail_counts", TableType: "VIRTUAL_VIEW", StorageDescriptor: &gluetest.StorageDescriptor{}}
	for _, col := range raw.StorageDescriptor.Columns {
		v.StorageDescriptor.Columns = append(v.StorageDescriptor.Columns, gluetest.Column{Name: col.Name, Type: "string"})
	}
	v.StorageDescriptor.Columns = append(v.StorageDescriptor.Columns, gluetest.Column{Name: "dt", Type: "string"})
	glue.PutTable("analytics", v)
	out.Reset()
	if err := c.Run(t.Context(), []string{"sync", "mail-counts", "--config", cfgPath}); err != nil {
		t.Fatal(err)
	}
	if want := "glue table analytics.mail_counts_raw unchanged; view analytics.mail_counts current"; !strings.Contains(out.String(), want) {
		t.Errorf("output %q lacks %q", out.String(), want)
	}
	if n := glue.Calls("UpdateTable"); n != 0 {
		t.Errorf("UpdateTable called %d times, want 0", n)
	}
}
