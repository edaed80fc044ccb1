// Command bench is mallet's end-to-end benchmark harness: it checks that
// mallet streams at close to the MySQL wire's speed in constant memory. It is
// not part of the test suite. It creates the data set in a local MariaDB
// (cached between runs), times the mysql client as the ceiling and the real
// mallet binary (built with -tags nodemo) to a local folder and to an
// S3-protocol server on loopback, and writes the medians into BENCHMARKS.md:
//
//	go run ./bench                      # 3 runs, 2M-row tenant + 200 x 10k
//	go run ./bench -rss-rows 10000000   # also the memory check on 10M rows
//	go run ./bench -profile /tmp/prof   # CPU profiles of each mallet run
//	go run ./bench -heapprofile /tmp/h  # heap profiles at each run's peak
//	go run ./bench -trace /tmp/t        # execution traces (go tool trace)
//	go run ./bench -only mallet-small-parquet-local,mallet-150k-parquet-local
//	                                    # 1,500 x 100 rows against one 150k-row tenant
//
// Besides the mail table it runs a table of large values (-large rows of a
// 1 MiB compressible LONGTEXT each), for the memory and file size that one
// big value costs.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"

	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mallet-etl/mallet/load/s3test"
)

type options struct {
	dsn       string
	rows      int64
	fleet     int
	fleetRows int64
	small     int
	smallRows int64
	bin       string
	fleetConc int
	large     int64
	rssRows   int64
	runs      int
	only      string
	write     string
	profile   string
	heap      string
	trace     string
	work      string
}

func main() {
	var o options
	flag.StringVar(&o.dsn, "dsn", "root@tcp(127.0.0.1:3306)/", "go-sql-driver DSN of the MariaDB to benchmark against")
	flag.Int64Var(&o.rows, "rows", 2_000_000, "rows of the big tenant")
	flag.IntVar(&o.fleet, "fleet", 200, "tenants of the fleet (0: skip the fleet)")
	flag.Int64Var(&o.fleetRows, "fleet-rows", 10_000, "rows per fleet tenant")
	flag.IntVar(&o.small, "small", 1500, "tenants of the small fleet, compared with one tenant of all their rows (0: skip)")
	flag.Int64Var(&o.smallRows, "small-rows", 100, "rows per small-fleet tenant")
	flag.StringVar(&o.bin, "bin", "", "mallet binary to time instead of building ./cmd/mallet (to measure another version)")
	flag.IntVar(&o.fleetConc, "fleet-concurrency", 8, "tenants extracted at once in the fleet runs (the source's concurrency)")
	flag.Int64Var(&o.large, "large", 100, "rows of the large-values table, 1 MiB of text each (0: skip)")
	flag.Int64Var(&o.rssRows, "rss-rows", 0, "also run mallet on a tenant of this many rows, for the memory check (e.g. 10000000)")
	flag.IntVar(&o.runs, "runs", 3, "runs of every scenario; medians are reported")
	flag.StringVar(&o.only, "only", "", "comma-separated scenario names to run (default all)")
	flag.StringVar(&o.write, "write", "BENCHMARKS.md", "file whose harness section is replaced with the results (empty: print only)")
	flag.StringVar(&o.profile, "profile", "", "folder for CPU profiles of the mallet runs (MALLET_CPUPROFILE)")
	flag.StringVar(&o.heap, "heapprofile", "", "folder for heap profiles of the mallet runs, taken at the heap's peak (MALLET_HEAPPROFILE)")
	flag.StringVar(&o.trace, "trace", "", "folder for execution traces of the mallet runs, for go tool trace (MALLET_TRACE)")
	flag.StringVar(&o.work, "work", "", "scratch folder (default a temp folder, removed at the end)")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if err := run(context.Background(), o); err != nil {
		log.Fatal(err)
	}
}

// sample is one timed child process.
type sample struct {
	wall  time.Duration
	cpu   time.Duration
	rss   int64 // KiB
	rows  int64
	bytes int64
	files int64 // data files the run published
}

type scenario struct {
	name    string
	what    string
	rows    int64
	run     func(ctx context.Context, i int) (sample, error)
	samples []sample
}

