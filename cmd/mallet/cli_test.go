package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runSelf runs mallet with args in dir (the package folder when empty),
// as the test binary re-executed, and returns its output and exit code.
// Like malletBinary it skips under -short: each start of this binary pays
// for the demo engine's initialisation, most of a second.
func runSelf(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the test binary as mallet: not in -short")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv("MALLET_TEST_AS_MAIN=1", "MALLET_SHARD="), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run mallet %v: %v", args, err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// cliConfig writes a config with one job over a source whose server is
// never reached by the commands tested here, and returns its folder.
func cliConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"q.sql": "SELECT 1 AS one FROM dual WHERE :date IS NOT NULL",
		"config.yaml": `sources:
  s:
    servers:
      - name: db1
        dsn: "u@tcp(127.0.0.1:1)/"
    tenants:
      list: [a]
jobs:
  j:
    source: s
    query: q.sql
    output:
      to: out
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCLIMistakes checks what a mistake on the command line prints: the
// mistake in words, exit code 2, and nothing run.
func TestCLIMistakes(t *testing.T) {
	dir := cliConfig(t)
	tests := []struct {
		name   string
		args   []string
		stderr []string // each must appear
	}{
		{"unknown command", []string{"bogus"}, []string{`mallet: unknown command "bogus"`, "Commands:", "run job NAME", "state reset JOB"}},
		{"no command", []string{}, []string{"Usage:", "mallet: no command"}},
		{"date that does not exist", []string{"run", "job", "j", "--date", "2026-02-30"}, []string{"--date 2026-02-30 is not a date: February 2026 has 28 days"}},
		{"month that does not exist", []string{"run", "job", "j", "--date", "2026-13-01"}, []string{"--date 2026-13-01 is not a date: there is no month 13"}},
		{"malformed date", []string{"run", "job", "j", "--date", "26-2-3"}, []string{`--date "26-2-3": want YYYY-MM-DD`}},
		{"empty date", []string{"run", "job", "j", "--date", ""}, []string{"--date is empty: want a date YYYY-MM-DD"}},
		{"empty --from", []string{"run", "job", "j", "--from="}, []string{"--from is empty"}},
		{"empty --to", []string{"run", "job", "j", "--from", "2026-11-01", "--to", ""}, []string{"--to is empty"}},
		{"--to that does not exist", []string{"run", "job", "j", "--from", "2026-04-01", "--to", "2026-04-31"}, []string{"--to 2026-04-31 is not a date: April 2026 has 30 days"}},
		{"--to without --from", []string{"run", "job", "j", "--to", "2026-11-01"}, []string{"--to needs --from"}},
		{"demo with empty date", []string{"demo", "--date", ""}, []string{"--date is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runSelf(t, dir, nil, tt.args...)
			if code != exitUsage {
				t.Errorf("exit code: got %d, want %d\nstderr:\n%s", code, exitUsage, stderr)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
				t.Errorf("the mistake ran the job: %s exists", filepath.Join(dir, "out"))
			}
		})
	}
}

// TestLintWithoutSecrets checks that CI can lint the shipped config without
// its DSN variable (--offline), that a real check still wants it, and that
// list fails when it cannot count a source's tenants.
func TestLintWithoutSecrets(t *testing.T) {
	shipped, err := filepath.Abs("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A source found by name on 127.0.0.1:1, where nothing listens.
	refused := cliConfig(t)
	text, err := os.ReadFile(filepath.Join(refused, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text = []byte(strings.Replace(string(text), "list: [a]", `match: "^crm_"`, 1))
	if err := os.WriteFile(filepath.Join(refused, "config.yaml"), text, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr []string
	}{
		{"validate --offline", []string{"validate", "--offline", "--config", shipped}, exitOK,
			[]string{"ok (2 sources, 6 jobs; 2 dsn(s) not checked)"}, []string{"note: ", "CRM_DB1_DSN is not set: sources.crm.servers.0.dsn is not checked (offline)"}},
		{"validate", []string{"validate", "--config", shipped}, exitUsage,
			nil, []string{"environment variable CRM_DB1_DSN is not set"}},
		{"list --offline", []string{"list", "--offline", "--config", shipped}, exitOK,
			[]string{"mail_send_counts", "30 3 * * *"}, []string{"CRM_DB1_DSN is not set"}},
		{"list with a refusing server", []string{"list", "--config", filepath.Join(refused, "config.yaml")}, exitFailed,
			[]string{"error: server db1: list databases: dial tcp 127.0.0.1:1: connect: connection refused"}, []string{"could not resolve the tenants of source(s) s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runSelf(t, t.TempDir(), nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit code: got %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout does not contain %q:\n%s", want, stdout)
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr)
				}
			}
		})
	}
}
