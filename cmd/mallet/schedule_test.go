package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/extract"
	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/publish"
)

// These tests run the built binary against empty tenant databases on the
// test server, with queries that need no tables: what they check is the
// process (schedule, signals, /metrics), not the extraction.

// TestBinary runs the process-level tests in parallel against the binary
// as the Dockerfile builds it (-tags nodemo): signals, exit codes, /metrics
// on a port, real runs. The scheduler's logic is tested in-process in
// package schedule.
func TestBinary(t *testing.T) {
	bin := malletBinary(t, "nodemo")
	for _, tc := range []struct {
		name string
		test func(*testing.T, string)
	}{
		{"ScheduleRunsSkipsAndStops", testScheduleRunsSkipsAndStops},
		{"ScheduleReloadKeepsOldConfigOnError", testScheduleReloadKeepsOldConfigOnError},
		{"RunJobSIGTERM", testRunJobSIGTERM},
		{"RunJobShardFlag", testRunJobShardFlag},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, bin)
		})
	}
}

// schedFleet creates n empty tenant databases and returns their prefix.
func schedFleet(t *testing.T, n int) string {
	t.Helper()
	db := testdb.Open(t)
	prefix := testdb.Prefix()
	for i := 1; i <= n; i++ {
		testdb.Create(t, db, fmt.Sprintf("%scrm_t%03d", prefix, i))
	}
	return prefix
}

// schedConfig writes a config over the fleet, with the given jobs section and
// query files (name -> SQL), into dir; "{{out}}" in jobs is the output URI
// and "{{dir}}" the folder.
func schedConfig(t *testing.T, dir, prefix, jobs string, queries map[string]string) string {
	t.Helper()
	for name, sql := range queries {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sql), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	text := fmt.Sprintf(`timezone: Asia/Tokyo
sources:
  crm:
    servers:
      - name: db1
        dsn: %q
    tenants:
      match: "^%scrm_t[0-9]+$"
    concurrency: 4
jobs:
%s`, testdb.DSN(), prefix, jobs)
	text = strings.ReplaceAll(text, "{{out}}", "file://"+filepath.Join(dir, "out"))
	text = strings.ReplaceAll(text, "{{dir}}", dir)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// proc is a running mallet whose JSON log lines are collected.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	mu   sync.Mutex
	logs []map[string]any
	raw  []string
	err  error // from Wait
}

func startMallet(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "MALLET_SHARD=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var m map[string]any
			_ = json.Unmarshal([]byte(line), &m) // non-JSON lines stay in raw
			p.mu.Lock()
			p.raw = append(p.raw, line)
			if m != nil {
				p.logs = append(p.logs, m)
			}
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("mallet log:\n%s", strings.Join(p.raw, "\n"))
			p.mu.Unlock()
		}
	})
	return p
}

// waitLog waits for the first log line from index from on that matches, and
// returns its index.
func (p *proc) waitLog(from int, timeout time.Duration, what string, match func(map[string]any) bool) int {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		for i := from; i < len(p.logs); i++ {
			if match(p.logs[i]) {
				p.mu.Unlock()
				return i
			}
		}
		n := len(p.logs)
		p.mu.Unlock()
		select {
		case <-p.done:
			p.t.Fatalf("mallet exited (%v) before logging %s", p.err, what)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no log line %s within %s (%d lines)", what, timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) logCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.logs)
}

func msgIs(msg string, kv ...string) func(map[string]any) bool {
	return func(m map[string]any) bool {
		if m["msg"] != msg {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if fmt.Sprint(m[kv[i]]) != kv[i+1] {
				return false
			}
		}
		return true
	}
}

// exit sends sig and waits for the process to end, returning its exit code
// and how long it took.
func (p *proc) exit(sig os.Signal, timeout time.Duration) (int, time.Duration) {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("mallet still running %s after %v", timeout, sig)
	}
	took := time.Since(start)
	p.mu.Lock()
	defer p.mu.Unlock()
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode(), took
	}
	if p.err != nil {
		p.t.Fatalf("wait: %v", p.err)
	}
	return 0, took
}

// metric returns the value of one series on /metrics, or -1 when absent.
func metric(t *testing.T, addr, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("/metrics: %s: %v", line, err)
			}
			return f
		}
	}
	return -1
}

