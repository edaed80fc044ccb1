package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mallet-etl/mallet/athena"
	"github.com/mallet-etl/mallet/jobs"
)

type athenaCmd struct {
	common
	write  bool
	stdout io.Writer // nil: os.Stdout
}

const athenaUsage = `mallet athena ddl JOB [--write] [--config FILE]

Prints the Athena DDL for a job's output: CREATE EXTERNAL TABLE with
partition projection over the job's symlink manifests, and for CSV a view
that casts the text columns to their types. Run each statement in Athena
on its own. The columns are the newest published run's; before the first
run, the query's (read with LIMIT 0 from one tenant). --write also stores
the DDL next to the data, at <output.to>/<job>/_mallet/athena.sql.`

func (c *athenaCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("athena", athenaUsage)
	c.register(fs)
	fs.BoolVar(&c.write, "write", false, "also store the DDL at <output.to>/<job>/_mallet/athena.sql")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "ddl" {
		return usageErrorf("want: %s", strings.SplitN(athenaUsage, "\n", 2)[0])
	}
	name := pos[1]
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	if _, ok := cfg.Jobs[name]; !ok {
		return usageErrorf("unknown job %q (jobs: %s)", name, strings.Join(cfg.JobNames(), ", "))
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
	if c.stdout == nil {
		c.stdout = os.Stdout
	}
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
