package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"time"

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

// helpOut receives --help and "mallet help"; a variable so that a test can
// read every command's help without a process per command.
var helpOut io.Writer = os.Stdout

// parse parses args, turning --help into errHelp and mistakes into usage
// errors.
func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(helpOut)
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

// loadConfigOffline loads the config for a command that never connects to
// a database: a DSN that needs an unset variable is left unchecked and
// printed as a note on stderr (see config.ParseOffline).
func (c *common) loadConfigOffline() (*config.Config, error) {
	cfg, err := config.LoadOffline(c.configPath)
	if err != nil {
		return nil, err
	}
	for _, n := range cfg.Notes {
		fmt.Fprintf(os.Stderr, "note: %s:%d: %s\n", c.configPath, n.Line, n.Msg)
	}
	return cfg, nil
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

// setFlags returns the names of the flags given on the command line, so
// that an empty value given on purpose (--date "") can be told from a flag
// left out.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

var dateShape = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})$`)

// parseDate parses the value of the date flag --name, midnight in loc. A
// value of the right shape that names no day ("2026-02-30") is told apart
// from a malformed one, and an empty value is refused rather than read as
// "today": a script whose variable came out empty should fail, not run
// another day.
func parseDate(name, s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, usageErrorf("--%s is empty: want a date YYYY-MM-DD (leave the flag out for the default)", name)
	}
	d, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err == nil {
		return d, nil
	}
	m := dateShape.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, usageErrorf("--%s %q: want YYYY-MM-DD", name, s)
	}
	year, _ := strconv.Atoi(m[1])
	month, _ := strconv.Atoi(m[2])
	if month < 1 || month > 12 {
		return time.Time{}, usageErrorf("--%s %s is not a date: there is no month %d", name, s, month)
	}
	days := time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return time.Time{}, usageErrorf("--%s %s is not a date: %s %d has %d days", name, s, time.Month(month), year, days)
}
