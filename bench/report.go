package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	beginMark = "<!-- bench:begin (written by go run ./bench) -->"
	endMark   = "<!-- bench:end -->"
)

// median of a metric over the samples.
func median[T int64 | time.Duration](ss []sample, f func(sample) T) T {
	v := make([]T, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

type summary struct {
	wall, cpu       time.Duration
	rss, rows, size int64
	files           int64
}

func (s summary) rate() float64 { return float64(s.rows) / s.wall.Seconds() }

func summarise(sc *scenario) summary {
	return summary{
		wall:  median(sc.samples, func(s sample) time.Duration { return s.wall }),
		cpu:   median(sc.samples, func(s sample) time.Duration { return s.cpu }),
		rss:   median(sc.samples, func(s sample) int64 { return s.rss }),
		rows:  median(sc.samples, func(s sample) int64 { return s.rows }),
		size:  median(sc.samples, func(s sample) int64 { return s.bytes }),
		files: median(sc.samples, func(s sample) int64 { return s.files }),
	}
}

func render(ctx context.Context, o options, cfg *mysql.Config, scenarios []*scenario) string {
	sum := map[string]summary{}
	for _, s := range scenarios {
		sum[s.name] = summarise(s)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", beginMark)
	fmt.Fprintf(&b, "Run `go run ./bench %s` on %s.\n\n", strings.Join(os.Args[1:], " "), time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "| machine | |\n|---|---|\n")
	for _, kv := range machine(ctx, o.dsn) {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], kv[1])
	}
	fmt.Fprintf(&b, "\nMedians of %d runs. Rates are rows per second of wall time (process start to exit); files is the data files a run published; out MB is the output (TSV, CSV or Parquet as written), MB/s that per second; RSS is the process's peak resident set (/usr/bin/time %%M); ratios compare with the client's rate measured in the same run. The machine's 2 cores are shared with MariaDB, the fake S3 and, often, other work: peak RSS and CPU s are robust to that, rates and ratios are not.\n\n", o.runs)
	fmt.Fprintf(&b, "| scenario | what | rows | files | wall s | rows/s | out MB | MB/s | CPU s | peak RSS MiB | ratio |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, s := range scenarios {
		x := sum[s.name]
		files := ""
		if strings.HasPrefix(s.name, "mallet-") {
			files = fmt.Sprint(x.files)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %.2f | %.0f | %.2f | %.1f | %.2f | %.1f | %s |\n", s.name, s.what, x.rows, files, x.wall.Seconds(), x.rate(),
			float64(x.size)/1e6, float64(x.size)/1e6/x.wall.Seconds(), x.cpu.Seconds(), float64(x.rss)/1024, ratioText(s.name, sum))
	}
	b.WriteString("\nTargets (speed against the mysql client, memory bounded and flat in rows, fleets against one tenant):\n\n| target | measured | met |\n|---|---|---|\n")
	for _, t := range targets(o, sum) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t[0], t[1], t[2])
	}
	fmt.Fprintf(&b, "\n%s\n", endMark)
	return b.String()
}

// ratioText is a mallet scenario's rate against its baseline.
func ratioText(name string, sum map[string]summary) string {
	x, ok := sum[name]
	if !ok || !strings.HasPrefix(name, "mallet-") || strings.Contains(name, "fleet") || strings.Contains(name, "small") || strings.Contains(name, "large") {
		return ""
	}
	var parts []string
	for _, base := range []string{"client-null", "client-file", "bash-gz"} {
		if c, ok := sum[base]; ok {
			parts = append(parts, fmt.Sprintf("%.2fx %s", x.rate()/c.rate(), base))
		}
	}
	return strings.Join(parts, ", ")
}

