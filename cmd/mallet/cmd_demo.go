//go:build !nodemo

package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/mallet-etl/mallet"
	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/demo"
	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/load"
)

const demoUsage = `mallet demo [--out DIR] [--tenants N] [--date YYYY-MM-DD] [--report FILE] [--config FILE]

Starts an in-memory MySQL-compatible server on a free 127.0.0.1 port, loads
N sample tenant databases (crm_t001, ...) and the registry
crm_registry.cl_mapping from testdata/sample, runs every job of the config
for the sample's run date against it, and prints the files written and the
first rows of one dataset. Only the DSN (CRM_DB1_DSN) and the output
(MALLET_OUTPUT, set from --out) are overridden; the rest is the config's.
Without ./config.yaml it uses the copy built into the binary.`

// demoDate is the run date the sample data is built around.
const demoDate = "2026-11-25"

// demoPreview is the dataset whose first rows the demo prints, and the
// columns it shows (all of them when one is missing).
var demoPreview = struct {
	job  string
	cols []string
	rows int
}{"mail_send_counts", []string{"database", "client_name", "mail_request_id", "subject", "sent_day", "sent_count", "bounced_count", "total_cost"}, 5}

type demoCmd struct {
	common
	out     string
	tenants int
	date    string
	report  string
}

func newDemoCmd() command { return &demoCmd{} }

func (c *demoCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("demo", demoUsage)
	c.register(fs)
	fs.StringVar(&c.out, "out", "", "output folder or s3:// URI (default $MALLET_OUTPUT, else ./out)")
	fs.IntVar(&c.tenants, "tenants", demo.DefaultTenants, "sample tenant databases to create (1..999)")
	fs.StringVar(&c.date, "date", demoDate, "run date YYYY-MM-DD (the sample data spans 2026-11-18..28)")
	fs.StringVar(&c.report, "report", "", "write the runs' summary as JSON to FILE")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("demo takes no arguments")
	}
	if c.tenants < 1 || c.tenants > 999 {
		return usageErrorf("--tenants %d: want 1..999", c.tenants)
	}
	date, err := parseDate("date", c.date, time.UTC)
	if err != nil {
		return err
	}
	log, err := c.logger()
	if err != nil {
		return err
	}
	startup.log(log)
	cfgPath, cleanup, err := c.demoConfig(fs)
	if err != nil {
		return err
	}
	defer cleanup()

	fmt.Printf("starting the demo server with %d sample tenants...\n", c.tenants)
	srv, err := demo.Start(ctx, demo.Options{Tenants: c.tenants})
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Printf("server on %s: %s and %s loaded in %s\n\n", srv.Addr, strings.Join(srv.Databases, ", "), demo.Registry, srv.Load.Round(time.Millisecond))

	out := c.out
	if out == "" {
		out = os.Getenv("MALLET_OUTPUT")
	}
	if out == "" {
		out = "out"
	}
	os.Setenv("CRM_DB1_DSN", srv.DSN())
	os.Setenv("MALLET_OUTPUT", out)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}

	var results []*jobs.Result
	var reports []runReport
	var failed, partial error
	for _, name := range cfg.JobNames() {
		job := cfg.Jobs[name]
		p := &jobs.Progress{}
		stop := showProgress(name, p, log)
		res, err := jobs.Run(ctx, cfg, name, jobs.Options{
			Date: time.Date(date.Year(), date.Month(), date.Day(), 0, 0, 0, 0, job.Location),
			Log:  log, Progress: p,
		})
		stop()
		if res == nil {
			return err
		}
		results = append(results, res)
		reports = append(reports, newReport(res, err))
		status := "ok"
		switch {
		case errors.Is(err, jobs.ErrPartial):
			status, partial = "PARTIAL", err
		case err != nil:
			status = "FAILED"
			if failed == nil {
				failed = err
			}
		}
		fmt.Printf("%-24s %-7s %d/%d tenants  %s rows  %d files  %s\n", name, status,
			res.Count(jobs.TenantOK), len(res.Tenants), count(res.Rows), len(res.Objects), res.Duration.Round(time.Millisecond))
		for _, s := range res.Servers {
			fmt.Printf("    server %s: %s\n", s.Server, s.Error)
		}
		for _, t := range res.Tenants {
			if t.Status == jobs.TenantFailed {
				fmt.Printf("    %s/%s: %v\n", t.Server, t.Database, t.Err)
			}
		}
		if res.Err != "" && res.Failed == 0 && len(res.Servers) == 0 {
			fmt.Printf("    %s\n", res.Err)
		}
	}
	runErr := failed
	if runErr == nil {
		runErr = partial
	}

	fmt.Println("\nfiles written:")
	files := &table{header: []string{"FILE", "ROWS", "SIZE"}, right: map[int]bool{1: true, 2: true}, wide: true}
	for _, res := range results {
		for _, o := range res.Objects {
			files.add(o.URI, count(o.Rows), size(o.Bytes))
		}
	}
	files.print(os.Stdout)

	for _, res := range results {
		if res.Job == demoPreview.job && len(res.Objects) > 0 {
			if err := c.preview(ctx, cfg, res); err != nil {
				log.Warn("demo preview", "job", res.Job, "error", err)
			}
		}
	}

	if c.report != "" {
		if err := writeJSON(c.report, demoReport{Runs: reports, ExitCode: exitCode(runErr)}); err != nil {
			return err
		}
	}
	return runErr
}

