package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-runewidth"

	"github.com/mallet-etl/mallet/jobs"
)

// runReport is the JSON run summary --report writes, for scripts and for
// the task's logs. Durations are milliseconds; errors are absent when there
// was none.
type runReport struct {
	Job        string         `json:"job"`
	RunDate    string         `json:"run_date"`
	RunID      string         `json:"run_id"`
	Started    time.Time      `json:"started"`
	DurationMS int64          `json:"duration_ms"`
	Tenants    []tenantReport `json:"tenants"`
	// Servers lists the servers that could not list their databases: a
	// failure of the server, whose tenants are unknown, not of a tenant.
	Servers []jobs.ServerFailure `json:"servers_failed,omitempty"`
	Objects []objectReport       `json:"objects"`
	Totals  totalsReport         `json:"totals"`
	// Steps are what the run did after its commit: the Glue catalog
	// sync and SPICE refreshes; absent when the job has neither.
	Steps    []stepReport `json:"steps,omitempty"`
	Error    string       `json:"error,omitempty"`
	ExitCode int          `json:"exit_code"`
}

type stepReport struct {
	Step       string `json:"step"`    // glue or quicksight
	Target     string `json:"target"`  // database.table or dataset id
	Outcome    string `json:"outcome"` // unchanged, created, updated, started, completed or failed
	Detail     string `json:"detail,omitempty"`
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

type tenantReport struct {
	Server   string `json:"server"`
	Database string `json:"database"`
	Status   string `json:"status"` // ok, failed, cancelled, not run or skipped

	Rows       int64  `json:"rows"`
	Bytes      int64  `json:"bytes"`
	DurationMS int64  `json:"duration_ms"`
	Attempts   int    `json:"attempts"`
	Error      string `json:"error,omitempty"`
}

type objectReport struct {
	URI    string `json:"uri"`
	Key    string `json:"key"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

type totalsReport struct {
	Tenants int `json:"tenants"`
	// TenantsFailed counts the tenants that failed on their own; the
	// tenants cancelled or never run because of a failure are counted
	// apart.
	TenantsFailed    int   `json:"tenants_failed"`
	TenantsCancelled int   `json:"tenants_cancelled"`
	TenantsNotRun    int   `json:"tenants_not_run"`
	TenantsSkipped   int   `json:"tenants_skipped"`
	ServersFailed    int   `json:"servers_failed"`
	Rows             int64 `json:"rows"`
	Bytes            int64 `json:"bytes"`
	Objects          int   `json:"objects"`
	ObjectBytes      int64 `json:"object_bytes"`
}

// demoReport is what "mallet demo --report" writes: one run per job.
type demoReport struct {
	Runs     []runReport `json:"runs"`
	ExitCode int         `json:"exit_code"`
}

// newReport summarises a run that ended with err.
func newReport(res *jobs.Result, err error) runReport {
	r := runReport{
		Job: res.Job, RunDate: res.RunDate, RunID: res.RunID, Started: res.Started.UTC(),
		DurationMS: res.Duration.Milliseconds(), Error: res.Err, ExitCode: exitCode(err),
		Tenants: []tenantReport{}, Objects: []objectReport{},
	}
	for _, t := range res.Tenants {
		tr := tenantReport{Server: t.Server, Database: t.Database, Status: t.Status, Rows: t.Rows, Bytes: t.Bytes,
			DurationMS: t.Duration.Milliseconds(), Attempts: t.Attempts, Error: t.Error}
		if tr.Error == "" && t.Err != nil {
			tr.Error = t.Err.Error()
		}
		r.Tenants = append(r.Tenants, tr)
	}
	r.Servers = res.Servers
	r.Totals.TenantsFailed = res.Count(jobs.TenantFailed)
	r.Totals.TenantsCancelled = res.Count(jobs.TenantCancelled)
	r.Totals.TenantsNotRun = res.Count(jobs.TenantNotRun)
	r.Totals.TenantsSkipped = res.Count(jobs.TenantSkipped)
	r.Totals.ServersFailed = len(res.Servers)
	for _, o := range res.Objects {
		r.Objects = append(r.Objects, objectReport{URI: o.URI, Key: o.Key, Rows: o.Rows, Bytes: o.Bytes, SHA256: o.SHA256})
		r.Totals.ObjectBytes += o.Bytes
	}
	for _, st := range res.Steps {
		r.Steps = append(r.Steps, stepReport{Step: st.Step, Target: st.Target, Outcome: st.Outcome,
			Detail: st.Detail, Error: st.Error, DurationMS: st.Duration.Milliseconds()})
	}
	r.Totals.Tenants = len(res.Tenants)
	r.Totals.Rows, r.Totals.Bytes, r.Totals.Objects = res.Rows, res.Bytes, len(res.Objects)
	return r
}

// writeJSON writes v to path whole or not at all: a reader of the file never
// sees half a report.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".report-*.json")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("report %s: %w", path, err)
	}
	return nil
}

// printSummary prints the end of a run: a table of tenants and what
// happened to each, the totals, the failures in full and the objects
// written. A failure of a server or of the output is said as such, not
// shown as tenants that failed.
func printSummary(w io.Writer, res *jobs.Result) {
	fmt.Fprintf(w, "job %s, run date %s, run %s\n\n", res.Job, res.RunDate, res.RunID)
	ran := len(res.Tenants) - res.Count(jobs.TenantNotRun) - res.Count(jobs.TenantSkipped)
	switch {
	case len(res.Tenants) == 0 && len(res.Servers) > 0:
	case len(res.Tenants) == 0:
		fmt.Fprintln(w, "no tenants")
	case ran == 0 && res.Count(jobs.TenantSkipped) > 0:
		fmt.Fprintf(w, "%s: every window is committed already (--force runs them again)\n", res.TenantSummary())
	case ran == 0:
		fmt.Fprintf(w, "%d tenant(s) found, none run\n", len(res.Tenants))
	default:
		t := &table{header: []string{"SERVER", "DATABASE", "ROWS", "BYTES", "DURATION", "TRIES", "STATUS"}, right: map[int]bool{2: true, 3: true, 4: true, 5: true}}
		for _, tr := range res.Tenants {
			status := tr.Status
			if status == jobs.TenantFailed {
				status = "FAILED"
			}
			t.add(tr.Server, tr.Database, count(tr.Rows), size(tr.Bytes), tr.Duration.Round(time.Millisecond).String(), fmt.Sprint(tr.Attempts), status)
		}
		var counts []string
		for _, st := range jobs.TenantStatuses {
			if n := res.Count(st); n > 0 || st == jobs.TenantFailed {
				counts = append(counts, fmt.Sprintf("%d %s", n, st))
			}
		}
		t.add("total", fmt.Sprintf("%d tenants", len(res.Tenants)), count(res.Rows), size(res.Bytes), res.Duration.Round(time.Millisecond).String(), "", strings.Join(counts, ", "))
		t.print(w)
	}
	for _, s := range res.Servers {
		fmt.Fprintf(w, "server %s failed, its tenants are unknown: %s\n", s.Server, s.Error)
	}
	if n := res.Count(jobs.TenantFailed); n > 0 {
		fmt.Fprintf(w, "\n%d tenant(s) failed:\n", n)
		for _, tr := range res.Tenants {
			if tr.Status == jobs.TenantFailed {
				fmt.Fprintf(w, "  %s/%s: %s\n", tr.Server, tr.Database, tenantError(tr))
			}
		}
	}
	for _, st := range []string{jobs.TenantCancelled, jobs.TenantNotRun} {
		if n := res.Count(st); n > 0 && ran > 0 {
			fmt.Fprintf(w, "\n%d tenant(s) %s: %s\n", n, st, tenantNames(res, st, 10))
		}
	}
	if len(res.Objects) > 0 {
		fmt.Fprintln(w, "\nwritten:")
		ot := &table{right: map[int]bool{1: true, 2: true}, wide: true}
		for _, o := range res.Objects {
			ot.add("  "+o.URI, count(o.Rows)+" rows", size(o.Bytes))
		}
		ot.print(w)
	} else if res.Err == "" && ran > 0 {
		fmt.Fprintln(w, "\nno rows: the partition is empty")
	}
	if len(res.Steps) > 0 {
		fmt.Fprintln(w, "\nafter the commit:")
		st := &table{wide: true}
		for _, s := range res.Steps {
			what := s.Detail
			if s.Error != "" {
				what = s.Error
			}
			st.add("  "+s.Step, s.Target, s.Outcome, what)
		}
		st.print(w)
	}
	if res.Err != "" {
		fmt.Fprintf(w, "\nerror: %s\n", res.Err)
	}
}

func tenantError(tr *jobs.TenantResult) string {
	if tr.Err != nil {
		return tr.Err.Error()
	}
	return tr.Error
}

// tenantNames lists the tenants with status, at most max of them.
func tenantNames(res *jobs.Result, status string, max int) string {
	var names []string
	for _, tr := range res.Tenants {
		if tr.Status == status {
			names = append(names, tr.Server+"/"+tr.Database)
		}
	}
	if len(names) > max {
		return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more", len(names)-max)
	}
	return strings.Join(names, ", ")
}

// table prints aligned columns, measuring width as a terminal shows it (a
// Japanese character takes two cells) and cutting cells at maxCell.
type table struct {
	header []string
	rows   [][]string
	right  map[int]bool // columns aligned right
	wide   bool         // never cut cells
}

const maxCell = 40

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer) {
	all := t.rows
	if t.header != nil {
		all = append([][]string{t.header}, t.rows...)
	}
	var widths []int
	for _, r := range all {
		for i, c := range r {
			c = cell(c, t.wide)
			r[i] = c
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], runewidth.StringWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range all {
		b.Reset()
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-runewidth.StringWidth(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if t.right[i] {
				b.WriteString(pad + c)
			} else if i < len(r)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// cell makes a value printable on one line: control characters (newlines,
// tabs, escapes) are shown as their Go escapes, and long values are cut.
func cell(s string, wide bool) string {
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		q := fmt.Sprintf("%q", s)
		s = q[1 : len(q)-1]
	}
	if !wide && runewidth.StringWidth(s) > maxCell {
		s = runewidth.Truncate(s, maxCell, "…")
	}
	return s
}