func targets(o options, sum map[string]summary) [][3]string {
	var out [][3]string
	ratio := func(label, a, b string, want float64) {
		x, ok1 := sum[a]
		y, ok2 := sum[b]
		if !ok1 || !ok2 {
			return
		}
		r := x.rate() / y.rate()
		out = append(out, [3]string{label, fmt.Sprintf("%.2fx", r), yes(r >= want)})
	}
	ratio("Parquet >= 1.2x client to /dev/null", "mallet-parquet-local", "client-null", 1.2)
	ratio("CSV >= 1.4x client to file", "mallet-csv-local", "client-file", 1.4)
	ratio("csv.gz >= 2x the bash way (client to file, then gzip)", "mallet-csv.gz-local", "bash-gz", 2)
	rss := func(label string, limit int64, names ...string) {
		var worst int64
		var at string
		for _, n := range names {
			if x, ok := sum[n]; ok && x.rss > worst {
				worst, at = x.rss, n
			}
		}
		if worst > 0 {
			out = append(out, [3]string{label, fmt.Sprintf("%.1f MiB (%s)", float64(worst)/1024, at), yes(worst <= limit*1024)})
		}
	}
	formats := []string{"parquet", "csv", "csv.gz"}
	var local, s3 []string
	for _, f := range formats {
		local, s3 = append(local, "mallet-"+f+"-local"), append(s3, "mallet-"+f+"-s3")
	}
	rss(fmt.Sprintf("peak RSS <= 64 MiB, %d rows to a folder (worst format)", o.rows), 64, local...)
	rss(fmt.Sprintf("peak RSS <= 96 MiB, %d rows to S3 (worst format)", o.rows), 96, s3...)
	rss(fmt.Sprintf("peak RSS <= 128 MiB, %d tenants to S3 at concurrency %d (worst format)", o.fleet, o.fleetConc), 128,
		"mallet-fleet-parquet-s3", "mallet-fleet-csv-s3")
	rss(fmt.Sprintf("peak RSS < 128 MiB, %d rows of 1 MiB values (worst)", o.large), 127,
		"mallet-large-parquet-local", "mallet-large-parquet-s3", "mallet-large-csv.gz-local")
	if p, ok := sum["mallet-large-parquet-local"]; ok {
		if g, ok := sum["mallet-large-csv.gz-local"]; ok && g.size > 0 {
			r := float64(p.size) / float64(g.size)
			out = append(out, [3]string{"Parquet of 1 MiB values <= 4x the size of the csv.gz", fmt.Sprintf("%.2f MB vs %.2f MB (%.1fx)", float64(p.size)/1e6, float64(g.size)/1e6, r), yes(r <= 4)})
		}
	}
	if o.rssRows > 0 {
		for _, f := range []string{"parquet", "csv"} {
			a, ok1 := sum["mallet-"+f+"-local"]
			b, ok2 := sum[fmt.Sprintf("mallet-%dM-%s-local", o.rssRows/1_000_000, f)]
			if ok1 && ok2 {
				r := float64(b.rss) / float64(a.rss)
				out = append(out, [3]string{fmt.Sprintf("%s peak RSS with %d rows within 10%% of %d rows", f, o.rssRows, o.rows),
					fmt.Sprintf("%.1f vs %.1f MiB (%+.0f%%)", float64(b.rss)/1024, float64(a.rss)/1024, (r-1)*100), yes(r <= 1.1)})
			}
		}
	}
	if a, ok := sum["mallet-fleet-parquet-local"]; ok {
		if b, ok := sum["mallet-parquet-local"]; ok {
			r := a.wall.Seconds() / b.wall.Seconds()
			out = append(out, [3]string{fmt.Sprintf("%d x %d rows wall <= 1.3x the %d-row tenant's (parquet)", o.fleet, o.fleetRows, o.rows), fmt.Sprintf("%.2fx", r), yes(r <= 1.3)})
		}
	}
	if o.small > 0 {
		rows := int64(o.small) * o.smallRows
		for _, f := range []string{"parquet", "csv"} {
			a, ok1 := sum["mallet-small-"+f+"-local"]
			b, ok2 := sum[fmt.Sprintf("mallet-%dk-%s-local", rows/1000, f)]
			if ok1 && ok2 {
				r := a.wall.Seconds() / b.wall.Seconds()
				out = append(out, [3]string{fmt.Sprintf("%d x %d rows wall <= 3x the %d-row tenant's (%s)", o.small, o.smallRows, rows, f), fmt.Sprintf("%.2fx", r), yes(r <= 3)})
			}
		}
	}
	for _, f := range []string{"parquet", "csv", "csv.gz"} {
		a, ok1 := sum["mallet-"+f+"-s3"]
		b, ok2 := sum["mallet-"+f+"-local"]
		if ok1 && ok2 {
			r := a.wall.Seconds() / b.wall.Seconds()
			out = append(out, [3]string{"S3 loopback <= 1.15x local folder time, " + f, fmt.Sprintf("%.2fx", r), yes(r <= 1.15)})
		}
	}
	return out
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// machine describes the machine the numbers were taken on.
func machine(ctx context.Context, dsn string) [][2]string {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	server := "unknown"
	if db, err := sql.Open("mysql", dsn); err == nil {
		_ = db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&server)
		db.Close()
	}
	client, _ := exec.Command("mysql", "--version").Output()
	kernel, _ := exec.Command("uname", "-sr").Output()
	return [][2]string{
		{"CPU", cpu},
		{"cores", fmt.Sprint(runtime.NumCPU())},
		{"RAM", mem},
		{"kernel", strings.TrimSpace(string(kernel))},
		{"Go", runtime.Version()},
		{"MariaDB server", server},
		{"mysql client", strings.TrimSpace(string(client))},
		{"date", time.Now().UTC().Format("2006-01-02")},
	}
}

// writeSection replaces the harness section of file (or appends one).
func writeSection(file, section string) error {
	old, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	i := bytes.Index(old, []byte(beginMark))
	j := bytes.Index(old, []byte(endMark))
	var out []byte
	if i >= 0 && j > i {
		out = append(append(append(out, old[:i]...), section...), bytes.TrimPrefix(old[j+len(endMark):], []byte("\n"))...)
	} else {
		out = append(append(old, '\n'), section...)
	}
	return os.WriteFile(file, out, 0o644)
}
