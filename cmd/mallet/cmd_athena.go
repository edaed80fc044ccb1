package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mallet-etl/mallet/athena"
	"github.com/mallet-etl/mallet/catalog"
	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/jobs"
)

type athenaCmd struct {
	common
	write  bool
	stdout io.Writer // nil: os.Stdout
}

const athenaUsage = `mallet athena ddl JOB [--write] [--config FILE]
       mallet athena sync JOB [--config FILE]

ddl prints the Athena DDL for a job's output: CREATE EXTERNAL TABLE with
partition projection over the job's symlink manifests, and for CSV a view
that casts the text columns to their types. Run each statement in Athena
on its own. The columns are the newest published run's; before the first
run, the query's (read with LIMIT 0 from one tenant). --write also stores
the DDL next to the data, at <output.to>/<job>/_mallet/athena.sql.

sync makes the job's table in the AWS Glue Data Catalog exactly what ddl
prints, as every run does after its commit when athena.glue is on: it
creates the database and the table when missing and updates the table
when it differs (new columns, the projected range, the location). It never
drops or retypes a column. For CSV it checks the typed view, which only
Athena can create: when the view is missing or lacks columns, it prints
the statement to run in Athena and fails. The output must be on s3://.`

func (c *athenaCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("athena", athenaUsage)
	c.register(fs)
	fs.BoolVar(&c.write, "write", false, "also store the DDL at <output.to>/<job>/_mallet/athena.sql")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[0] != "ddl" && pos[0] != "sync") {
		return usageErrorf("want: %s", strings.Join(strings.SplitN(athenaUsage, "\n", 3)[:2], " or "))
	}
	if pos[0] == "sync" && c.write {
		return usageErrorf("--write is for athena ddl")
	}
	name := pos[1]
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	if _, ok := cfg.Jobs[name]; !ok {
		return usageErrorf("unknown job %q (jobs: %s)", name, strings.Join(cfg.JobNames(), ", "))
	}
	if c.stdout == nil {
		c.stdout = os.Stdout
	}
	if pos[0] == "sync" {
		return c.sync(ctx, cfg, name)
	}
	t, from, err := jobs.AthenaTable(ctx, cfg, name)
	if err != nil {
		return err
	}
	ddl, err := athena.DDL(t)
	if err != nil {
		return err
	}
	ddl = fmt.Sprintf("-- mallet job %s: columns from %s\n\n%s", name, from, ddl)
	fmt.Fprint(c.stdout, ddl)
	if c.write {
		uri, err := jobs.WriteAthenaDDL(ctx, cfg, name, ddl)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", uri)
	}
	return nil
}

// sync makes the job's Glue table what ddl prints, and for a CSV job whose
// view is missing or stale prints the view's statement to run in Athena.
func (c *athenaCmd) sync(ctx context.Context, cfg *config.Config, name string) error {
	job := cfg.Jobs[name]
	if !strings.HasPrefix(job.Output.To, "s3://") {
		return usageErrorf("athena sync %s: output.to %s is not on s3://, and Glue tables read S3", name, job.Output.To)
	}
	t, from, err := jobs.AthenaTable(ctx, cfg, name)
	if err != nil {
		return err
	}
	g, err := jobs.NewGlue(ctx, cfg)
	if err != nil {
		return err
	}
	s, err := g.Sync(ctx, name, t)
	if s.Action != "" {
		fmt.Fprintf(c.stdout, "%s (columns from %s)\n", s, from)
	}
	if errors.Is(err, catalog.ErrView) {
		if _, view, derr := athena.Define(t); derr == nil && view != nil {
			fmt.Fprintf(c.stdout, "\nRun this in Athena (Glue cannot create views):\n\n%s;\n\n", view.SQL)
		}
	}
	if err != nil {
		return fmt.Errorf("athena sync %s: %w", name, err)
	}
	return nil
}