func waitMetric(t *testing.T, p *proc, addr, series string, atLeast float64, timeout time.Duration) float64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := metric(t, addr, series)
		if v >= atLeast {
			return v
		}
		select {
		case <-p.done:
			t.Fatalf("mallet exited before %s reached %v", series, atLeast)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after %s, want at least %v", series, v, timeout, atLeast)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// files lists the files under root (relative paths, sorted) with their
// contents; a missing root is empty.
func files(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		rel, _ := filepath.Rel(root, path)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// visible returns what a reader of the job's output sees: the files under
// its Athena table location (the symlink manifests).
func visible(t *testing.T, out, job string) map[string]string {
	t.Helper()
	return files(t, filepath.Join(out, publish.SymlinksPrefix(job)))
}

// dataFiles returns the data objects of a job's partition, all runs.
func dataFiles(t *testing.T, out, job, date string) []string {
	t.Helper()
	var keys []string
	for k := range files(t, filepath.Join(out, publish.DataPrefix(job, date))) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// leftBy returns the files under the job's output that name a run.
func leftBy(t *testing.T, out, job, runID string) []string {
	t.Helper()
	var keys []string
	for k := range files(t, filepath.Join(out, job)) {
		if strings.Contains(k, runID) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func logField(p *proc, i int, key string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprint(p.logs[i][key])
}

const slowSQL = "SELECT SLEEP(2) AS slept, :date AS run_date, DATABASE() AS db\n"
const fastSQL = "SELECT :date AS run_date, DATABASE() AS db\n"

func listenAddr(p *proc) string {
	p.t.Helper()
	i := p.waitLog(0, 10*time.Second, `"listening"`, msgIs("listening"))
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs[i]["addr"].(string)
}

// The schedule runs jobs every second, skips a turn while the previous run
// goes on, counts both on /metrics, and on SIGTERM during a run cancels it
// after the grace period, publishing nothing of it.
func testScheduleRunsSkipsAndStops(t *testing.T, bin string) {
	prefix := schedFleet(t, 2)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cfg := schedConfig(t, dir, prefix, `  slow:
    source: crm
    query: slow.sql
    schedule: "@every 1s"
    output:
      to: "{{out}}"
      format: csv
  fast:
    source: crm
    query: fast.sql
    schedule: "@every 1s"
    timezone: UTC
    output:
      to: "{{out}}"
      format: csv
  manual:
    source: crm
    query: fast.sql
    output:
      to: "{{out}}"
`, map[string]string{"slow.sql": slowSQL, "fast.sql": fastSQL})

	p := startMallet(t, bin, "schedule", "--config", cfg, "--listen", "127.0.0.1:0", "--log-format", "json",
		"--shutdown-timeout", "1s", "--max-concurrent-jobs", "2")
	addr := listenAddr(p)
	for _, job := range []string{"slow", "fast"} {
		i := p.waitLog(0, 5*time.Second, "job scheduled "+job, msgIs("job scheduled", "job", job))
		p.mu.Lock()
		next, _ := p.logs[i]["next"].(string)
		p.mu.Unlock()
		if _, err := time.Parse(time.RFC3339, next); err != nil {
			t.Errorf("job %s: next %q: %v", job, next, err)
		}
	}

	waitMetric(t, p, addr, `mallet_runs_total{mallet_job="slow",outcome="success"}`, 1, 15*time.Second)
	waitMetric(t, p, addr, `mallet_runs_total{mallet_job="slow",outcome="skipped"}`, 1, 5*time.Second)
	waitMetric(t, p, addr, `mallet_runs_total{mallet_job="fast",outcome="success"}`, 1, 5*time.Second)
	if v := metric(t, addr, `mallet_rows_total{mallet_job="slow"}`); v < 2 {
		t.Errorf("mallet_rows_total{slow} = %v, want at least 2 (one row per tenant)", v)
	}
	if v := metric(t, addr, `mallet_last_success_timestamp_seconds{mallet_job="slow"}`); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("mallet_last_success_timestamp_seconds{slow} = %v, want about now", v)
	}
	if v := metric(t, addr, `mallet_run_duration_seconds_count{mallet_job="slow"}`); v < 1 {
		t.Errorf("mallet_run_duration_seconds_count{slow} = %v, want at least 1", v)
	}
	if v := metric(t, addr, `mallet_runs_total{mallet_job="manual",outcome="success"}`); v != -1 {
		t.Errorf("the unscheduled job has runs: %v", v)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: got %s, want 200", resp.Status)
	}

	// SIGTERM while a slow run is in its SLEEP(2): the 1 s grace runs out.
	p.waitLog(p.logCount(), 5*time.Second, "a new slow run", msgIs("run start", "job", "slow"))
	before := visible(t, out, "slow")
	if len(before) == 0 {
		t.Fatalf("before SIGTERM nothing is visible, want the earlier runs' output")
	}
	code, took := p.exit(syscall.SIGTERM, 5*time.Second)
	t.Logf("exit %d %s after SIGTERM", code, took)
	if code != exitFailed {
		t.Errorf("exit code %d, want %d (a run was cancelled)", code, exitFailed)
	}
	if took > 4*time.Second {
		t.Errorf("took %s to stop, want about the 1s grace period", took)
	}
	i := p.waitLog(0, time.Second, "a cancelled slow run", msgIs("run end", "job", "slow", "outcome", "cancelled"))
	after := visible(t, out, "slow")
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the cancelled run changed what readers see:\nbefore %v\nafter  %v", before, after)
	}
	if left := leftBy(t, out, "slow", logField(p, i, "run_id")); len(left) > 0 {
		t.Errorf("the cancelled run left files: %v", left)
	}
}

// A SIGHUP with a broken config is logged and the old schedule keeps going;
// a good config then replaces it. SIGTERM with nothing slow running exits 0.
func testScheduleReloadKeepsOldConfigOnError(t *testing.T, bin string) {
	prefix := schedFleet(t, 1)
	dir := t.TempDir()
	jobs := func(name string) string {
		return "  " + name + `:
    source: crm
    query: fast.sql
    schedule: "@every 1s"
    output:
      to: "{{out}}"
      format: csv
`
	}
	cfg := schedConfig(t, dir, prefix, jobs("tick"), map[string]string{"fast.sql": fastSQL})
	p := startMallet(t, bin, "schedule", "--config", cfg, "--listen", "127.0.0.1:0", "--log-format", "json", "--shutdown-timeout", "5s")
	addr := listenAddr(p)
	p.waitLog(0, 5*time.Second, "scheduler started", msgIs("scheduler started"))
	tick := `mallet_runs_total{mallet_job="tick",outcome="success"}`
	waitMetric(t, p, addr, tick, 1, 10*time.Second)

	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(good), "schedule:", "schedul:", 1)
	if err := os.WriteFile(cfg, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	from := p.logCount()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	i := p.waitLog(from, 5*time.Second, "reload failed", msgIs("config reload failed: keeping the running config"))
	p.mu.Lock()
	if e := fmt.Sprint(p.logs[i]["error"]); !strings.Contains(e, "schedul") {
		t.Errorf("reload error %q does not name the unknown key", e)
	}
	p.mu.Unlock()
	n := metric(t, addr, tick)
	waitMetric(t, p, addr, tick, n+2, 5*time.Second)
	if v := metric(t, addr, `mallet_config_reloads_total{outcome="failed"}`); v != 1 {
		t.Errorf("mallet_config_reloads_total{failed} = %v, want 1", v)
	}

	// A good config with another job replaces the schedule.
	cfg = schedConfig(t, dir, prefix, jobs("tock"), nil)
	from = p.logCount()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(from, 5*time.Second, "config reloaded", msgIs("config reloaded"))
	waitMetric(t, p, addr, `mallet_runs_total{mallet_job="tock",outcome="success"}`, 1, 5*time.Second)
	n = metric(t, addr, tick)
	time.Sleep(1500 * time.Millisecond)
	if v := metric(t, addr, tick); v > n+1 { // one run of tick may have been under way
		t.Errorf("tick still runs after the reload removed it: %v -> %v", n, v)
	}

	code, took := p.exit(syscall.SIGTERM, 7*time.Second)
	if code != exitOK {
		t.Errorf("exit code %d after a clean shutdown, want 0", code)
	}
	t.Logf("clean shutdown in %s", took)
}

// run job on SIGTERM: a run that ends within the grace period publishes and
// exits 0; one that does not is cancelled, publishes nothing and exits 1.
func testRunJobSIGTERM(t *testing.T, bin string) {
	prefix := schedFleet(t, 2)
	for _, tc := range []struct {
		name      string
		grace     string
		wantCode  int
		wantParts int
		outcome   string
	}{
		{name: "finishes in grace", grace: "10s", wantCode: exitOK, wantParts: 2, outcome: "success"},
		{name: "cancelled after grace", grace: "300ms", wantCode: exitFailed, wantParts: 0, outcome: "cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			cfg := schedConfig(t, dir, prefix, `  slow:
    source: crm
    query: slow.sql
    output:
      to: "{{out}}"
      format: csv
`, map[string]string{"slow.sql": slowSQL})
			p := startMallet(t, bin, "run", "job", "slow", "--config", cfg, "--log-format", "json", "--shutdown-timeout", tc.grace)
			p.waitLog(0, 10*time.Second, "run start", msgIs("run start", "job", "slow"))
			code, took := p.exit(syscall.SIGTERM, 10*time.Second)
			t.Logf("exit %d %s after SIGTERM", code, took)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			i := p.waitLog(0, time.Second, "run end", msgIs("run end", "job", "slow"))
			p.mu.Lock()
			end := p.logs[i]
			p.mu.Unlock()
			if end["outcome"] != tc.outcome {
				t.Errorf("run end outcome %v, want %s", end["outcome"], tc.outcome)
			}
			for _, k := range []string{"rows", "bytes", "tenants_failed", "run_duration_seconds"} {
				if _, ok := end[k]; !ok {
					t.Errorf("run end lacks %s: %v", k, end)
				}
			}
			if got := dataFiles(t, out, "slow", fmt.Sprint(end["run_date"])); len(got) != tc.wantParts {
				t.Errorf("data objects %v, want %d parts", got, tc.wantParts)
			}
			if got := visible(t, out, "slow"); (len(got) > 0) != (tc.wantParts > 0) {
				t.Errorf("visible %v, want something: %v", got, tc.wantParts > 0)
			}
		})
	}
}

// --shard and MALLET_SHARD split the tenants of a run: the dry runs of all
// shards list every tenant once.
func testRunJobShardFlag(t *testing.T, bin string) {
	prefix := schedFleet(t, 6)
	dir := t.TempDir()
	cfg := schedConfig(t, dir, prefix, `  fast:
    source: crm
    query: fast.sql
    output:
      to: "{{out}}"
`, map[string]string{"fast.sql": fastSQL})
	const n = 3
	seen := map[string]int{}
	for k := 1; k <= n; k++ {
		args := []string{"run", "job", "fast", "--dry-run", "--config", cfg, "--log-format", "json"}
		env := "MALLET_SHARD=" + fmt.Sprintf("%d/%d", k, n)
		if k == 1 {
			args, env = append(args, "--shard", "1/3"), "MALLET_SHARD=2/2" // the flag wins
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env)
		stdout, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("shard %d/%d: %v\n%s", k, n, err, ee.Stderr)
			}
			t.Fatalf("shard %d/%d: %v", k, n, err)
		}
		for line := range strings.SplitSeq(string(stdout), "\n") {
			if db, ok := strings.CutPrefix(strings.TrimSpace(line), "db1/"); ok {
				if prev, dup := seen[db]; dup {
					t.Errorf("%s is in shard %d and shard %d", db, prev, k)
				}
				seen[db] = k
			}
		}
	}
	if len(seen) != 6 {
		t.Errorf("the shards cover %d tenants, want 6: %v", len(seen), seen)
	}

	// auto/N takes K from the platform's 0-based index: a Kubernetes
	// Indexed Job's pods and a Batch array's children, 0..N-1, give the
	// same split as 1/N..N/N.
	for _, indexVar := range []string{"JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"} {
		covered := 0
		for k := 1; k <= n; k++ {
			cmd := exec.Command(bin, "run", "job", "fast", "--dry-run", "--config", cfg, "--log-format", "json")
			cmd.Env = append(withoutShardEnv(), "MALLET_SHARD=auto/3", fmt.Sprintf("%s=%d", indexVar, k-1))
			stdout, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s=%d: %v", indexVar, k-1, err)
			}
			var dbs []string
			for line := range strings.SplitSeq(string(stdout), "\n") {
				if db, ok := strings.CutPrefix(strings.TrimSpace(line), "db1/"); ok {
					dbs = append(dbs, db)
					covered++
					if seen[db] != k {
						t.Errorf("%s=%d: %s, which --shard %d/%d does not run", indexVar, k-1, db, k, n)
					}
				}
			}
			t.Logf("%s=%d runs %v", indexVar, k-1, dbs)
		}
		if covered != 6 {
			t.Errorf("%s=0..%d cover %d tenants, want 6", indexVar, n-1, covered)
		}
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, "neither JOB_COMPLETION_INDEX"},
		{[]string{"JOB_COMPLETION_INDEX=3"}, "not an index in 0..2"},
	} {
		cmd := exec.Command(bin, "run", "job", "fast", "--dry-run", "--config", cfg, "--shard", "auto/3")
		cmd.Env = append(withoutShardEnv(), tc.env...)
		out, err := cmd.CombinedOutput()
		if err == nil || cmd.ProcessState.ExitCode() != exitUsage || !strings.Contains(string(out), tc.want) {
			t.Errorf("--shard auto/3 with %v: got %v, %q; want exit %d saying %q", tc.env, err, out, exitUsage, tc.want)
		}
	}

	// Real runs of 8 shards over 6 tenants (so some shards are empty) into
	// one partition: every run succeeds, and the partition holds the parts
	// of every shard that has a tenant, named after their shard: one part
	// per tenant at most, one per shard at least, as packing puts the
	// tenants that one writer runs into one part.
	const shards = 8
	for k := 1; k <= shards; k++ {
		cmd := exec.Command(bin, "run", "job", "fast", "--config", cfg, "--log-format", "json", "--shard", fmt.Sprintf("%d/%d", k, shards))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("run shard %d/%d: %v\n%s", k, shards, err, out)
		}
	}
	date := time.Now().In(mustZone(t, "Asia/Tokyo")).Format(time.DateOnly)
	parts := dataFiles(t, filepath.Join(dir, "out"), "fast", date)
	held := map[int]bool{}
	for i := 1; i <= 6; i++ {
		held[jobs.ShardOf(extract.Tenant{Server: "db1", Database: fmt.Sprintf("%scrm_t%03d", prefix, i)}, shards)] = true
	}
	if len(parts) < len(held) || len(parts) > 6 {
		t.Errorf("partition holds %d parts, want %d to 6 (%d shards hold a tenant): %v", len(parts), len(held), len(held), parts)
	}
	named := map[int]bool{}
	for _, key := range parts {
		m := regexp.MustCompile(`s([1-8])of8`).FindStringSubmatch(filepath.Base(key))
		if m == nil {
			t.Errorf("part %s does not name its shard", key)
			continue
		}
		k, _ := strconv.Atoi(m[1])
		named[k] = true
	}
	if !maps.Equal(named, held) {
		t.Errorf("parts name shards %v, want the shards that hold a tenant %v", named, held)
	}
	manifests := visible(t, filepath.Join(dir, "out"), "fast")
	lines := 0
	for _, text := range manifests {
		lines += len(strings.Fields(text))
	}
	if lines != len(parts) {
		t.Errorf("the symlink manifests list %d files, want the %d parts: %v", lines, len(parts), manifests)
	}
	t.Logf("%d symlink manifests for %d shards", len(manifests), shards)

	cmd := exec.Command(bin, "run", "job", "fast", "--dry-run", "--config", cfg, "--shard", "4/3")
	if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != exitUsage {
		t.Errorf("--shard 4/3: got %v, want exit %d", err, exitUsage)
	}
}

// withoutShardEnv is the test's environment without the variables that
// choose a shard.
func withoutShardEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name != "MALLET_SHARD" && !slices.Contains(jobs.ShardIndexEnv, name) {
			env = append(env, kv)
		}
	}
	return env
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
