package jobs

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/publish"
	"github.com/mallet-etl/mallet/schema"
)

// window is one unit of a run: the query window and the partition (and
// slot in it) its result replaces.
type window struct {
	date       time.Time // the partition's date, midnight in the job's zone
	start, end time.Time
	slot       string // see publish.CommittedRun.Slot; "" for snapshots and incremental runs
}

func (w window) partition() string { return w.date.Format(time.DateOnly) }

const hourSlot = "2006-01-02T15"

// Default catch-up horizons of window mode (config catch_up).
const (
	DefaultDailyCatchUp  = 7 * 24 * time.Hour
	DefaultHourlyCatchUp = 48 * time.Hour
)

// CatchUp is the horizon a window-mode run without --date covers: the
// job's catch_up, else DefaultDailyCatchUp or DefaultHourlyCatchUp.
func CatchUp(job *config.Job) time.Duration {
	switch {
	case job.CatchUp > 0:
		return job.CatchUp
	case Hourly(job):
		return DefaultHourlyCatchUp
	}
	return DefaultDailyCatchUp
}

// ErrDate is wrapped by the error of a run refused for its dates: after
// the latest complete window in the job's zone, or before the first date
// of its Athena table. Nothing is written.
var ErrDate = errors.New("run date out of range")

func midnight(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}

// Hourly reports whether a window-mode job's schedule fires more than once
// a day, which makes its windows hours instead of days.
func Hourly(job *config.Job) bool {
	if job.Cron == nil {
		return false
	}
	t := time.Date(2026, 1, 5, 0, 0, 0, 0, job.Location)
	a := job.Cron.Next(t)
	return job.Cron.Next(a).Sub(a) < 24*time.Hour
}

func dayWindow(d time.Time, slot bool) window {
	w := window{date: d, start: d, end: d.AddDate(0, 0, 1)}
	if slot {
		w.slot = d.Format(time.DateOnly)
	}
	return w
}

func hourWindows(d time.Time) []window {
	var out []window
	for h := d; h.Before(d.AddDate(0, 0, 1)); h = h.Add(time.Hour) {
		out = append(out, window{date: d, start: h, end: h.Add(time.Hour), slot: h.Format(hourSlot)})
	}
	return out
}

// plan returns the windows a run covers, in order. A backfill (From/To)
// and a catching-up window run skip the windows state says are committed,
// unless Force.
func (r *run) plan(now time.Time, state *publish.State) ([]window, error) {
	dates, err := r.backfillDates()
	if err != nil {
		return nil, err
	}
	switch r.job.Mode {
	case config.ModeSnapshot:
		return r.planSnapshot(now, dates, state), nil
	case config.ModeWindow:
		return r.planWindow(now, dates, state), nil
	case config.ModeIncremental:
		return r.planIncremental(now, dates)
	default:
		return nil, fmt.Errorf("mode %q: no plan for it", r.job.Mode)
	}
}

// planSnapshot: one partition replaced by the whole result, for the run
// date or for each date of a backfill.
func (r *run) planSnapshot(now time.Time, dates []time.Time, state *publish.State) []window {
	if len(dates) == 0 {
		return []window{dayWindow(r.runDay(now), false)}
	}
	ws := make([]window, 0, len(dates))
	for _, d := range dates {
		ws = append(ws, dayWindow(d, false))
	}
	return r.uncommitted(ws, state)
}

// planWindow: the windows (days, or hours for an hourly schedule) of each
// backfill date, of --date, or else the uncommitted ones of the catch-up
// horizon.
func (r *run) planWindow(now time.Time, dates []time.Time, state *publish.State) []window {
	hourly := Hourly(r.job)
	windows := func(d time.Time) []window {
		if hourly {
			return hourWindows(d)
		}
		return []window{dayWindow(d, true)}
	}
	switch {
	case len(dates) > 0:
		var ws []window
		for _, d := range dates {
			ws = append(ws, windows(d)...)
		}
		return r.uncommitted(ws, state)
	case !r.o.Date.IsZero():
		return windows(midnight(r.o.Date, r.job.Location))
	}
	return r.uncommitted(catchUp(now, r.job, hourly), state)
}