// demoConfig returns the config file to use: --config or $MALLET_CONFIG when
// given, else ./config.yaml when there is one, else the shipped config and
// queries copied to a temporary folder, which cleanup removes.
func (c *demoCmd) demoConfig(fs *flag.FlagSet) (string, func(), error) {
	explicit := os.Getenv("MALLET_CONFIG") != ""
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			explicit = true
		}
	})
	if _, err := os.Stat(c.configPath); explicit || err == nil {
		return c.configPath, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "mallet-demo-")
	if err != nil {
		return "", nil, fmt.Errorf("demo: %w", err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	err = copyShipped(dir, "config.yaml", "queries")
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return filepath.Join(dir, "config.yaml"), cleanup, nil
}

// copyShipped writes the named shipped files and folders under dir.
func copyShipped(dir string, names ...string) error {
	for _, name := range names {
		err := fs.WalkDir(mallet.Shipped, name, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			dst := filepath.Join(dir, filepath.FromSlash(p))
			if d.IsDir() {
				return os.MkdirAll(dst, 0o755)
			}
			b, err := mallet.Shipped.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, b, 0o644)
		})
		if err != nil {
			return fmt.Errorf("demo: copy shipped %s: %w", name, err)
		}
	}
	return nil
}

// preview prints the first rows of a run's first object, read back from the
// job's store.
func (c *demoCmd) preview(ctx context.Context, cfg *config.Config, res *jobs.Result) error {
	job := cfg.Jobs[res.Job]
	store, err := jobs.OpenStore(ctx, job.Output.To, cfg.S3)
	if err != nil {
		return err
	}
	obj := res.Objects[0]
	rc, _, err := store.Get(ctx, obj.Key)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return err
	}
	header, rows, err := readRows(path.Base(obj.Key), data, demoPreview.rows)
	if err != nil {
		return err
	}
	idx := make([]int, 0, len(demoPreview.cols))
	for _, want := range demoPreview.cols {
		for i, h := range header {
			if h == want {
				idx = append(idx, i)
			}
		}
	}
	if len(idx) != len(demoPreview.cols) {
		idx = idx[:0]
		for i := range header {
			idx = append(idx, i)
		}
	}
	pick := func(r []string) []string {
		out := make([]string, len(idx))
		for j, i := range idx {
			out[j] = r[i]
		}
		return out
	}
	fmt.Printf("\nfirst %d rows of %s (%d rows, some columns):\n", len(rows), obj.URI, obj.Rows)
	t := &table{header: pick(header)}
	for _, r := range rows {
		t.add(pick(r)...)
	}
	t.print(os.Stdout)
	return nil
}

// readRows decodes the header and the first n rows of a file mallet wrote,
// by its extension: .parquet, .csv or .csv.gz. NULL prints as "NULL".
func readRows(name string, data []byte, n int) ([]string, [][]string, error) {
	var rows [][]string
	switch {
	case strings.HasSuffix(name, ".parquet"):
		r := bytes.NewReader(data)
		s, _, err := load.ReadParquetSchema(r, int64(len(data)))
		if err != nil {
			return nil, nil, err
		}
		header := make([]string, len(s))
		for i, col := range s {
			header[i] = col.Name
		}
		errEnough := errors.New("enough")
		err = load.ReadParquetRows(r, int64(len(data)), func(row []any) error {
			if len(rows) == n {
				return errEnough
			}
			cells := make([]string, len(row))
			for i, v := range row {
				cells[i] = formatValue(v)
			}
			rows = append(rows, cells)
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			return nil, nil, err
		}
		return header, rows, nil
	case strings.HasSuffix(name, ".csv.gz"):
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, nil, err
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, nil, err
		}
		fallthrough
	case strings.HasSuffix(name, ".csv"):
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil || len(recs) == 0 {
			return nil, nil, fmt.Errorf("read %s: %v", name, err)
		}
		return recs[0], recs[1:min(len(recs), n+1)], nil
	}
	return nil, nil, fmt.Errorf("read %s: unknown format", name)
}

func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(v)
	case time.Time:
		if v.Hour() == 0 && v.Minute() == 0 && v.Second() == 0 && v.Nanosecond() == 0 {
			return v.UTC().Format(time.DateOnly)
		}
		return v.UTC().Format("2006-01-02 15:04:05.999")
	}
	return fmt.Sprint(v)
}
