package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/internal/testdb"
)

// The cron and systemd files of deploy/ run `mallet run job` on one host.
// They are checked like the ECS ones: every job they name is a job of
// config.yaml, at the time of its schedule, in its zone; the flags exist;
// every exit code is told apart; and the cron wrapper really passes the
// exit code through and speaks only when a person should look.

// exitCodes are every code `run job` exits with; a new one must be added
// here, to the wrapper, the alert unit and the table in docs/deploy.md.
var exitCodes = []int{exitOK, exitFailed, exitUsage, exitPartial, exitLocked, exitCatalog}

func readDeploy(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdb.Root(), "deploy", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// unitFile parses a systemd unit into "Section.Key" -> values.
func unitFile(t *testing.T, rel string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(readDeploy(t, rel)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: not key=value: %q", rel, line)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

func one(t *testing.T, unit map[string][]string, key string) string {
	t.Helper()
	if len(unit[key]) != 1 {
		t.Fatalf("%s: got %q, want one value", key, unit[key])
	}
	return unit[key][0]
}

// runFlags checks that args (after "run job JOB") are flags of run.
func runFlags(t *testing.T, args []string) {
	t.Helper()
	known := map[string]bool{}
	for _, f := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(helpOf(t, "run", "job", "--help"), -1) {
		known[f[1]] = true
	}
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			if !known[name] {
				t.Errorf("run has no flag --%s", name)
			}
		}
	}
}

// nextFirings returns the next n times a job's cron schedule fires after from.
func nextFirings(t *testing.T, job *config.Job, from time.Time, n int) []time.Time {
	t.Helper()
	sched := job.Cron
	if sched == nil {
		t.Fatalf("job %s has no schedule", job.Name)
	}
	var out []time.Time
	at := from.In(job.Location)
	for range n {
		at = sched.Next(at)
		out = append(out, at.UTC())
	}
	return out
}

func TestDeployCron(t *testing.T) {
	cfg, _ := shippedConfig(t)
	env := map[string]string{}
	jobsSeen := 0
	for _, line := range strings.Split(readDeploy(t, "cron/mallet"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && !strings.Contains(k, " ") {
			env[k] = v
			continue
		}
		f := strings.Fields(line)
		if len(f) != 8 || f[6] != "mallet-run" {
			t.Errorf("cron line %q: want m h dom mon dow user mallet-run JOB", line)
			continue
		}
		jobsSeen++
		job, ok := cfg.Jobs[f[7]]
		if !ok {
			t.Errorf("cron runs %q, which is no job of config.yaml", f[7])
			continue
		}
		if got := strings.Join(f[:5], " "); got != job.Schedule {
			t.Errorf("cron runs %s at %q, config.yaml schedules it at %q", f[7], got, job.Schedule)
		}
		if env["CRON_TZ"] != job.Location.String() {
			t.Errorf("cron reads %s's time in CRON_TZ=%q, the job's zone is %s", f[7], env["CRON_TZ"], job.Location)
		}
	}
	if jobsSeen == 0 {
		t.Error("deploy/cron/mallet runs no job")
	}
	if env["MAILTO"] == "" {
		t.Error("deploy/cron/mallet sets no MAILTO: the wrapper's alerts would go to the local user")
	}
}

// TestDeployCronWrapper runs deploy/cron/mallet-run with a stand-in mallet
// that exits with each code, and checks what a person is told.
func TestDeployCronWrapper(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// The stand-in records its arguments and whether the secret reached it.
	fake := "#!/bin/sh\necho \"args: $*\"\necho \"dsn set: ${CRM_DB1_DSN:+yes}\"\nexit \"$FAKE_EXIT\"\n"
	if err := os.WriteFile(filepath.Join(bin, "mallet"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(dir, "mallet.env")
	// Quoted, as docs/deploy.md says: sh reads it for cron, and a DSN's
	// parentheses are shell syntax.
	if err := os.WriteFile(envFile, []byte("CRM_DB1_DSN='u:secret@tcp(db1:3306)/'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(testdb.Root(), "deploy", "cron", "mallet-run")
	tells := map[int]string{
		exitOK:      "",
		exitFailed:  "mallet mail_send_counts: FAILED, nothing published (exit 1)",
		exitUsage:   "usage or config error (exit 2)",
		exitPartial: "published without some tenants (exit 3)",
		exitLocked:  "another run holds the job's lease, nothing done (exit 4)",
		exitCatalog: "published, but the Glue catalog sync or a QuickSight refresh failed (exit 5)",
	}
	for _, code := range exitCodes {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			want, ok := tells[code]
			if !ok {
				t.Fatalf("test bug: nothing to tell for exit %d", code)
			}
			cmd := exec.CommandContext(t.Context(), wrapper, "mail_send_counts", "--date", "2026-11-25")
			cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin", "FAKE_EXIT="+fmt.Sprint(code),
				"MALLET_ENV_FILE="+envFile, "MALLET_CONFIG=/etc/mallet/config.yaml", "MALLET_LOG_DIR="+dir, "MALLET_STATE_DIR="+dir)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			cmd.Run() //nolint:errcheck // the exit code is checked
			if got := cmd.ProcessState.ExitCode(); got != code {
				t.Errorf("exit code: got %d, want %d passed through", got, code)
			}
			if stdout.String() != "" {
				t.Errorf("stdout %q: cron would mail it", stdout.String())
			}
			if want == "" && stderr.String() != "" || want != "" && !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr: got %q, want %q", stderr.String(), want)
			}
			log, err := os.ReadFile(filepath.Join(dir, "mail_send_counts.log"))
			if err != nil {
				t.Fatal(err)
			}
			wantArgs := "args: run job mail_send_counts --config /etc/mallet/config.yaml --log-format json --report " + filepath.Join(dir, "mail_send_counts.json") + " --date 2026-11-25"
			if !strings.Contains(string(log), wantArgs) || !strings.Contains(string(log), "dsn set: yes") {
				t.Errorf("log %q: want %q and the DSN from the env file", log, wantArgs)
			}
			runFlags(t, strings.Fields(strings.TrimPrefix(wantArgs, "args: run job mail_send_counts")))
		})
	}
}

func TestDeploySystemd(t *testing.T) {
	cfg, _ := shippedConfig(t)
	svc := unitFile(t, "systemd/mallet@.service")
	start := strings.Fields(one(t, svc, "Service.ExecStart"))
	if len(start) < 4 || filepath.Base(start[0]) != "mallet" || strings.Join(start[1:4], " ") != "run job %i" {
		t.Fatalf("ExecStart %q: want mallet run job %%i ...", start)
	}
	runFlags(t, start[4:])
	if got := one(t, svc, "Service.Type"); got != "oneshot" {
		t.Errorf("Type=%s, want oneshot: the unit is one run", got)
	}
	// systemd's SIGKILL must come after mallet's shutdown timeout.
	stop, err := time.ParseDuration(one(t, svc, "Service.TimeoutStopSec") + "s")
	if err != nil {
		t.Fatal(err)
	}
	if grace := 25 * time.Second; !strings.Contains(helpOf(t, "run", "job", "--help"), "(default 25s)") || stop <= grace {
		t.Errorf("TimeoutStopSec=%s, want more than run's --shutdown-timeout default %s", stop, grace)
	}
	if got := one(t, svc, "Service.KillSignal"); got != "SIGTERM" {
		t.Errorf("KillSignal=%s, want SIGTERM", got)
	}
	if got := one(t, svc, "Unit.OnFailure"); got != "mallet-alert@%n.service" {
		t.Errorf("OnFailure=%s, want mallet-alert@%%n.service", got)
	}
	alert := one(t, unitFile(t, "systemd/mallet-alert@.service"), "Service.ExecStart")
	for _, code := range exitCodes[2:] {
		if !strings.Contains(alert, fmt.Sprintf(" %d) ", code)) {
			t.Errorf("mallet-alert@.service does not tell exit %d apart", code)
		}
	}
	if strings.Contains(strings.ReplaceAll(alert, "$$", ""), "$") {
		t.Errorf("mallet-alert@.service ExecStart has a single $, which systemd expands itself: %s", alert)
	}

	timers, err := filepath.Glob(filepath.Join(testdb.Root(), "deploy", "systemd", "mallet-*.timer"))
	if err != nil || len(timers) == 0 {
		t.Fatalf("no timer in deploy/systemd (%v)", err)
	}
	onCalendar := regexp.MustCompile(`^\*-\*-\* (\d\d):(\d\d):00 (\S+)$`)
	for _, path := range timers {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "mallet-"), ".timer")
		timer := unitFile(t, filepath.Join("systemd", filepath.Base(path)))
		job, ok := cfg.Jobs[name]
		if !ok {
			t.Errorf("%s: no job %q in config.yaml", path, name)
			continue
		}
		if got, want := one(t, timer, "Timer.Unit"), "mallet@"+name+".service"; got != want {
			t.Errorf("%s: Unit=%s, want %s", path, got, want)
		}
		if got := one(t, timer, "Timer.Persistent"); got != "true" {
			t.Errorf("%s: Persistent=%s, want true: a firing missed while the host is down runs at boot", path, got)
		}
		cal := one(t, timer, "Timer.OnCalendar")
		m := onCalendar.FindStringSubmatch(cal)
		if m == nil {
			t.Fatalf("%s: OnCalendar=%s, want *-*-* HH:MM:00 Zone", path, cal)
		}
		// The timer fires when config.yaml's schedule does.
		from := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
		want := nextFirings(t, job, from, 3)
		loc, err := time.LoadLocation(m[3])
		if err != nil {
			t.Fatalf("%s: zone %s: %v", path, m[3], err)
		}
		var got []time.Time
		for d := from.In(loc); len(got) < 3; d = d.AddDate(0, 0, 1) {
			var h, mi int
			fmt.Sscan(m[1], &h)
			fmt.Sscan(m[2], &mi)
			at := time.Date(d.Year(), d.Month(), d.Day(), h, mi, 0, 0, loc)
			if at.After(from) {
				got = append(got, at.UTC())
			}
		}
		if !slices.EqualFunc(got, want, time.Time.Equal) {
			t.Errorf("%s: %s fires at %v, config.yaml's %q in %s at %v", path, cal, got, job.Schedule, job.Location, want)
		}
		// And systemd reads it so, where systemd-analyze is at hand.
		if sa, err := exec.LookPath("systemd-analyze"); err == nil {
			now := time.Now()
			c := exec.Command(sa, "calendar", cal)
			c.Env = append(os.Environ(), "TZ=UTC")
			out, err := c.CombinedOutput()
			m := regexp.MustCompile(`Next elapse: \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC`).FindSubmatch(out)
			if err != nil || m == nil {
				t.Fatalf("systemd-analyze calendar %q: %v\n%s", cal, err, out)
			}
			next, err := time.Parse(time.DateTime, string(m[1]))
			if want := nextFirings(t, job, now, 1)[0]; err != nil || !next.Equal(want) {
				t.Errorf("systemd-analyze: %s next fires at %s, config.yaml's schedule at %s (%v)", cal, next, want, err)
			}
		}
	}
}

// TestDeployExitCodeTable checks the alert table of docs/deploy.md against
// the exit codes.
func TestDeployExitCodeTable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testdb.Root(), "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Plain cron or a systemd timer")
	if !ok {
		t.Fatal(`docs/deploy.md has no section "Plain cron or a systemd timer"`)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var got []int
	for _, m := range regexp.MustCompile(`(?m)^\| (\d) \| .* \| (.+) \|$`).FindAllStringSubmatch(sec, -1) {
		var code int
		fmt.Sscan(m[1], &code)
		got = append(got, code)
	}
	if !slices.Equal(got, exitCodes) {
		t.Errorf("the alert table lists exit codes %v, want %v", got, exitCodes)
	}
}
