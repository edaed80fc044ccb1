package main

import (
	"context"
	"fmt"
	"os"
)

type validateCmd struct {
	common
	offline bool
}

const validateUsage = `mallet validate [--offline] [--config FILE]

Checks the config file and the query files, and runs nothing: every problem
is reported at once, as file:line: problem. Every environment variable the
config uses must be set, as for a run. --offline is for a lint without the
production secrets (CI): a server's dsn that needs an unset variable is
noted and not checked; everything else is. validate never connects.`

func (c *validateCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("validate", validateUsage)
	c.register(fs)
	fs.BoolVar(&c.offline, "offline", false, "accept unset environment variables in DSNs (noted, not checked)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("validate takes no arguments")
	}
	load := c.loadConfig
	if c.offline {
		load = c.loadConfigOffline
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	unchecked := ""
	if n := len(cfg.Notes); n > 0 {
		unchecked = fmt.Sprintf("; %d dsn(s) not checked", n)
	}
	fmt.Fprintf(os.Stdout, "%s: ok (%d sources, %d jobs%s)\n", c.configPath, len(cfg.Sources), len(cfg.Jobs), unchecked)
	return nil
}
