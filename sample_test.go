package mallet_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/mallet-etl/mallet/internal/testdb"
)

// TestSampleLoader runs testdata/sample/load.sh against the test server
// with a prefix of its own: it loads beside other databases, marks what it
// creates, and refuses to drop a database it did not create, dropping
// nothing at all then.
func TestSampleLoader(t *testing.T) {
	if testing.Short() {
		t.Skip("runs load.sh and the mysql client: not in -short")
	}
	db := testdb.Open(t)
	client := ""
	for _, name := range []string{"mysql", "mariadb"} {
		if p, err := exec.LookPath(name); err == nil {
			client = p
			break
		}
	}
	if client == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no mysql or mariadb client on PATH under CI=true")
		}
		t.Skip("no mysql or mariadb client on PATH (set CI=true to fail instead)")
	}
	cfg, err := mysql.ParseDSN(testdb.DSN())
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	env := append(os.Environ(), "MYSQL_HOST="+host, "MYSQL_PORT="+port, "MYSQL_USER="+cfg.User, "MYSQL_PWD="+cfg.Passwd)

	p := testdb.Prefix()
	t.Cleanup(func() {
		for _, name := range databases(t, db, p) {
			if _, err := db.Exec("DROP DATABASE `" + name + "`"); err != nil {
				t.Logf("drop %s: %v", name, err)
			}
		}
	})
	run := func(t *testing.T, wantCode int, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), filepath.Join("testdata", "sample", "load.sh"), args...)
		cmd.Env = env
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		err := cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != wantCode {
			t.Fatalf("load.sh %s: exit code %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, err, wantCode, out.String(), stderr.String())
		}
		return stderr.String()
	}
	all := []string{p + "crm_registry", p + "crm_t001", p + "crm_t002", p + "crmx_other"}
	slices.Sort(all)

	t.Run("load with a prefix", func(t *testing.T) {
		run(t, 0, "--prefix", p, "2")
		if got := databases(t, db, p); !slices.Equal(got, all) {
			t.Fatalf("databases: got %v, want %v", got, all)
		}
		for _, name := range all {
			if n := count(t, db, "SELECT COUNT(*) FROM `"+name+"`._mallet_sample"); n != 1 {
				t.Errorf("%s: %d marker rows, want 1", name, n)
			}
		}
		if n := count(t, db, "SELECT COUNT(*) FROM `"+p+"crm_t001`.accounts"); n != 20 {
			t.Errorf("%scrm_t001.accounts: %d rows, want 20 (testdata/sample/README.md)", p, n)
		}
		// The registry names the prefixed tenants, so that a registry
		// source finds them.
		want := []string{p + "crm_t001", p + "crm_t002"}
		if got := column(t, db, "SELECT DISTINCT `database` FROM `"+p+"crm_registry`.cl_mapping ORDER BY 1"); !slices.Equal(got, want) {
			t.Errorf("registry databases: got %v, want %v", got, want)
		}
	})

	foreign := p + "crm_t003"
	t.Run("refuses to replace a database it did not create", func(t *testing.T) {
		testdb.Exec(t, db, "CREATE DATABASE `"+foreign+"`")
		testdb.Exec(t, db, "CREATE TABLE `"+foreign+"`.precious (id INT)")
		testdb.Exec(t, db, "CREATE TABLE `"+p+"crm_t001`.sentinel (id INT)")
		stderr := run(t, 1, "--prefix", p, "3")
		for _, want := range []string{"refusing to drop database(s) it did not create", foreign, "nothing was dropped"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr does not say %q:\n%s", want, stderr)
			}
		}
		if n := count(t, db, "SELECT COUNT(*) FROM information_schema.tables WHERE table_name IN ('precious', 'sentinel') AND table_schema LIKE '"+p+"%'"); n != 2 {
			t.Errorf("after the refusal %d of the 2 tables are left: something was dropped", n)
		}
	})

	t.Run("--drop refuses too", func(t *testing.T) {
		stderr := run(t, 1, "--prefix", p, "--drop")
		if !strings.Contains(stderr, foreign) {
			t.Errorf("stderr does not name %s:\n%s", foreign, stderr)
		}
		if got := databases(t, db, p); len(got) != len(all)+1 {
			t.Errorf("after the refusal: %v, want all %d databases left", got, len(all)+1)
		}
	})

	t.Run("--drop drops what it created", func(t *testing.T) {
		testdb.Exec(t, db, "DROP DATABASE `"+foreign+"`")
		run(t, 0, "--prefix", p, "--drop")
		if got := databases(t, db, p); len(got) != 0 {
			t.Errorf("after --drop: %v left", got)
		}
	})

	t.Run("bad arguments", func(t *testing.T) {
		for _, args := range [][]string{{"--prefix", "a-b"}, {"--prefix", "x'; DROP DATABASE y; --"}, {"0"}, {"1000"}, {"--drop", "3"}, {"--prefix"}} {
			run(t, 2, args...)
		}
	})
}

// databases lists the databases whose name starts with prefix.
func databases(t *testing.T, db *sql.DB, prefix string) []string {
	t.Helper()
	names := column(t, db, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '"+prefix+"%'")
	slices.Sort(names) // the server's collation orders "_" after letters
	return names
}

func column(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query) // also in Cleanup, after t.Context ended
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(t *testing.T, db *sql.DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
