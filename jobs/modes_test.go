package jobs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/publish"
)

// planJob parses a one-job config of the given mode and schedule.
func planJob(t *testing.T, mode, schedule string, extra string) *config.Job {
	t.Helper()
	dir := t.TempDir()
	q := "SELECT id FROM t WHERE at >= :window_start AND at < :window_end"
	if mode == config.ModeIncremental {
		q, extra = "SELECT id FROM t WHERE id >= :cursor", extra+"    cursor: id\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "q.sql"), []byte(q), 0o600); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`timezone: Asia/Tokyo
sources:
  s:
    servers: [{name: db1, dsn: "u:p@tcp(127.0.0.1:3306)/"}]
    tenants: {match: "."}
jobs:
  j:
    source: s
    query: q.sql
    mode: %s
    schedule: %q
    output: {to: out}
%s`, mode, schedule, extra)
	path := filepath.Join(dir, "config.yaml")
	cfg, err := config.Parse(path, []byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Jobs["j"]
}

// committedState holds one committed run per slot ("" for a snapshot's
// run), each in the partition its slot's date names.
func committedState(slots ...string) *publish.State {
	s := &publish.State{Partitions: map[string]*publish.Partition{}}
	for _, slot := range slots {
		date := slot
		if len(date) > len(time.DateOnly) {
			date = date[:len(time.DateOnly)]
		}
		p := s.Partitions[date]
		if p == nil {
			p = &publish.Partition{}
			s.Partitions[date] = p
		}
		p.Runs = append(p.Runs, publish.CommittedRun{Slot: slot})
	}
	return s
}

// describe spells a window as "partition slot start length".
func describe(w window) string {
	return fmt.Sprintf("%s %q %s %s", w.partition(), w.slot, w.start.Format("2006-01-02T15"), w.end.Sub(w.start))
}

// days describes n day windows from date on; slotted for window mode.
func days(date string, n int, slotted bool) []string {
	d, _ := time.Parse(time.DateOnly, date)
	var out []string
	for i := range n {
		day := d.AddDate(0, 0, i).Format(time.DateOnly)
		slot := ""
		if slotted {
			slot = day
		}
		out = append(out, fmt.Sprintf("%s %q %sT00 24h0m0s", day, slot, day))
	}
	return out
}

// hours describes n hour windows from hour ("2026-03-10T07") on.
func hours(hour string, n int) []string {
	h, _ := time.Parse("2006-01-02T15", hour)
	var out []string
	for i := range n {
		s := h.Add(time.Duration(i) * time.Hour)
		out = append(out, fmt.Sprintf("%s %q %s 1h0m0s", s.Format(time.DateOnly), s.Format(hourSlot), s.Format("2006-01-02T15")))
	}
	return out
}

// days2 lists the slots of n days from date on.
func days2(date string, n int) []string {
	return slotsOf(days(date, n, true))
}

// slotsOf returns the slots of described windows.
func slotsOf(ws []string) []string {
	var out []string
	for _, w := range ws {
		f := strings.Fields(w)
		out = append(out, strings.Trim(f[1], `"`))
	}
	return out
}

// without drops the described windows of the given slots.
func without(ws []string, slots ...string) []string {
	var out []string
	for _, w := range ws {
		if !slices.Contains(slots, slotsOf([]string{w})[0]) {
			out = append(out, w)
		}
	}
	return out
}