func run(ctx context.Context, o options) error {
	cfg, err := mysql.ParseDSN(o.dsn)
	if err != nil {
		return err
	}
	work := o.work
	if work == "" {
		if work, err = os.MkdirTemp("", "mallet-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	big := fmt.Sprintf("mbench_r%d", o.rows)
	var fleet []string
	for i := range o.fleet {
		fleet = append(fleet, fmt.Sprintf("mbench_f%03d", i))
	}
	genStart := time.Now()
	if err := prepare(ctx, o.dsn, big, o.rows, fleet, o.fleetRows); err != nil {
		return err
	}
	var smallFleet []string
	for i := range o.small {
		smallFleet = append(smallFleet, fmt.Sprintf("mbench_s%04d", i))
	}
	smallBig := ""
	if o.small > 0 {
		// One tenant holding as many rows as the whole small fleet.
		smallBig = fmt.Sprintf("mbench_r%d", int64(o.small)*o.smallRows)
		if err := prepare(ctx, o.dsn, smallBig, int64(o.small)*o.smallRows, smallFleet, o.smallRows); err != nil {
			return err
		}
	}
	if o.large > 0 {
		if err := prepareLarge(ctx, o.dsn, largeDB, o.large); err != nil {
			return err
		}
	}
	huge := ""
	if o.rssRows > 0 {
		huge = fmt.Sprintf("mbench_r%d", o.rssRows)
		if err := prepare(ctx, o.dsn, huge, o.rssRows, nil, 0); err != nil {
			return err
		}
	}
	log.Printf("data set ready in %s", time.Since(genStart).Round(time.Millisecond))

	bin := o.bin
	if bin == "" {
		bin = filepath.Join(work, "mallet")
		build := exec.Command("go", "build", "-tags", "nodemo", "-o", bin, "./cmd/mallet")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build mallet: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(work, "mail.sql"), []byte("SELECT * FROM mail\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "doc.sql"), []byte("SELECT * FROM doc\n"), 0o644); err != nil {
		return err
	}

	client := clientArgs(cfg)
	query := "SELECT * FROM mail"
	var scenarios []*scenario
	add := func(name, what string, rows int64, f func(ctx context.Context, i int) (sample, error)) {
		scenarios = append(scenarios, &scenario{name: name, what: what, rows: rows, run: f})
	}
	add("client-null", "mysql --quick --batch > /dev/null", o.rows, func(ctx context.Context, i int) (sample, error) {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return sample{}, err
		}
		defer null.Close()
		cmd := exec.CommandContext(ctx, "mysql", append(client, "-e", query, big)...)
		cmd.Stdout = null
		s, err := timed(cmd)
		s.rows = o.rows
		return s, err
	})
	tsv := filepath.Join(work, "client.tsv")
	add("client-file", "mysql --quick --batch > file", o.rows, func(ctx context.Context, i int) (sample, error) {
		f, err := os.Create(tsv)
		if err != nil {
			return sample{}, err
		}
		defer f.Close()
		cmd := exec.CommandContext(ctx, "mysql", append(client, "-e", query, big)...)
		cmd.Stdout = f
		s, err := timed(cmd)
		s.rows = o.rows
		s.bytes = size(tsv)
		return s, err
	})
	add("bash-gz", "mysql ... > file && gzip file", o.rows, func(ctx context.Context, i int) (sample, error) {
		os.Remove(tsv + ".gz")
		line := fmt.Sprintf("mysql %s -e %q %s > %s && gzip -f %s", strings.Join(client, " "), query, big, tsv, tsv)
		s, err := timed(exec.CommandContext(ctx, "sh", "-c", line))
		s.rows = o.rows
		s.bytes = size(tsv + ".gz")
		return s, err
	})
	m := &malletRunner{bin: bin, work: work, dsn: o.dsn, profile: o.profile, heap: o.heap, trace: o.trace}
	where := map[string]string{"local": "a local folder", "s3": "S3 on loopback"}
	for _, format := range []string{"parquet", "csv", "csv.gz"} {
		for _, to := range []string{"local", "s3"} {
			name := "mallet-" + format + "-" + to
			add(name, "mallet run job, "+format+" to "+where[to], o.rows, func(ctx context.Context, i int) (sample, error) {
				return m.run(ctx, name, i, job{match: "^" + big + "$", format: format, to: to})
			})
		}
	}
	if o.fleet > 0 {
		for _, to := range []string{"local", "s3"} {
			for _, format := range []string{"parquet", "csv"} {
				name := "mallet-fleet-" + format + "-" + to
				what := fmt.Sprintf("mallet run job, %d tenants x %d rows at concurrency %d, %s to %s", o.fleet, o.fleetRows, o.fleetConc, format, where[to])
				add(name, what, int64(o.fleet)*o.fleetRows, func(ctx context.Context, i int) (sample, error) {
					return m.run(ctx, name, i, job{match: "^mbench_f[0-9]{3}$", format: format, to: to, concurrency: o.fleetConc})
				})
			}
		}
	}
	if o.large > 0 {
		for _, sc := range [][2]string{{"parquet", "local"}, {"parquet", "s3"}, {"csv.gz", "local"}} {
			format, to := sc[0], sc[1]
			name := "mallet-large-" + format + "-" + to
			what := fmt.Sprintf("mallet run job, %d rows of a 1 MiB compressible LONGTEXT, %s to %s", o.large, format, where[to])
			add(name, what, o.large, func(ctx context.Context, i int) (sample, error) {
				return m.run(ctx, name, i, job{match: "^" + largeDB + "$", format: format, to: to, query: "doc.sql"})
			})
		}
	}
	if o.small > 0 {
		rows := int64(o.small) * o.smallRows
		for _, format := range []string{"parquet", "csv"} {
			name := "mallet-small-" + format + "-local"
			add(name, fmt.Sprintf("mallet run job, %d tenants x %d rows, %s to a local folder", o.small, o.smallRows, format), rows, func(ctx context.Context, i int) (sample, error) {
				return m.run(ctx, name, i, job{match: "^mbench_s[0-9]{4}$", format: format, to: "local"})
			})
			one := fmt.Sprintf("mallet-%dk-%s-local", rows/1000, format)
			add(one, fmt.Sprintf("mallet run job, one tenant of %d rows, %s to a local folder", rows, format), rows, func(ctx context.Context, i int) (sample, error) {
				return m.run(ctx, one, i, job{match: "^" + smallBig + "$", format: format, to: "local"})
			})
		}
	}
	if huge != "" {
		for _, format := range []string{"parquet", "csv"} {
			name := fmt.Sprintf("mallet-%dM-%s-local", o.rssRows/1_000_000, format)
			add(name, fmt.Sprintf("mallet run job, %d rows, %s to a local folder (memory check)", o.rssRows, format), o.rssRows, func(ctx context.Context, i int) (sample, error) {
				return m.run(ctx, name, i, job{match: "^" + huge + "$", format: format, to: "local"})
			})
		}
	}
	if o.only != "" {
		keep := strings.Split(o.only, ",")
		scenarios = slices.DeleteFunc(scenarios, func(s *scenario) bool { return !slices.Contains(keep, s.name) })
	}

	// Runs interleave the scenarios, so a slow minute of the machine
	// touches every scenario a little rather than one a lot.
	for i := range o.runs {
		for _, s := range scenarios {
			x, err := s.run(ctx, i)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", s.name, i+1, err)
			}
			log.Printf("run %d %-26s %8.3fs %9.0f rows/s  cpu %6.2fs  rss %6.1f MiB", i+1, s.name, x.wall.Seconds(), float64(x.rows)/x.wall.Seconds(), x.cpu.Seconds(), float64(x.rss)/1024)
			s.samples = append(s.samples, x)
		}
	}
	report := render(ctx, o, cfg, scenarios)
	fmt.Print(report)
	if o.write != "" {
		return writeSection(o.write, report)
	}
	return nil
}

func clientArgs(cfg *mysql.Config) []string {
	host, port := cfg.Addr, "3306"
	if h, p, ok := strings.Cut(cfg.Addr, ":"); ok {
		host, port = h, p
	}
	args := []string{"-h" + host, "-P" + port, "-u" + cfg.User, "--quick", "--batch"}
	if cfg.Passwd != "" {
		args = append(args, "-p"+cfg.Passwd)
	}
	return args
}

// timed runs cmd under /usr/bin/time and returns its peak RSS and CPU
// seconds (of the child and the children it waited for). wait4's own
// accounting of a child of this process would not do: Go starts children
// with vfork semantics, so the child's peak RSS starts at this process's
// (which holds the fake S3's objects).
func timed(cmd *exec.Cmd) (sample, error) {
	var stderr strings.Builder
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	f, err := os.CreateTemp("", "mallet-bench-time-")
	if err != nil {
		return sample{}, err
	}
	f.Close()
	defer os.Remove(f.Name())
	cmd.Args = append([]string{"/usr/bin/time", "-o", f.Name(), "-f", "%U %S %M"}, cmd.Args...)
	cmd.Path = "/usr/bin/time"
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args[5:], " "), err, stderr.String())
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return sample{}, err
	}
	var user, sys float64
	var rss int64
	if _, err := fmt.Sscanf(string(b), "%g %g %d", &user, &sys, &rss); err != nil {
		return sample{}, fmt.Errorf("/usr/bin/time output %q: %w", b, err)
	}
	return sample{wall: wall, cpu: time.Duration((user + sys) * float64(time.Second)), rss: rss}, nil
}

