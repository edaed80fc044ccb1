package load

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// duckDBQuery runs sql in DuckDB and returns its rows as JSON values
// (numbers as float64, BIGINT and larger as strings). DuckDB is reached
// through Node and the @duckdb/node-api package in the folder named by
// MALLET_DUCKDB_NODE_MODULES (.ci/run installs it); without it the test is
// skipped, or fails under CI=true. Under -short it is skipped.
func duckDBQuery(t *testing.T, sql string) [][]any {
	t.Helper()
	if testing.Short() {
		t.Skip("runs DuckDB in a node process: not in -short")
	}
	modules := os.Getenv("MALLET_DUCKDB_NODE_MODULES")
	if modules == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MALLET_DUCKDB_NODE_MODULES is not set: DuckDB is needed under CI=true (.ci/run installs it)")
		}
		t.Skip("MALLET_DUCKDB_NODE_MODULES not set: no DuckDB to read the file with")
	}
	script, err := filepath.Abs(filepath.Join("testdata", "duckdb.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "node", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stdin = strings.NewReader(sql) // it may be longer than an argument can be
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb %.300q: %v: %s", sql, err, stderr.String())
	}
	var rows [][]any
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("duckdb %.300q: output %.300q: %v", sql, out, err)
	}
	return rows
}
