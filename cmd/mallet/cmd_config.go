package main

import (
	"context"
	"fmt"
	"os"

	"github.com/mallet-etl/mallet/config"
)

type configCmd struct{}

const configUsage = `mallet config schema

Prints the JSON Schema of the config file, generated from mallet's config
types. The repository ships it as config/config.schema.json, and
config.yaml names it on its first line (# yaml-language-server: $schema=...)
so that VS Code (the YAML extension) and JetBrains IDEs complete and check
keys as you type; a linter can validate any config with it. It checks the
text as written: ${VAR} references pass, and mallet validate checks the
rest (query files, regexps, cron specs).`

func (c *configCmd) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("config", configUsage)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "schema" {
		return usageErrorf("want: mallet config schema")
	}
	b, err := config.JSONSchema()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(b)
	if err != nil {
		return fmt.Errorf("config schema: %w", err)
	}
	return nil
}
