package config_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/mallet-etl/mallet/config"
)

// fuzzEnv answers ${..._DSN} with a valid DSN and leaves every other
// variable unset, so the shipped config.yaml parses.
func fuzzEnv(name string) (string, bool) {
	if strings.HasSuffix(name, "_DSN") {
		return "mallet:pw@tcp(127.0.0.1:3306)/", true
	}
	return "", false
}

// FuzzParseConfig checks that Parse never panics, and that a config it
// accepts round trips: marshalled back to YAML and parsed again, it is
// accepted and marshals to the same text. Paths resolve against the
// repository's config.yaml, so the shipped query files are found.
//
// A value holding "${" after expansion (written "$${") is left out of the
// round trip: marshalling does not escape it again.
func FuzzParseConfig(f *testing.F) {
	path, err := filepath.Abs(filepath.Join("..", "config.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	shipped, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(shipped)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(path, data, fuzzEnv)
		if err != nil {
			if cfg != nil {
				t.Fatalf("Parse returned a config and an error: %v", err)
			}
			return
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal an accepted config: %v", err)
		}
		if bytes.Contains(out, []byte("${")) {
			return
		}
		again, err := config.Parse(path, out, fuzzEnv)
		if err != nil {
			t.Fatalf("an accepted config, marshalled, is refused: %v\n%s", err, out)
		}
		out2, err := yaml.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip differs:\n%s\n---\n%s", out, out2)
		}
	})
}

// TestHardeningKeys checks the tls and timeout keys: accepted values,
// and each mistake reported with its line.
func TestHardeningKeys(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	const tmpl = `sources:
  s:
    servers: [{name: db1, dsn: "%s", tls: %s}]
    tenants: {match: "."}
    query_timeout: %s
    tenant_timeout: %s
jobs:
  j: {source: s, query: queries/daily_logins.sql, output: {to: out}, run_timeout: %s}
`
	for _, tt := range []struct {
		name, dsn, tls, query, tenant, run string
		want                               string // in the error; "" for none
	}{
		{"bool true", "u:p@tcp(h)/", "true", "10m", "1h", "2h", ""},
		{"skip-verify", "u:p@tcp(h)/", "skip-verify", "0s", "0s", "0s", ""},
		{"no tls", "u:p@tcp(h)/", `""`, "1s", "0s", "0s", ""},
		{"bad ca", "u:p@tcp(h)/", ca, "1s", "0s", "0s", ":3: source s: server db1: tls: CA bundle"},
		{"missing ca", "u:p@tcp(h)/", "rds.pem", "1s", "0s", "0s", "no such file"},
		{"tls twice", "u:p@tcp(h)/?tls=true", "true", "1s", "0s", "0s", "tls is set both here and in the dsn"},
		{"negative", "u:p@tcp(h)/", "true", "-1s", "-1s", "-1s", "query_timeout must not be negative"},
		{"negative tenant", "u:p@tcp(h)/", "true", "0s", "-1s", "0s", "tenant_timeout must not be negative"},
		{"negative run", "u:p@tcp(h)/", "true", "0s", "0s", "-1s", "run_timeout must not be negative"},
		{"query over tenant", "u:p@tcp(h)/", "true", "2h", "1h", "0s", "longer than tenant_timeout"},
		{"sub-millisecond", "u:p@tcp(h)/", "true", "1us", "0s", "0s", "1ms resolution"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := fmt.Sprintf(tmpl, tt.dsn, tt.tls, tt.query, tt.tenant, tt.run)
			cfg, err := config.Parse(filepath.Join(root, "config.yaml"), []byte(text), fuzzEnv)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v (config %v), want an error containing %q", err, cfg != nil, tt.want)
			}
		})
	}
}