// catchUp returns every window of the job's catch-up horizon (CatchUp)
// up to the latest complete one, none before the job's first date: the
// caller drops the committed ones, so every missing window in the horizon
// is filled, whatever order earlier runs committed in.
func catchUp(now time.Time, job *config.Job, hourly bool) []window {
	loc := job.Location
	step := 24 * time.Hour
	if hourly {
		step = time.Hour
	}
	n := max(int(CatchUp(job)/step), 1)
	last := latestWindow(now, loc, hourly)
	var ws []window
	for i := n - 1; i >= 0; i-- {
		var w window
		if hourly {
			s := last.start.Add(-time.Duration(i) * time.Hour)
			w = window{date: midnight(s, loc), start: s, end: s.Add(time.Hour), slot: s.Format(hourSlot)}
		} else {
			w = dayWindow(last.date.AddDate(0, 0, -i), true)
		}
		if !w.date.Before(job.Athena.First) {
			ws = append(ws, w)
		}
	}
	return ws
}

// latestWindow is the newest complete window at now: the hour before the
// current one, or yesterday.
func latestWindow(now time.Time, loc *time.Location, hourly bool) window {
	if hourly {
		t := now.In(loc)
		h := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, loc).Add(-time.Hour)
		return window{date: midnight(h, loc), start: h, end: h.Add(time.Hour), slot: h.Format(hourSlot)}
	}
	return dayWindow(midnight(now, loc).AddDate(0, 0, -1), true)
}

// Missing lists the windows ("2026-11-25", or "2026-11-25T13" for an
// hourly job) of a window-mode job's catch-up horizon at now that state
// has not committed: what the next run without --date publishes. Other
// modes have none.
func Missing(job *config.Job, state *publish.State, now time.Time) []string {
	if job.Mode != config.ModeWindow {
		return nil
	}
	var out []string
	for _, w := range catchUp(now, job, Hourly(job)) {
		if state == nil || !state.Committed(w.partition(), w.slot) {
			out = append(out, w.slot)
		}
	}
	return out
}

// checkDates refuses, wrapping ErrDate, a run whose --date, --from or --to
// is after the last day with a complete window in the job's zone (today
// for snapshot and incremental runs, which read the source as it is;
// yesterday for window mode, whose windows must have ended), or before
// the job's athena.first_date, where Athena would not see it.
func checkDates(job *config.Job, o Options, now time.Time) error {
	loc := job.Location
	today := midnight(now, loc)
	latest, what := today, "today"
	if job.Mode == config.ModeWindow {
		latest, what = today.AddDate(0, 0, -1), "the last day whose windows are complete"
	}
	for _, d := range []struct {
		flag string
		t    time.Time
	}{{"--date", o.Date}, {"--from", o.From}, {"--to", o.To}} {
		if d.t.IsZero() {
			continue
		}
		day := midnight(d.t, loc)
		if day.After(latest) {
			return fmt.Errorf("job %s: %s %s is after %s, %s (today is %s in %s): %w",
				job.Name, d.flag, day.Format(time.DateOnly), what, latest.Format(time.DateOnly), today.Format(time.DateOnly), loc, ErrDate)
		}
		if day.Before(job.Athena.First) {
			return fmt.Errorf("job %s: %s %s is before athena.first_date %s, where the Athena table's dt range starts (set athena.first_date earlier, then run mallet athena ddl or sync again): %w",
				job.Name, d.flag, day.Format(time.DateOnly), job.Athena.FirstDate, ErrDate)
		}
	}
	return nil
}

// planIncremental: the one partition the new rows are appended to.
func (r *run) planIncremental(now time.Time, dates []time.Time) ([]window, error) {
	if len(dates) > 0 {
		return nil, fmt.Errorf("mode incremental has no windows to backfill: use --date (or nothing) for the partition to append to")
	}
	return []window{dayWindow(r.runDay(now), false)}, nil
}

