package jobs_test

import (
	"compress/gzip"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/extract"
	"github.com/mallet-etl/mallet/internal/testdb"
)

// fleet is a set of sample tenant databases on the test server: tenants
// <prefix>crm_t001.., a registry <prefix>registry with cl_mapping, and
// <prefix>crmx_other, which must never match.
type fleet struct {
	db      *sql.DB
	prefix  string
	tenants []string
}

func newFleet(t testing.TB, n int) *fleet {
	t.Helper()
	db := testdb.Open(t)
	f := &fleet{db: db, prefix: testdb.Prefix()}
	load := func(name string, no int) {
		testdb.Create(t, db, name)
		testdb.ExecFile(t, db, name, "testdata/sample/tenant_schema.sql")
		testdb.ExecFile(t, db, name, "testdata/sample/tenant_data.sql", fmt.Sprintf("SET @tenant_no = %d", no))
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%scrm_t%03d", f.prefix, i)
		load(name, i)
		f.tenants = append(f.tenants, name)
	}
	load(f.prefix+"crmx_other", 900)
	reg := f.prefix + "registry"
	testdb.Create(t, db, reg)
	testdb.ExecFile(t, db, reg, "testdata/sample/registry_schema.sql", fmt.Sprintf("SET @tenant_count = %d", n))
	testdb.Exec(t, db, fmt.Sprintf("UPDATE `%s`.cl_mapping SET `database` = CONCAT('%s', `database`)", reg, f.prefix))
	return f
}

// configText returns a config for the fleet with the given jobs section;
// "{{out}}" in it is replaced by the output folder or URI.
func (f *fleet) configText(jobs, out string) string {
	dsn := testdb.DSN()
	repo := testdb.Root()
	text := fmt.Sprintf(`timezone: Asia/Tokyo
sources:
  crm:
    servers:
      - name: db1
        dsn: %q
    tenants:
      registry:
        server: db1
        query: "SELECT server, `+"`database`"+`, MIN(hostname) AS hostname, MIN(client_name) AS client_name FROM %sregistry.cl_mapping GROUP BY server, `+"`database`"+`"
    concurrency: 2
  crm_all:
    servers:
      - name: db1
        dsn: %q
    tenants:
      match: "^%scrm_t[0-9]+$"
    concurrency: 3
jobs:
%s`, dsn, f.prefix, dsn, f.prefix, jobs)
	text = strings.ReplaceAll(text, "{{out}}", out)
	return strings.ReplaceAll(text, "{{queries}}", filepath.Join(repo, "queries"))
}

func writeConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	return writeConfigIn(t, t.TempDir(), text)
}

// writeConfigIn writes config.yaml into dir, where relative paths in it
// resolve, and loads it.
func writeConfigIn(t *testing.T, dir, text string) *config.Config {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// query runs a query (with :name parameters) in a database and returns the
// rows as text, NULL as nil.
func (f *fleet) query(t *testing.T, database, text string, params map[string]any) [][]*string {
	t.Helper()
	conn := f.conn(t, database)
	defer conn.Close()
	q, err := extract.ParseQuery(text)
	if err != nil {
		t.Fatal(err)
	}
	args, err := q.Args(params)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := conn.QueryContext(t.Context(), q.Text(), args...)
	if err != nil {
		t.Fatalf("query in %s: %v", database, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]*string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		dest := make([]any, len(cols))
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		row := make([]*string, len(cols))
		for i, v := range vals {
			if v.Valid {
				s := v.String
				row[i] = &s
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func dsnOf() string { return testdb.DSN() }

func gzipReader(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }

// conn returns a connection of its own with database selected; the caller
// closes it.
func (f *fleet) conn(t *testing.T, database string) *sql.Conn {
	t.Helper()
	conn, err := f.db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "USE "+extract.QuoteIdent(database)); err != nil {
		conn.Close()
		t.Fatal(err)
	}
	return conn
}
