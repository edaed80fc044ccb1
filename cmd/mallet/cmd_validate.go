package main

import (
	"context"
	"fmt"
	"os"
)

type validateCmd struct{ common }

func (c *validateCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("validate", "mallet validate [--config FILE]")
	c.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("validate takes no arguments")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "%s: ok (%d sources, %d jobs)\n", c.configPath, len(cfg.Sources), len(cfg.Jobs))
	return nil
}
