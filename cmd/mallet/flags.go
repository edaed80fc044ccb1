package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"golang.org/x/term"

	"github.com/mallet-etl/mallet/config"
)

// errHelp is returned after --help printed the usage.
var errHelp = errors.New("help shown")

// common holds the flags every command takes.
type common struct {
	configPath string
	logFormat  string
}

func (c *common) register(fs *flag.FlagSet) {
	def := os.Getenv("MALLET_CONFIG")
	if def == "" {
		def = "config.yaml"
	}
	fs.StringVar(&c.configPath, "config", def, "config file (env MALLET_CONFIG)")
	fs.StringVar(&c.logFormat, "log-format", "auto", "log format: auto (text on a terminal, else JSON), text or json")
}

// parse parses args, turning --help into errHelp and mistakes into usage
// errors.
func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fs.Usage()
			return errHelp
		}
		return usageErrorf("%v (see --help)", err)
	}
	return nil
}

func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

func (c *common) loadConfig() (*config.Config, error) {
	return config.Load(c.configPath)
}

func (c *common) logger() (*slog.Logger, error) {
	format := c.logFormat
	if format == "auto" {
		format = "json"
		if term.IsTerminal(int(os.Stderr.Fd())) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, nil)), nil
	}
	return nil, usageErrorf("--log-format %q: want auto, text or json", c.logFormat)
}
