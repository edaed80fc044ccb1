//go:build !nodemo

package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/mallet-etl/mallet/demo"
	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/load"
)

// expected holds the demo data's aggregates for the run date, computed
// with plain SQL on MariaDB loaded with the same sample files: apart from
// mallet's pipeline and from the embedded engine.
type expected struct {
	accessRows int64
	logins     int64
	sent       int64
	totals     map[string][2]int64 // result: sends, cost in cents
}

func demoExpected(t *testing.T, tenants int) expected {
	t.Helper()
	db := testdb.Open(t)
	prefix := testdb.Prefix()
	const w = "BETWEEN '2026-11-25 00:00:00' AND '2026-11-25 23:59:59.999999'"
	e := expected{totals: map[string][2]int64{}}
	one := func(q string) int64 {
		var n int64
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	for i := 1; i <= tenants; i++ {
		d := fmt.Sprintf("%scrm_t%03d", prefix, i)
		testdb.Create(t, db, d)
		testdb.ExecFile(t, db, d, "testdata/sample/tenant_schema.sql")
		testdb.ExecFile(t, db, d, "testdata/sample/tenant_data.sql", fmt.Sprintf("SET @tenant_no = %d", i))
		e.accessRows += one("SELECT COUNT(*) FROM " + d + ".access_logs WHERE requested_at " + w)
		e.logins += one("SELECT COUNT(*) FROM " + d + ".logins WHERE logged_in_at " + w)
		e.sent += one("SELECT COUNT(*) FROM " + d + ".mail_send_logs WHERE result = 'sent' AND sent_at " + w)
		for _, r := range []string{"sent", "bounced", "deferred"} {
			n := one("SELECT COUNT(*) FROM " + d + ".mail_send_logs WHERE result = '" + r + "' AND sent_at " + w)
			c := one("SELECT CAST(COALESCE(SUM(cost), 0) * 100 AS SIGNED) FROM " + d + ".mail_send_logs WHERE result = '" + r + "' AND sent_at " + w)
			e.totals[r] = [2]int64{e.totals[r][0] + n, e.totals[r][1] + c}
		}
	}
	return e
}

// cents parses decimal text such as "12.35" or "3.5" as hundredths.
func cents(t *testing.T, s string) int64 {
	t.Helper()
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "00")[:2]
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		t.Fatalf("cost %q: %v", s, err)
	}
	return n
}

