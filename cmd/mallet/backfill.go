package main

import (
	"flag"
	"time"

	"github.com/mallet-etl/mallet/jobs"
)

// backfill holds run's --from, --to and --force.
type backfill struct {
	from, to string
	force    bool
}

func backfillFlags(fs *flag.FlagSet) *backfill {
	b := &backfill{}
	fs.StringVar(&b.from, "from", "", "backfill: first date YYYY-MM-DD (snapshot and window modes); runs every window from --from to --to in order, one commit each")
	fs.StringVar(&b.to, "to", "", "backfill: last date YYYY-MM-DD (default --from)")
	fs.BoolVar(&b.force, "force", false, "backfill: run windows again that are already committed (default: skip them, so an interrupted backfill resumes)")
	return b
}

// apply sets o's backfill fields; dates are in the job's zone. set holds
// the flags given on the command line.
func (b *backfill) apply(o *jobs.Options, loc *time.Location, set map[string]bool) error {
	if !set["from"] {
		if set["to"] {
			return usageErrorf("--to needs --from")
		}
		o.Force = b.force
		return nil
	}
	if !o.Date.IsZero() {
		return usageErrorf("--date and --from exclude each other")
	}
	from, err := parseDate("from", b.from, loc)
	if err != nil {
		return err
	}
	to := from
	if set["to"] {
		if to, err = parseDate("to", b.to, loc); err != nil {
			return err
		}
	}
	if to.Before(from) {
		return usageErrorf("--to %s is before --from %s", b.to, b.from)
	}
	o.From, o.To, o.Force = from, to, b.force
	return nil
}