// backfillDates returns the dates from --from to --to (--from alone: that
// one date), or none when the run is not a backfill.
func (r *run) backfillDates() ([]time.Time, error) {
	if r.o.From.IsZero() {
		return nil, nil
	}
	loc := r.job.Location
	from, to := midnight(r.o.From, loc), midnight(r.o.To, loc)
	if r.o.To.IsZero() {
		to = from
	}
	if to.Before(from) {
		return nil, fmt.Errorf("--from %s is after --to %s", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	var dates []time.Time
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		dates = append(dates, d)
	}
	return dates, nil
}

// runDay is the partition of a run that covers one day: --date, else
// today in the job's zone.
func (r *run) runDay(now time.Time) time.Time {
	if !r.o.Date.IsZero() {
		return midnight(r.o.Date, r.job.Location)
	}
	return midnight(now, r.job.Location)
}

// uncommitted drops the windows state says are committed, unless Force.
func (r *run) uncommitted(ws []window, state *publish.State) []window {
	if r.o.Force || state == nil {
		return ws
	}
	var out []window
	for _, w := range ws {
		if !state.Committed(w.partition(), w.slot) {
			out = append(out, w)
		}
	}
	return out
}

// windowParams are the query parameters of a window: its date and bounds
// as text, in the job's zone and in UTC.
func windowParams(w window) map[string]any {
	const dt = "2006-01-02 15:04:05"
	return map[string]any{
		"date":             w.date.Format(time.DateOnly),
		"window_start":     w.start.Format(dt),
		"window_end":       w.end.Format(dt),
		"window_start_utc": w.start.UTC().Format(dt),
		"window_end_utc":   w.end.UTC().Format(dt),
	}
}

// Cursor kinds, as publish.State.CursorKind records them.
const (
	cursorTime = "time"
	cursorInt  = "int"
)

const cursorLayout = "2006-01-02 15:04:05.999999"

// tracker follows one tenant's cursor through an incremental run: it
// skips rows the look-back reads again unchanged, and keeps the new
// cursor value and the keys published within the look-back of it.
type tracker struct {
	cursor, key string
	lookback    config.Lookback
	kind        string
	prev        publish.TenantState
	ci, ki      int
	max         string
	seen        map[string]string // this run's rows near max
	pruneAt     int
	skipped     int64
}

func newTracker(job *config.Job, kind string, prev *publish.TenantState) *tracker {
	t := &tracker{cursor: job.Cursor, key: job.Key, lookback: job.Lookback, kind: kind, seen: map[string]string{}, pruneAt: 1024}
	if prev != nil {
		t.prev = *prev
	}
	return t
}

// bind is the :cursor value for the tenant's query: the last cursor minus
// the look-back, or 0 on the first run, which is below every DATETIME,
// TIMESTAMP and non-negative integer in MySQL's comparisons.
func (t *tracker) bind() (any, error) {
	if t.prev.Cursor == "" {
		return int64(0), nil
	}
	return t.sub(t.prev.Cursor)
}

// sub returns cursor value v minus the look-back, as a query argument.
func (t *tracker) sub(v string) (any, error) {
	switch t.kind {
	case cursorTime:
		tm, err := parseCursorTime(v)
		if err != nil {
			return nil, err
		}
		return tm.Add(-t.lookback.Duration).Format(cursorLayout), nil
	case cursorInt:
		n, ok := new(big.Int).SetString(v, 10)
		if !ok {
			return nil, fmt.Errorf("cursor value %q is not an integer", v)
		}
		n.Sub(n, big.NewInt(t.lookback.Count))
		if n.IsInt64() {
			return n.Int64(), nil
		}
		return n.String(), nil
	}
	return nil, fmt.Errorf("cursor value %q of unknown kind %q", v, t.kind)
}

func parseCursorTime(v string) (time.Time, error) {
	if len(v) == len(time.DateOnly) {
		return time.Parse(time.DateOnly, v)
	}
	tm, err := time.Parse("2006-01-02 15:04:05.999999999", v)
	if err != nil {
		return time.Time{}, fmt.Errorf("cursor value %q is not a date and time", v)
	}
	return tm, nil
}

// compare orders two cursor values of the tracker's kind.
func (t *tracker) compare(a, b string) int {
	if t.kind == cursorTime {
		ta, _ := parseCursorTime(a)
		tb, _ := parseCursorTime(b)
		return ta.Compare(tb)
	}
	if x, err := strconv.ParseInt(a, 10, 64); err == nil {
		if y, err := strconv.ParseInt(b, 10, 64); err == nil {
			return cmp.Compare(x, y)
		}
	}
	x, _ := new(big.Int).SetString(a, 10)
	y, _ := new(big.Int).SetString(b, 10)
	if x == nil || y == nil {
		return strings.Compare(a, b)
	}
	return x.Cmp(y)
}

// start finds the cursor and key columns in the query's result.
func (t *tracker) start(cols schema.Schema) error {
	t.ci, t.ki = cols.Index(t.cursor), cols.Index(t.key)
	if t.ci < 0 {
		return fmt.Errorf("the result has no cursor column %q (columns: %s)", t.cursor, strings.Join(cols.Names(), ", "))
	}
	if t.ki < 0 {
		return fmt.Errorf("the result has no key column %q (columns: %s)", t.key, strings.Join(cols.Names(), ", "))
	}
	kind := ""
	switch c := cols[t.ci]; c.Kind {
	case schema.Timestamp, schema.Date:
		kind = cursorTime
	case schema.Int32, schema.Int64, schema.Uint64:
		kind = cursorInt
	case schema.Decimal:
		if c.Scale == 0 {
			kind = cursorInt
		}
	}
	switch {
	case kind == "":
		return fmt.Errorf("cursor column %q is %s: want a DATETIME, TIMESTAMP, DATE or integer column", t.cursor, cols[t.ci].Kind)
	case t.kind != "" && t.kind != kind:
		return fmt.Errorf("cursor column %q is now a %s cursor, the state holds %s values (mallet state reset)", t.cursor, kind, t.kind)
	case !t.lookback.IsZero() && t.lookback.IsCount != (kind == cursorInt):
		return fmt.Errorf("lookback %s does not fit the %s cursor column %q (a duration for time, a count for integers)", t.lookback.Text, kind, t.cursor)
	}
	t.kind = kind
	return nil
}

// keep reports whether a row is to be published, and tracks it.
func (t *tracker) keep(row [][]byte) bool {
	c := row[t.ci]
	if c == nil {
		return true // no cursor value: published, never tracked
	}
	v, k := string(c), keyText(row[t.ki])
	if t.prev.Seen[k] == v {
		t.skipped++
		return false
	}
	if t.max == "" || t.compare(v, t.max) > 0 {
		t.max = v
	}
	t.seen[k] = v
	if len(t.seen) >= t.pruneAt {
		t.prune(t.seen, t.max)
		t.pruneAt = max(1024, 2*len(t.seen))
	}
	return true
}

func keyText(b []byte) string {
	if b == nil {
		return "\x00NULL"
	}
	return string(b)
}

// prune drops the entries of m below top minus the look-back.
func (t *tracker) prune(m map[string]string, top string) {
	floor, err := t.sub(top)
	if err != nil {
		return
	}
	f := fmt.Sprint(floor)
	for k, v := range m {
		if t.compare(v, f) < 0 {
			delete(m, k)
		}
	}
}

// state returns the tenant's state after the run: the larger cursor, and
// the keys published within the look-back of it, from before and now.
func (t *tracker) state() *publish.TenantState {
	top := t.prev.Cursor
	if t.max != "" && (top == "" || t.compare(t.max, top) > 0) {
		top = t.max
	}
	if top == "" {
		return &publish.TenantState{}
	}
	seen := maps.Clone(t.prev.Seen)
	if seen == nil {
		seen = make(map[string]string, len(t.seen))
	}
	for k, v := range t.seen {
		if old, ok := seen[k]; !ok || t.compare(v, old) > 0 {
			seen[k] = v
		}
	}
	t.prune(seen, top)
	if len(seen) == 0 {
		seen = nil
	}
	return &publish.TenantState{Cursor: top, Seen: seen}
}

// cursorParams binds :cursor for a tenant of an incremental run and gives
// the tenant a fresh tracker; other modes' params are returned as they are.
func (r *run) cursorParams(t *TenantResult, params map[string]any) (map[string]any, error) {
	if r.job.Mode != config.ModeIncremental {
		return params, nil
	}
	var prev *publish.TenantState
	kind := ""
	if r.state != nil {
		prev, kind = r.state.Tenants[t.Server+"/"+t.Database], r.state.CursorKind
	}
	t.track = newTracker(r.job, kind, prev)
	v, err := t.track.bind()
	if err != nil {
		return nil, fmt.Errorf("cursor: %w", err)
	}
	params = maps.Clone(params)
	params["cursor"] = v
	return params, nil
}
