// Package testdb gives tests a real MariaDB or MySQL server: the one at
// MALLET_TEST_DSN, default root@tcp(127.0.0.1:3306)/. When the server is
// unreachable the test is skipped, except under CI=true, where it fails: a
// silently skipped suite is a false green.
package testdb

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// DSN is the server's DSN without a database.
func DSN() string {
	if dsn := os.Getenv("MALLET_TEST_DSN"); dsn != "" {
		return dsn
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// Open connects to the server for test setup, with multiStatements on so
// that SQL files run whole (mallet itself never enables it).
func Open(t testing.TB) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(DSN())
	if err != nil {
		t.Fatalf("testdb: MALLET_TEST_DSN: %v", err)
	}
	cfg.MultiStatements = true
	cfg.Timeout = 5 * time.Second
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	db := sql.OpenDB(conn)
	if err := db.Ping(); err != nil {
		db.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("testdb: MariaDB unreachable at %s under CI=true: %v", cfg.Addr, err)
		}
		t.Skipf("testdb: MariaDB unreachable at %s (set CI=true to fail instead): %v", cfg.Addr, err)
	}
	db.SetMaxOpenConns(4)
	t.Cleanup(func() { db.Close() })
	return db
}

// Prefix returns a fresh database-name prefix such as "mt3f9a1c_" so that
// tests running at once never share databases.
func Prefix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "mt" + hex.EncodeToString(b[:]) + "_"
}

// Create creates a database and drops it when the test ends.
func Create(t testing.TB, db *sql.DB, name string) {
	t.Helper()
	q := "`" + strings.ReplaceAll(name, "`", "``") + "`"
	Exec(t, db, "DROP DATABASE IF EXISTS "+q)
	Exec(t, db, "CREATE DATABASE "+q+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	t.Cleanup(func() {
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + q); err != nil {
			t.Logf("testdb: drop %s: %v", name, err)
		}
	})
}

// Exec runs SQL (several statements allowed), failing the test on error.
func Exec(t testing.TB, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("testdb: exec %.200s: %v", query, err)
	}
}

// Root returns the repository root, for shipped SQL files.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ExecFile runs a SQL file from the repository in database dbName, after
// the given SET statements.
func ExecFile(t testing.TB, db *sql.DB, dbName, rel string, pre ...string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Root(), rel))
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	defer conn.Close()
	stmts := append([]string{"USE `" + dbName + "`"}, pre...)
	for _, s := range stmts {
		if _, err := conn.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("testdb: %s: %v", s, err)
		}
	}
	if _, err := conn.ExecContext(t.Context(), string(data)); err != nil {
		t.Fatalf("testdb: run %s in %s: %v", rel, dbName, err)
	}
}
