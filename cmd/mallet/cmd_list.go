package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/mallet-etl/mallet/jobs"
)

type listCmd struct {
	common
	offline bool
}

func (c *listCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("list", listUsage)
	c.register(fs)
	fs.BoolVar(&c.offline, "offline", false, "do not connect to count tenants; accept unset environment variables in DSNs")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("list takes no arguments")
	}
	load := c.loadConfig
	if c.offline {
		load = c.loadConfigOffline
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	counts := map[string]string{}
	var failed []string // sources whose tenants could not be resolved in full
	for _, name := range slices.Sorted(maps.Keys(cfg.Sources)) {
		if c.offline {
			counts[name] = "-"
			continue
		}
		t, err := jobs.Discover(ctx, cfg.Sources[name])
		switch {
		case err != nil:
			counts[name] = "error: " + err.Error()
			failed = append(failed, name)
		case len(t.Failed) > 0:
			servers := slices.Sorted(maps.Keys(t.Failed))
			if len(t.List) == 0 {
				counts[name] = fmt.Sprintf("error: %v", t.Failed[servers[0]])
			} else {
				counts[name] = fmt.Sprintf("%d (%v)", len(t.List), t.Failed[servers[0]])
			}
			if len(servers) > 1 {
				counts[name] += fmt.Sprintf(" and %d more servers unreachable", len(servers)-1)
			}
			failed = append(failed, name)
		default:
			counts[name] = fmt.Sprint(len(t.List))
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "JOB\tSCHEDULE\tTIMEZONE\tSOURCE\tTENANTS\tMERGE\tOUTPUT")
	for _, name := range cfg.JobNames() {
		j := cfg.Jobs[name]
		sched := j.Schedule
		if sched == "" {
			sched = "(manual)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s %s\n", name, sched, j.Location, j.Source, counts[j.Source], j.Merge, j.Output.Format, j.Output.To)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("could not resolve the tenants of source(s) %s (see TENANTS)", strings.Join(failed, ", "))
	}
	return nil
}

const listUsage = `mallet list [--offline] [--config FILE]

Lists the jobs with their schedule, time zone, source, tenant count, merge
and output. Counting tenants connects to every server; when a source's
tenants cannot be resolved (a server refuses or cannot be reached) the row
says why and list exits 1. --offline connects to nothing, prints "-" as the
count, and accepts unset environment variables in DSNs (noted on stderr).`
