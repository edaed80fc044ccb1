package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/publish"
)

type stateCmd struct {
	common
	shard  string
	tenant string
	asJSON bool
}

const stateUsage = `mallet state show JOB [--shard K/N] [--json]
       mallet state reset JOB [--tenant SERVER/DATABASE] [--shard K/N]

show prints what a job has published: its partitions and the runs each one
lists, the incremental cursor of every tenant, and who holds the job's lease.
It only reads; a partition whose symlink manifest lags behind the state (a
run stopped between its commit and the symlink write) is reported, and the
next run rewrites it.

reset forgets the incremental cursors (of every tenant, or of one): the next
run reads those tenants from the start, publishing their rows again. It is
refused with exit code 4 while a run holds the lease.`

func (c *stateCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("state", stateUsage)
	c.register(fs)
	shardFlag(fs, &c.shard)
	fs.StringVar(&c.tenant, "tenant", "", "reset: only this tenant, as server/database")
	fs.BoolVar(&c.asJSON, "json", false, "show: print the state object as JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[0] != "show" && pos[0] != "reset") {
		return usageErrorf("want: mallet state show JOB, or mallet state reset JOB [--tenant SERVER/DATABASE]")
	}
	if pos[0] == "show" && c.tenant != "" {
		return usageErrorf("--tenant goes with reset")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	name := pos[1]
	job, ok := cfg.Jobs[name]
	if !ok {
		return usageErrorf("unknown job %q (jobs: %s)", name, strings.Join(cfg.JobNames(), ", "))
	}
	shard, err := parseShard(c.shard)
	if err != nil {
		return err
	}
	st, err := jobs.OpenStore(ctx, job.Output.To, cfg.S3)
	if err != nil {
		return fmt.Errorf("output %s: %w", job.Output.To, err)
	}
	if pos[0] == "reset" {
		n, err := publish.ResetCursors(ctx, st, name, shard, c.tenant)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stdout, "reset the cursors of %d tenant(s) of job %s\n", n, name)
		return nil
	}
	state, err := publish.ReadState(ctx, st, name, shard)
	if err != nil {
		return err
	}
	if c.asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(state)
	}
	lease, _, held, err := publish.ReadLease(ctx, st, name, shard)
	if err != nil {
		return err
	}
	drift, err := publish.SymlinkDrift(ctx, st, state)
	if err != nil {
		return err
	}
	printState(os.Stdout, st, state, lease, held, drift)
	if missing := jobs.Missing(job, state, time.Now()); len(missing) > 0 {
		fmt.Fprintf(os.Stdout, "\nmissing in the catch-up horizon (%s; the next run without --date publishes them): %s\n", jobs.CatchUp(job), strings.Join(missing, ", "))
	}
	return nil
}

func printState(w io.Writer, st jobs.Store, s *publish.State, lease publish.LeaseInfo, held bool, drift []string) {
	shard := publish.ParseShardName(s.Shard)
	fmt.Fprintf(w, "job %s", s.Job)
	if s.Shard != "" {
		fmt.Fprintf(w, ", shard %s", s.Shard)
	}
	fmt.Fprintf(w, "\nstate: %s\n", st.URI(publish.StateKey(s.Job, shard)))
	if s.Updated.IsZero() {
		fmt.Fprintln(w, "nothing committed yet")
	} else {
		fmt.Fprintf(w, "updated: %s, last run %s\n", s.Updated.Format(time.RFC3339), s.LastRun)
	}
	switch {
	case !held:
		fmt.Fprintln(w, "lease: never taken")
	case !lease.Released.IsZero():
		fmt.Fprintf(w, "lease: free (released by %s on %s, pid %d, at %s)\n", lease.Holder, lease.Host, lease.PID, lease.Released.Format(time.RFC3339))
	case lease.Expired(time.Now()):
		fmt.Fprintf(w, "lease: free (expired at %s, never released by %s on %s, pid %d: that run stopped without finishing)\n",
			lease.Expires.Format(time.RFC3339), lease.Holder, lease.Host, lease.PID)
	default:
		fmt.Fprintf(w, "lease: held by %s on %s, pid %d, until %s\n", lease.Holder, lease.Host, lease.PID, lease.Expires.Format(time.RFC3339))
	}
	if len(s.Partitions) > 0 {
		fmt.Fprintln(w, "\npartitions:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PARTITION\tSLOT\tRUN\tROWS\tOBJECTS\tCOMMITTED")
		for _, date := range slices.Sorted(maps.Keys(s.Partitions)) {
			for _, r := range s.Partitions[date].Runs {
				fmt.Fprintf(tw, "  dt=%s\t%s\t%s\t%d\t%d\t%s\n", date, r.Slot, r.RunID, r.Rows, r.Objects, r.Committed.Format(time.RFC3339))
			}
		}
		tw.Flush()
	}
	if len(s.Tenants) > 0 {
		fmt.Fprintf(w, "\ncursors (%s):\n", s.CursorKind)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TENANT\tCURSOR\tKEYS IN LOOK-BACK")
		for _, t := range slices.Sorted(maps.Keys(s.Tenants)) {
			fmt.Fprintf(tw, "  %s\t%s\t%d\n", t, s.Tenants[t].Cursor, len(s.Tenants[t].Seen))
		}
		tw.Flush()
	}
	if len(drift) > 0 {
		fmt.Fprintf(w, "\nsymlink manifests behind the state (the next run rewrites them): dt=%s\n", strings.Join(drift, ", dt="))
	}
}
