package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/metrics"
	"github.com/mallet-etl/mallet/publish"
)

type runCmd struct {
	common
	date            string
	dryRun          bool
	shard           string
	shutdownTimeout time.Duration
	report          string
}

const runUsage = `mallet run job NAME [--date YYYY-MM-DD | --from D [--to D] [--force]] [--dry-run] [--shard K/N|auto/N] [--report FILE] [--shutdown-timeout 25s] [--config FILE]

Runs one job now: its query over every tenant database, merged, written and
published to the job's output. The exit code tells the outcome: 0 success,
1 failed and nothing published, 2 usage or config error, 3 published without
some tenants (on_tenant_error: skip), 4 another run of the job holds its
lease, 5 published, but the Glue catalog sync or a QuickSight refresh after
the commit failed (the next run tries again). --from/--to backfill every window of those dates in order, skipping
windows already committed (--force runs them again); see docs/publishing.md.

On SIGTERM or SIGINT the run gets --shutdown-timeout to finish; then it is
cancelled, publishes nothing and exits 1. --shard K/N (or MALLET_SHARD) runs
only shard K of N of the tenants; N such runs cover every tenant once.
--shard auto/N takes K from the index a Kubernetes Indexed Job
(JOB_COMPLETION_INDEX) or an AWS Batch array job (AWS_BATCH_JOB_ARRAY_INDEX)
gives the task, plus one.`

// parseInterleaved parses flags that may come before or after positional
// arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func (c *runCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("run", runUsage)
	c.register(fs)
	fs.StringVar(&c.date, "date", "", "run date YYYY-MM-DD in the job's time zone (default today)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "resolve tenants and print what would run; read and write nothing")
	shardFlag(fs, &c.shard)
	shutdownFlag(fs, &c.shutdownTimeout)
	fs.StringVar(&c.report, "report", "", "write the run summary as JSON to FILE")
	bf := backfillFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "job" {
		return usageErrorf("want: %s", strings.SplitN(runUsage, "\n", 2)[0])
	}
	name := pos[1]
	log, err := c.logger()
	if err != nil {
		return err
	}
	startup.log(log)
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	job, ok := cfg.Jobs[name]
	if !ok {
		return usageErrorf("unknown job %q (jobs: %s)", name, strings.Join(cfg.JobNames(), ", "))
	}
	o := jobs.Options{DryRun: c.dryRun, Log: log, Progress: &jobs.Progress{}}
	if o.Shard, err = parseShard(c.shard); err != nil {
		return err
	}
	set := setFlags(fs)
	if set["date"] {
		if o.Date, err = parseDate("date", c.date, job.Location); err != nil {
			return err
		}
	}
	if err := bf.apply(&o, job.Location, set); err != nil {
		return err
	}
	log.Info("run start", "job", name, "source", job.Source, "output", job.Output.To, "dry_run", c.dryRun)
	runCtx, cancelRun := graceContext(ctx, c.shutdownTimeout)
	defer cancelRun()
	stopProgress := func() {}
	if !c.dryRun {
		stopProgress = showProgress(name, o.Progress, log)
	}
	res, err := jobs.Run(runCtx, cfg, name, o)
	stopProgress()
	if res != nil {
		if c.dryRun {
			printPlan(os.Stdout, res, job.Output.To)
		} else {
			printSummary(os.Stdout, res)
		}
		// One line with the figures /metrics has in schedule mode, named
		// alike (see package metrics): the summary of a run on ECS.
		if c.dryRun {
			log.Info("dry run end", "job", name, "run_date", res.RunDate, "tenants", len(res.Tenants), "error", res.Err)
		} else {
			attrs := append(metrics.RunOf(name, res, err).LogAttrs(), "run_date", res.RunDate, "shard", o.Shard.String(),
				"tenants", len(res.Tenants), "objects", len(res.Objects), "error", res.Err)
			log.Info("run end", attrs...)
		}
		if c.report != "" {
			if rerr := writeJSON(c.report, newReport(res, err)); rerr != nil {
				if err == nil {
					return rerr
				}
				log.Error("write report", "error", rerr)
			}
		}
	}
	return err
}

func printPlan(w io.Writer, res *jobs.Result, to string) {
	fmt.Fprintf(w, "dry run of job %s for %s: nothing read, nothing written\n", res.Job, res.RunDate)
	fmt.Fprintf(w, "output: %s/%s\n", strings.TrimSuffix(to, "/"), publish.PartitionPrefix(res.Job, res.RunDate))
	keys := make([]string, 0, len(res.Params))
	for k := range res.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(w, "parameters:")
	for _, k := range keys {
		fmt.Fprintf(w, "  :%s = %v\n", k, res.Params[k])
	}
	fmt.Fprintf(w, "query:\n  %s\n", strings.ReplaceAll(res.Query, "\n", "\n  "))
	fmt.Fprintf(w, "tenants (%d):\n", len(res.Tenants))
	for _, t := range res.Tenants {
		if t.Err != nil {
			fmt.Fprintf(w, "  %s/%s  error: %v\n", t.Server, t.Database, t.Err)
			continue
		}
		fmt.Fprintf(w, "  %s/%s\n", t.Server, t.Database)
	}
}
