package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseMode parses base's sources with one job j (the given body) in place
// of its jobs, with the query files window.sql, cursor.sql and plain.sql
// beside the config.
func parseMode(t *testing.T, job string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"window.sql": "SELECT id FROM t WHERE at >= :window_start AND at < :window_end",
		"cursor.sql": "SELECT id, modified FROM t WHERE modified >= :cursor",
		"plain.sql":  "SELECT id FROM t",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	head := base[:strings.Index(base, "jobs:\n")]
	text := head + "jobs:\n  j:\n    source: crm\n    output: {to: out}\n" + job
	path := filepath.Join(dir, "config.yaml")
	return Parse(path, []byte(text), testEnv)
}

func TestModes(t *testing.T) {
	tests := []struct {
		name string
		job  string
		want func(t *testing.T, j *Job)
	}{
		{"snapshot by default", "    query: plain.sql\n", func(t *testing.T, j *Job) {
			if j.Mode != ModeSnapshot || j.LeaseTTL != DefaultLeaseTTL {
				t.Errorf("mode %q lease_ttl %s, want snapshot and %s", j.Mode, j.LeaseTTL, DefaultLeaseTTL)
			}
		}},
		{"window", "    query: window.sql\n    mode: window\n    lease_ttl: 2s\n", func(t *testing.T, j *Job) {
			if j.Mode != ModeWindow || j.LeaseTTL != 2*time.Second {
				t.Errorf("mode %q lease_ttl %s, want window and 2s", j.Mode, j.LeaseTTL)
			}
		}},
		{"incremental by time", "    query: cursor.sql\n    mode: incremental\n    cursor: modified\n    key: id\n    lookback: 10m\n", func(t *testing.T, j *Job) {
			if j.Cursor != "modified" || j.Key != "id" || j.Lookback.IsCount || j.Lookback.Duration != 10*time.Minute {
				t.Errorf("got cursor %q key %q lookback %+v", j.Cursor, j.Key, j.Lookback)
			}
		}},
		{"incremental by id", "    query: cursor.sql\n    mode: incremental\n    cursor: id\n    lookback: 1000\n", func(t *testing.T, j *Job) {
			if j.Key != "id" || !j.Lookback.IsCount || j.Lookback.Count != 1000 {
				t.Errorf("got key %q lookback %+v, want key id (the cursor) and count 1000", j.Key, j.Lookback)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseMode(t, tt.job)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.want(t, cfg.Jobs["j"])
		})
	}
}

func TestModeErrors(t *testing.T) {
	tests := []struct {
		name string
		job  string
		want string
	}{
		{"unknown mode", "    query: plain.sql\n    mode: stream\n", `mode "stream": want snapshot, window or incremental`},
		{"incremental without cursor", "    query: cursor.sql\n    mode: incremental\n", "needs a cursor column"},
		{"incremental without :cursor", "    query: plain.sql\n    mode: incremental\n    cursor: id\n", "needs a query that uses :cursor"},
		{"incremental aggregate", "    query: cursor.sql\n    mode: incremental\n    cursor: id\n    merge: aggregate\n    group_by: [id]\n    count: n\n", "cannot be combined with merge: aggregate"},
		{"cursor without incremental", "    query: plain.sql\n    cursor: id\n", "cursor needs mode: incremental"},
		{":cursor without incremental", "    query: cursor.sql\n", "only mode: incremental binds"},
		{"window without window parameters", "    query: plain.sql\n    mode: window\n", "uses the window parameters"},
		{"bad lookback", "    query: cursor.sql\n    mode: incremental\n    cursor: id\n    lookback: soon\n", `lookback "soon"`},
		{"negative lookback", "    query: cursor.sql\n    mode: incremental\n    cursor: id\n    lookback: -5\n", "must not be negative"},
		{"short lease", "    query: plain.sql\n    lease_ttl: 1ms\n", "lease_ttl 1ms is too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseMode(t, tt.job)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want an ErrInvalid error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want a problem containing %q", err, tt.want)
			}
		})
	}
}
