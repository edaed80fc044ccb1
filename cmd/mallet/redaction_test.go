package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

	bin := filepath.Join(t.TempDir(), "mallet")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	help, _ := exec.Command(bin, "run", "--help").CombinedOutput()
	report := strings.Contains(string(help), "-report")

	needles := []string{leakPassword, "7f3a", strings.ReplaceAll(leakPassword, ";", "%3B")}
	for _, format := range []string{"json", "text"} {
		for _, args := range [][]string{
			{"run", "job", "j", "--date", "2026-11-25"},
			{"run", "job", "d", "--date", "2026-11-25"},
			{"run", "job", "j", "--dry-run"},
			{"list"},
			{"validate"},
			{"run", "job", "j", "--config", badPath},
		} {
			name := format + "/" + strings.Join(args, " ")
			t.Run(name, func(t *testing.T) {
				args := append(args, "--log-format", format)
				if !strings.Contains(strings.Join(args, " "), "--config") {
					args = append(args, "--config", cfgPath)
				}
				reportPath := ""
				if report && args[0] == "run" {
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
				if reportPath != "" {
					if data, err := os.ReadFile(reportPath); err == nil {
						text += "\n--- report ---\n" + string(data)
					}
				}
				for _, n := range needles {
					if strings.Contains(text, n) {
						t.Errorf("output holds %q:\n%s", n, text)
					}
				}
				// The run must have got as far as the failures.
				switch {
				case args[0] == "run" && args[2] == "j" && !strings.Contains(strings.Join(args, " "), "--dry-run") && !strings.Contains(strings.Join(args, " "), badPath):
					for _, want := range []string{"Access denied", "connection refused", tenant} {
						if !strings.Contains(text, want) {
							t.Errorf("output lacks %q (exit %v):\n%s", want, err, text)
						}
					}
				case strings.Contains(strings.Join(args, " "), badPath):
					if !strings.Contains(text, "dsn") {
						t.Errorf("output does not report the bad dsn (exit %v):\n%s", err, text)
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
