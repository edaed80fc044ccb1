package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mallet-etl/mallet/internal/testdb"
)

// leakPassword is distinctive, and has the characters that trip naive
// DSN parsing and redaction: ';' and '@'.
const leakPassword = "Pw-7f3a;x@y"

// TestNoPasswordInOutput runs the real binary against failing tenants
// whose DSNs hold leakPassword: a server that refuses connections, and the
// test server with the wrong password (access denied). Every byte the
// commands print, and the JSON report, must be free of the password, in
// both log formats.
func TestNoPasswordInOutput(t *testing.T) {
	bin := malletBinary(t, "")
	db := testdb.Open(t)
	prefix := testdb.Prefix()
	tenant := prefix + "leak"
	testdb.Create(t, db, tenant)
	user := prefix + "leak"
	testdb.Exec(t, db, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'the-right-one'", user))
	t.Cleanup(func() { db.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)) }) //nolint:errcheck
	testdb.Exec(t, db, fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", "`"+tenant+"`", user))

	base, err := mysql.ParseDSN(testdb.DSN())
	if err != nil {
		t.Fatal(err)
	}
	wrongPass := fmt.Sprintf("%s:%s@tcp(%s)/", user, leakPassword, base.Addr)
	down := fmt.Sprintf("%s:%s@tcp(127.0.0.1:1)/?timeout=2s", user, leakPassword)
	// The DSN as written must be what the driver reads: the password whole.
	if c, err := mysql.ParseDSN(wrongPass); err != nil || c.Passwd != leakPassword {
		t.Fatalf("DSN %q does not parse to the password: %v", wrongPass, err)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "q.sql"), []byte("SELECT 1 AS one"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfgText := fmt.Sprintf(`sources:
  s:
    servers:
      - {name: wrongpass, dsn: "${LEAK_WRONG_DSN}"}
      - {name: down, dsn: "${LEAK_DOWN_DSN}"}
      - {name: inline, dsn: %q}
    tenants:
      list: [wrongpass/%s, down/%s, inline/%s]
  discovered:
    servers:
      - {name: wrongpass, dsn: "${LEAK_WRONG_DSN}"}
      - {name: down, dsn: "${LEAK_DOWN_DSN}"}
    tenants: {match: "^%s"}
jobs:
  j:
    source: s
    query: q.sql
    on_tenant_error: skip
    output: {to: out, format: csv}
  d:
    source: discovered
    query: q.sql
    output: {to: out, format: csv}
`, wrongPass, tenant, tenant, tenant, prefix)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	// A config error that quotes the DSN: a bad parameter in it.
	badPath := filepath.Join(dir, "bad.yaml")
	bad := strings.Replace(cfgText, "${LEAK_DOWN_DSN}", strings.TrimSuffix(down, "?timeout=2s")+"?timeout=forever", 1)
	if err := os.WriteFile(badPath, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}

	needles := []string{leakPassword, "7f3a", strings.ReplaceAll(leakPassword, ";", "%3B")}
	for _, format := range []string{"json", "text"} {
		for _, tc := range []struct {
			args   []string
			code   int      // the exit code; -1 for any
			report bool     // run writes a report once the config has loaded
			want   []string // in the output, proving the command got as far as the failures
		}{
			// Every tenant of j fails (inline has the wrong password too), so
			// nothing is published even under skip.
			{args: []string{"run", "job", "j", "--date", "2026-11-25"}, code: exitFailed, report: true,
				want: []string{"Access denied", "connection refused", "inline/" + tenant, "wrongpass/" + tenant, "down/" + tenant}},
			{args: []string{"run", "job", "d", "--date", "2026-11-25"}, code: exitFailed, report: true,
				want: []string{"Access denied", "connection refused"}},
			{args: []string{"run", "job", "j", "--dry-run"}, code: exitOK, report: true,
				want: []string{"dry run of job j", "wrongpass/" + tenant, "down/" + tenant}},
			// list reports the first unreachable server of a source.
			{args: []string{"list"}, code: -1, want: []string{"discovered", "connection refused"}},
			{args: []string{"validate"}, code: exitOK, want: []string{"config.yaml: ok"}},
			{args: []string{"run", "job", "j", "--config", badPath}, code: exitUsage, want: []string{"dsn"}},
		} {
			name := format + "/" + strings.Join(tc.args, " ")
			t.Run(name, func(t *testing.T) {
				args := append(slices.Clone(tc.args), "--log-format", format)
				if !slices.Contains(args, "--config") {
					args = append(args, "--config", cfgPath)
				}
				reportPath := ""
				if args[0] == "run" {
					reportPath = filepath.Join(t.TempDir(), "report.json")
					args = append(args, "--report", reportPath)
				}
				ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, args...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "LEAK_WRONG_DSN="+wrongPass, "LEAK_DOWN_DSN="+down, "CRM_DB1_DSN=")
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				err := cmd.Run()
				if ctx.Err() != nil {
					t.Fatalf("timed out:\n%s", out.String())
				}
				text := out.String()
				code := cmd.ProcessState.ExitCode()
				if tc.code >= 0 && code != tc.code {
					t.Errorf("exit code %d (%v), want %d:\n%s", code, err, tc.code, text)
				}
				if reportPath != "" {
					data, err := os.ReadFile(reportPath)
					switch {
					case tc.report && err != nil:
						t.Errorf("no report: %v", err)
					case tc.report && !strings.Contains(string(data), `"wrongpass"`):
						t.Errorf("the report does not list the failing server wrongpass:\n%s", data)
					case !tc.report && err == nil:
						t.Errorf("a report was written, want none:\n%s", data)
					}
					text += "\n--- report ---\n" + string(data)
				}
				for _, n := range needles {
					if strings.Contains(text, n) {
						t.Errorf("output holds %q:\n%s", n, text)
					}
				}
				for _, w := range tc.want {
					if !strings.Contains(text, w) {
						t.Errorf("output lacks %q, so the command did not get as far as it should:\n%s", w, text)
					}
				}
			})
		}
	}
	// The run above used the server; make sure the wrong password was
	// really wrong and the right one right, so access denied was earned.
	right, err := sql.Open("mysql", fmt.Sprintf("%s:the-right-one@tcp(%s)/", user, base.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer right.Close()
	if err := right.Ping(); err != nil {
		t.Errorf("the right password fails: %v", err)
	}
}
