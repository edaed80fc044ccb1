package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/mallet-etl/mallet/jobs"
)

type listCmd struct {
	common
	offline bool
}

func (c *listCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("list", "mallet list [--config FILE] [--offline]")
	c.register(fs)
	fs.BoolVar(&c.offline, "offline", false, "do not connect to count tenants")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	counts := map[string]string{}
	for name, src := range cfg.Sources {
		if c.offline {
			counts[name] = "-"
			continue
		}
		t, err := jobs.Discover(ctx, src)
		switch {
		case err != nil:
			counts[name] = "error: " + err.Error()
		case len(t.Failed) > 0:
			servers := slices.Sorted(maps.Keys(t.Failed))
			counts[name] = fmt.Sprintf("%d (%v)", len(t.List), t.Failed[servers[0]])
			if len(servers) > 1 {
				counts[name] += fmt.Sprintf(" and %d more servers unreachable", len(servers)-1)
			}
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
	return w.Flush()
}