func TestDemoSubprocess(t *testing.T) {
	bin := malletBinary(t, "")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, "demo", "--report", "report.json")
	cmd.Dir = dir
	cmd.Env = cleanEnv("MALLET_PROGRESS_INTERVAL=5ms")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("demo ran in %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("mallet demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	want := demoExpected(t, demo.DefaultTenants)

	var rep demoReport
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ExitCode != 0 || len(rep.Runs) != 6 {
		t.Fatalf("report: exit code %d with %d runs, want 0 with 6", rep.ExitCode, len(rep.Runs))
	}
	files := map[string][]string{} // job: local paths
	for _, r := range rep.Runs {
		if r.Error != "" || len(r.Objects) == 0 {
			t.Errorf("job %s: error %q, %d objects; want no error and objects", r.Job, r.Error, len(r.Objects))
		}
		for _, o := range r.Objects {
			p, ok := strings.CutPrefix(o.URI, "file://")
			if !ok || !strings.HasPrefix(p, dir+string(filepath.Separator)+"out"+string(filepath.Separator)) {
				t.Errorf("object %s: want a file under %s/out", o.URI, dir)
			}
			if fi, err := os.Stat(p); err != nil || fi.Size() != o.Bytes {
				t.Errorf("object %s: stat %v, want %d bytes", o.URI, err, o.Bytes)
			}
			files[r.Job] = append(files[r.Job], p)
		}
	}

	t.Run("access_logs rows", func(t *testing.T) {
		var got int64
		for _, p := range files["access_logs"] {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			err = load.ReadParquetRows(bytes.NewReader(data), int64(len(data)), func([]any) error { got++; return nil })
			if err != nil {
				t.Fatal(err)
			}
		}
		if got != want.accessRows {
			t.Errorf("got %d rows, want %d", got, want.accessRows)
		}
	})
	t.Run("mail_send_counts sent_count", func(t *testing.T) {
		var got int64
		for _, p := range files["mail_send_counts"] {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			s, _, err := load.ReadParquetSchema(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			col := -1
			for i, c := range s {
				if c.Name == "sent_count" {
					col = i
				}
			}
			if col < 0 {
				t.Fatalf("%s: no sent_count column in %v", p, s)
			}
			err = load.ReadParquetRows(bytes.NewReader(data), int64(len(data)), func(row []any) error {
				got += row[col].(int64)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if got != want.sent {
			t.Errorf("got %d sent, want %d", got, want.sent)
		}
	})
	t.Run("daily_logins login_count", func(t *testing.T) {
		var got int64
		for _, p := range files["daily_logins"] {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(zr).ReadAll()
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			col := indexOf(recs[0], "login_count")
			for _, r := range recs[1:] {
				n, _ := strconv.ParseInt(r[col], 10, 64)
				got += n
			}
		}
		if got != want.logins {
			t.Errorf("got %d logins, want %d", got, want.logins)
		}
	})
	t.Run("mail_send_totals", func(t *testing.T) {
		if len(files["mail_send_totals"]) != 1 {
			t.Fatalf("got %d files, want 1", len(files["mail_send_totals"]))
		}
		data, err := os.ReadFile(files["mail_send_totals"][0])
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		h := recs[0]
		got := map[string][2]int64{}
		for _, r := range recs[1:] {
			// tenants counts the tenants that had rows in the group.
			if n, _ := strconv.Atoi(r[indexOf(h, "tenants")]); r[indexOf(h, "day")] != "2026-11-25" || n < 1 || n > demo.DefaultTenants {
				t.Errorf("row %v: want day 2026-11-25 over 1..%d tenants", r, demo.DefaultTenants)
			}
			n, _ := strconv.ParseInt(r[indexOf(h, "sends")], 10, 64)
			got[r[indexOf(h, "result")]] = [2]int64{n, cents(t, r[indexOf(h, "cost")])}
		}
		for res, w := range want.totals {
			if got[res] != w {
				t.Errorf("%s: got sends, cents %v, want %v", res, got[res], w)
			}
		}
	})
	t.Run("pipe output", func(t *testing.T) {
		for name, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
			if i := strings.IndexAny(out, "\x1b\r"); i >= 0 {
				t.Errorf("%s has a control code at %d: %q", name, i, out[max(0, i-40):min(len(out), i+40)])
			}
		}
		if !strings.Contains(stderr.String(), `"msg":"progress"`) {
			t.Errorf("stderr has no progress log line:\n%s", stderr.String())
		}
		for _, s := range []string{"files written:", "first ", "mail_send_counts", "株式会社サンプル商事"} {
			if !strings.Contains(stdout.String(), s) {
				t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
			}
		}
	})
}

func indexOf(h []string, name string) int {
	if i := slices.Index(h, name); i >= 0 {
		return i
	}
	panic(fmt.Sprintf("no column %s in %v", name, h))
}

// On a terminal the demo draws a live progress bar; the pipe case is in
// TestDemoSubprocess.
func TestDemoProgressTerminal(t *testing.T) {
	bin := malletBinary(t, "")
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo", "--tenants", "1")
	cmd.Dir = t.TempDir()
	cmd.Env = cleanEnv()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = tty, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	out, _ := io.ReadAll(ptmx) // ends with EIO when the child exits
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mallet demo: %v\n%s\n%s", err, out, stderr.String())
	}
	s := string(out)
	if !strings.Contains(s, "\x1b[") && !strings.Contains(s, "\r") {
		t.Errorf("terminal output has no control codes, want a live bar:\n%q", s)
	}
	if !strings.Contains(s, "1/1 tenants") {
		t.Errorf("terminal output lacks the bar's \"1/1 tenants\":\n%q", s)
	}
	if strings.Contains(stderr.String(), `"msg":"progress"`) {
		t.Errorf("progress log lines on a terminal run, want the bar only:\n%s", stderr.String())
	}
}