func size(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

type malletRunner struct {
	bin, work, dsn, profile, heap, trace string
}

// job is what one mallet scenario runs: the query file (default mail.sql)
// over the tenants matching match, to a local folder or S3, with the
// source's concurrency (default 4).
type job struct {
	match, format, to, query string
	concurrency              int
}

// run runs "mallet run job bench".
func (m *malletRunner) run(ctx context.Context, name string, i int, j job) (sample, error) {
	query := cmp.Or(j.query, "mail.sql")
	concurrency := cmp.Or(j.concurrency, 4)
	format, to := j.format, j.to
	dir := filepath.Join(m.work, name)
	if err := os.RemoveAll(dir); err != nil {
		return sample{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sample{}, err
	}
	env := append(os.Environ(), "BENCH_DSN="+m.dsn)
	out := filepath.Join(dir, "out")
	if to == "s3" {
		// A fresh in-memory S3 per run: the fake keeps objects in memory,
		// in this process, not in mallet's.
		srv, err := s3test.NewServer("bench")
		if err != nil {
			return sample{}, err
		}
		defer srv.Close()
		env = append(env, srv.Env()...)
		out = "s3://bench/out"
	}
	// Recordings of the run, each in a file of its own when asked for.
	for _, rec := range []struct{ dir, env, ext string }{
		{m.profile, "MALLET_CPUPROFILE", "pprof"},
		{m.heap, "MALLET_HEAPPROFILE", "heap.pprof"},
		{m.trace, "MALLET_TRACE", "trace"},
	} {
		if rec.dir == "" {
			continue
		}
		if err := os.MkdirAll(rec.dir, 0o755); err != nil {
			return sample{}, err
		}
		env = append(env, rec.env+"="+filepath.Join(rec.dir, fmt.Sprintf("%s-%d.%s", name, i+1, rec.ext)))
	}
	config := fmt.Sprintf(`timezone: UTC
sources:
  bench:
    servers:
      - name: db1
        dsn: "${BENCH_DSN}"
    tenants:
      match: %q
    concurrency: %d
jobs:
  bench:
    source: bench
    query: %s
    output:
      to: %q
      format: %s
`, j.match, concurrency, filepath.Join(m.work, query), out, format)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		return sample{}, err
	}
	reportPath := filepath.Join(dir, "report.json")
	cmd := exec.CommandContext(ctx, m.bin, "run", "job", "bench", "--config", cfgPath, "--date", "2026-11-25",
		"--report", reportPath, "--log-format", "json")
	cmd.Env = env
	cmd.Stdout = nil
	s, err := timed(cmd)
	if err != nil {
		return s, err
	}
	var rep struct {
		Totals struct {
			Rows        int64 `json:"rows"`
			ObjectBytes int64 `json:"object_bytes"`
			Objects     int64 `json:"objects"`
		} `json:"totals"`
	}
	b, err := os.ReadFile(reportPath)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return s, err
	}
	s.rows, s.bytes = rep.Totals.Rows, rep.Totals.ObjectBytes
	s.files = rep.Totals.Objects
	if to == "local" {
		_ = os.RemoveAll(out)
	}
	return s, nil
}
