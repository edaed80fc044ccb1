package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Publishing modes (jobs.NAME.mode); docs/publishing.md describes them.
const (
	// ModeSnapshot replaces the run date's partition with the whole result.
	ModeSnapshot = "snapshot"
	// ModeWindow runs the query for the window before the run (the
	// previous day, or the previous hour for jobs scheduled more than once
	// a day) and replaces that window's part of its date's partition.
	ModeWindow = "window"
	// ModeIncremental reads rows past each tenant's last published cursor
	// value and appends them to the run date's partition.
	ModeIncremental = "incremental"
)

// DefaultLeaseTTL is how long a run's lease lasts without renewal.
const DefaultLeaseTTL = 60 * time.Second

// Lookback is how far behind its last cursor value an incremental run
// re-reads, to catch rows committed late: a duration for DATETIME or
// TIMESTAMP cursors ("10m"), a count for integer cursors (1000). The zero
// value re-reads only rows equal to the last cursor value.
type Lookback struct {
	Duration time.Duration // set for a duration
	Count    int64         // set for an integer
	IsCount  bool
	Text     string // as written
}

// UnmarshalYAML accepts an integer or a Go duration.
func (l *Lookback) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: lookback: want a duration such as 10m or an integer such as 1000", n.Line)
	}
	v, err := ParseLookback(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*l = v
	return nil
}

// MarshalYAML writes the lookback as it was written, so that a parsed
// config marshals back to one that parses the same.
func (l Lookback) MarshalYAML() (any, error) { return l.Text, nil }

// ParseLookback parses "10m" (a duration) or "1000" (a count).
func ParseLookback(s string) (Lookback, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Lookback{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return Lookback{}, fmt.Errorf("lookback %q: must not be negative", s)
		}
		return Lookback{Count: n, IsCount: true, Text: s}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return Lookback{}, fmt.Errorf("lookback %q: want a duration such as 10m or an integer such as 1000", s)
	}
	if d < 0 {
		return Lookback{}, fmt.Errorf("lookback %q: must not be negative", s)
	}
	return Lookback{Duration: d, Text: s}, nil
}

// IsZero reports whether no lookback was set.
func (l Lookback) IsZero() bool { return l.Text == "" }

func (p *parser) validateMode(j *Job, at func(path ...string) int) {
	// What the query uses is known only when it parsed; a query refused
	// already (not read-only, two statements) gets no second, false
	// complaint about its parameters.
	uses := map[string]bool{}
	parsed := j.Statement != nil
	if parsed {
		for _, name := range j.Statement.Params() {
			uses[name] = true
		}
	}
	switch j.Mode {
	case "":
		j.Mode = ModeSnapshot
	case ModeSnapshot, ModeWindow, ModeIncremental:
	default:
		p.addf(at("mode"), "", "job %s: mode %q: want snapshot, window or incremental", j.Name, j.Mode)
	}
	if j.Mode != ModeIncremental {
		for _, k := range []struct {
			key string
			set bool
		}{{"cursor", j.Cursor != ""}, {"key", j.Key != ""}, {"lookback", !j.Lookback.IsZero()}} {
			if k.set {
				p.addf(at(k.key), "set mode: incremental", "job %s: %s needs mode: incremental", j.Name, k.key)
			}
		}
		if uses["cursor"] {
			p.addf(at("query"), "set mode: incremental and cursor", "job %s: the query uses :cursor, which only mode: incremental binds", j.Name)
		}
	}
	if j.Mode == ModeWindow && parsed && !uses["window_start"] && !uses["window_end"] && !uses["window_start_utc"] && !uses["window_end_utc"] {
		p.addf(at("query"), "filter rows on :window_start and :window_end", "job %s: mode window needs a query that uses the window parameters", j.Name)
	}
	if j.Mode == ModeIncremental {
		if j.Cursor == "" {
			p.addf(at("mode"), "for example cursor: modified_at or cursor: id", "job %s: mode incremental needs a cursor column", j.Name)
		}
		if j.Key == "" {
			j.Key = j.Cursor
		}
		if j.Merge == MergeAggregate {
			p.addf(at("merge"), "aggregate in Athena over the appended rows", "job %s: mode incremental cannot be combined with merge: aggregate", j.Name)
		}
		if parsed && !uses["cursor"] {
			p.addf(at("query"), "add WHERE <cursor column> >= :cursor", "job %s: mode incremental needs a query that uses :cursor", j.Name)
		}
	}
	switch {
	case j.CatchUp != 0 && j.Mode != ModeWindow:
		p.addf(at("catch_up"), "set mode: window", "job %s: catch_up needs mode: window", j.Name)
	case j.CatchUp < 0:
		p.addf(at("catch_up"), "for example 168h (7 days)", "job %s: catch_up %s is negative", j.Name, j.CatchUp)
	case j.CatchUp > 0 && j.CatchUp < time.Hour:
		p.addf(at("catch_up"), "for example 168h (7 days)", "job %s: catch_up %s is shorter than a window (at least 1h)", j.Name, j.CatchUp)
	}
	switch {
	case j.LeaseTTL == 0:
		j.LeaseTTL = DefaultLeaseTTL
	case j.LeaseTTL < 100*time.Millisecond:
		p.addf(at("lease_ttl"), "the default is 60s", "job %s: lease_ttl %s is too short (at least 100ms)", j.Name, j.LeaseTTL)
	}
}