func TestPlan(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 10, 10, 30, 0, 0, tokyo)
	date := func(s string) time.Time {
		d, err := time.ParseInLocation(time.DateOnly, s, tokyo)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	const daily, hourly = "0 1 * * *", "5 * * * *"
	for _, tt := range []struct {
		name, mode, schedule string
		catchUp              string // extra job keys
		o                    Options
		state                *publish.State
		want                 []string
		wantErr              string
	}{
		{name: "snapshot today", mode: config.ModeSnapshot, want: days("2026-03-10", 1, false)},
		{name: "snapshot date", mode: config.ModeSnapshot, o: Options{Date: date("2026-03-01")}, want: days("2026-03-01", 1, false)},
		{name: "snapshot date committed", mode: config.ModeSnapshot, o: Options{Date: date("2026-03-01")}, state: committedState("2026-03-01"), want: days("2026-03-01", 1, false)},
		{name: "snapshot backfill", mode: config.ModeSnapshot, o: Options{From: date("2026-03-01"), To: date("2026-03-03")}, want: days("2026-03-01", 3, false)},
		{name: "snapshot backfill of one day", mode: config.ModeSnapshot, o: Options{From: date("2026-03-02")}, want: days("2026-03-02", 1, false)},
		{name: "snapshot backfill skips committed", mode: config.ModeSnapshot, o: Options{From: date("2026-03-01"), To: date("2026-03-03")},
			state: &publish.State{Partitions: map[string]*publish.Partition{"2026-03-02": {Runs: []publish.CommittedRun{{Slot: ""}}}}},
			want:  []string{days("2026-03-01", 1, false)[0], days("2026-03-03", 1, false)[0]}},
		{name: "snapshot backfill forced", mode: config.ModeSnapshot, o: Options{From: date("2026-03-01"), To: date("2026-03-03"), Force: true},
			state: &publish.State{Partitions: map[string]*publish.Partition{"2026-03-02": {Runs: []publish.CommittedRun{{Slot: ""}}}}},
			want:  days("2026-03-01", 3, false)},
		{name: "backfill backwards", mode: config.ModeSnapshot, o: Options{From: date("2026-03-03"), To: date("2026-03-01")}, wantErr: "--from 2026-03-03 is after --to 2026-03-01"},

		{name: "window first run fills the horizon", mode: config.ModeWindow, schedule: daily, want: days("2026-03-03", 7, true)},
		{name: "window catches up", mode: config.ModeWindow, schedule: daily, state: committedState(days2("2026-03-03", 4)...), want: days("2026-03-07", 3, true)},
		{name: "window fills every gap, whatever order runs came in", mode: config.ModeWindow, schedule: daily, state: committedState("2026-03-08", "2026-03-05"),
			want: without(days("2026-03-03", 7, true), "2026-03-05", "2026-03-08")},
		{name: "window catch_up bounds the horizon", mode: config.ModeWindow, schedule: daily, catchUp: "    catch_up: 72h\n", state: committedState("2026-03-08"),
			want: []string{days("2026-03-07", 1, true)[0], days("2026-03-09", 1, true)[0]}},
		{name: "window catches up at most a week", mode: config.ModeWindow, schedule: daily, state: committedState("2026-01-01"), want: days("2026-03-03", 7, true)},
		{name: "window horizon starts at first_date", mode: config.ModeWindow, schedule: daily, catchUp: "    athena: {first_date: 2026-03-08}\n", want: days("2026-03-08", 2, true)},
		{name: "window up to date", mode: config.ModeWindow, schedule: daily, state: committedState(days2("2026-03-03", 7)...), want: nil},
		{name: "window up to date forced", mode: config.ModeWindow, schedule: daily, state: committedState(days2("2026-03-03", 7)...), o: Options{Force: true}, want: days("2026-03-03", 7, true)},
		{name: "window without schedule", mode: config.ModeWindow, state: committedState(days2("2026-03-03", 6)...), want: days("2026-03-09", 1, true)},
		{name: "window date runs even if committed", mode: config.ModeWindow, schedule: daily, o: Options{Date: date("2026-03-05")}, state: committedState("2026-03-05"), want: days("2026-03-05", 1, true)},
		{name: "window backfill skips committed", mode: config.ModeWindow, schedule: daily, o: Options{From: date("2026-03-01"), To: date("2026-03-04")}, state: committedState("2026-03-02", "2026-03-03"),
			want: []string{days("2026-03-01", 1, true)[0], days("2026-03-04", 1, true)[0]}},

		{name: "hourly first run fills the horizon", mode: config.ModeWindow, schedule: hourly, want: hours("2026-03-08T10", 48)},
		{name: "hourly catches up", mode: config.ModeWindow, schedule: hourly, state: committedState(slotsOf(hours("2026-03-08T10", 45))...), want: hours("2026-03-10T07", 3)},
		{name: "hourly catches up over midnight", mode: config.ModeWindow, schedule: hourly, state: committedState(slotsOf(hours("2026-03-08T10", 37))...), want: hours("2026-03-09T23", 11)},
		{name: "hourly catches up at most two days", mode: config.ModeWindow, schedule: hourly, state: committedState("2026-03-01T00"), want: hours("2026-03-08T10", 48)},
		{name: "hourly catch-up fills every gap", mode: config.ModeWindow, schedule: hourly, catchUp: "    catch_up: 6h\n", state: committedState("2026-03-10T06", "2026-03-10T04"),
			want: without(hours("2026-03-10T04", 6), "2026-03-10T04", "2026-03-10T06")},
		{name: "hourly date", mode: config.ModeWindow, schedule: hourly, o: Options{Date: date("2026-03-05")}, want: hours("2026-03-05T00", 24)},
		{name: "hourly backfill", mode: config.ModeWindow, schedule: hourly, o: Options{From: date("2026-03-04"), To: date("2026-03-05")}, state: committedState("2026-03-04T03"),
			want: slices.Concat(hours("2026-03-04T00", 3), hours("2026-03-04T04", 44))},

		{name: "incremental today", mode: config.ModeIncremental, state: committedState("run1"), want: days("2026-03-10", 1, false)},
		{name: "incremental date", mode: config.ModeIncremental, o: Options{Date: date("2026-03-01")}, want: days("2026-03-01", 1, false)},
		{name: "incremental backfill", mode: config.ModeIncremental, o: Options{From: date("2026-03-01")}, wantErr: "mode incremental has no windows to backfill"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &run{job: planJob(t, tt.mode, tt.schedule, tt.catchUp), o: tt.o}
			ws, err := r.plan(now, tt.state)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range ws {
				got = append(got, describe(w))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got windows\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// TestCheckDates: a run after the latest complete window in the job's
// zone, or before its athena.first_date, is refused with ErrDate.
func TestCheckDates(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	// 2026-03-10 00:30 in Tokyo is still 2026-03-09 in UTC.
	now := time.Date(2026, 3, 10, 0, 30, 0, 0, tokyo)
	date := func(s string) time.Time {
		d, err := time.ParseInLocation(time.DateOnly, s, tokyo)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tt := range []struct {
		name, mode, extra string
		o                 Options
		wantErr           string
	}{
		{name: "snapshot today", mode: config.ModeSnapshot, o: Options{Date: date("2026-03-10")}},
		{name: "snapshot tomorrow", mode: config.ModeSnapshot, o: Options{Date: date("2026-03-11")}, wantErr: "--date 2026-03-11 is after today, 2026-03-10 (today is 2026-03-10 in Asia/Tokyo)"},
		{name: "snapshot a month ahead", mode: config.ModeSnapshot, o: Options{Date: date("2026-04-10")}, wantErr: "today is 2026-03-10 in Asia/Tokyo"},
		{name: "window yesterday", mode: config.ModeWindow, o: Options{Date: date("2026-03-09")}},
		{name: "window today", mode: config.ModeWindow, o: Options{Date: date("2026-03-10")}, wantErr: "--date 2026-03-10 is after the last day whose windows are complete, 2026-03-09"},
		{name: "window backfill into the future", mode: config.ModeWindow, o: Options{From: date("2026-03-01"), To: date("2026-03-12")}, wantErr: "--to 2026-03-12 is after"},
		{name: "incremental tomorrow", mode: config.ModeIncremental, o: Options{Date: date("2026-03-11")}, wantErr: "--date 2026-03-11 is after today"},
		{name: "before first_date", mode: config.ModeSnapshot, extra: "    athena: {first_date: 2026-01-01}\n", o: Options{Date: date("2025-12-31")}, wantErr: "--date 2025-12-31 is before athena.first_date 2026-01-01"},
		{name: "backfill from before first_date", mode: config.ModeWindow, extra: "    athena: {first_date: 2026-01-01}\n", o: Options{From: date("2025-12-30"), To: date("2026-01-02")}, wantErr: "--from 2025-12-30 is before athena.first_date"},
		{name: "on first_date", mode: config.ModeSnapshot, extra: "    athena: {first_date: 2026-01-01}\n", o: Options{Date: date("2026-01-01")}},
		{name: "before the default first date", mode: config.ModeSnapshot, o: Options{Date: date("1999-12-31")}, wantErr: "before athena.first_date 2000-01-01"},
		{name: "no date", mode: config.ModeWindow},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkDates(planJob(t, tt.mode, "0 1 * * *", tt.extra), tt.o, now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrDate) {
				t.Fatalf("got %v, want an ErrDate containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestMissing: the windows of the horizon a state has not committed.
func TestMissing(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 10, 10, 30, 0, 0, tokyo)
	job := planJob(t, config.ModeWindow, "0 1 * * *", "")
	got := Missing(job, committedState("2026-03-05", "2026-03-08", "2026-02-01"), now)
	want := []string{"2026-03-03", "2026-03-04", "2026-03-06", "2026-03-07", "2026-03-09"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := Missing(planJob(t, config.ModeSnapshot, "", ""), nil, now); got != nil {
		t.Errorf("snapshot: got %v, want none", got)
	}
}
