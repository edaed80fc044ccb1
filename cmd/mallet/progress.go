package main

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/mallet-etl/mallet/jobs"
)

// progressInterval is how often a progress line is logged when stdout is
// not a terminal. Tests shorten it with MALLET_PROGRESS_INTERVAL.
func progressInterval() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("MALLET_PROGRESS_INTERVAL")); err == nil && d > 0 {
		return d
	}
	return 5 * time.Second
}

// showProgress reports p while a run of job goes: a live bar on stdout when
// stdout is a terminal, else a "progress" log line every few seconds, so
// that pipes and log collectors never receive terminal control codes. The
// returned stop ends the reporting and waits for it; call it before
// printing the summary.
func showProgress(job string, p *jobs.Progress, log *slog.Logger) (stop func()) {
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	if term.IsTerminal(int(os.Stdout.Fd())) {
		bars := mpb.New(mpb.WithOutput(os.Stdout), mpb.WithWidth(24), mpb.WithRefreshRate(150*time.Millisecond))
		bar := bars.New(0, mpb.BarStyle(),
			mpb.PrependDecorators(decor.Name(job+" ", decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return progressText(p, time.Since(start)) })),
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				bar.SetTotal(p.TenantsTotal.Load(), false)
				bar.SetCurrent(p.TenantsDone.Load())
				select {
				case <-t.C:
				case <-done:
					bar.SetTotal(-1, true) // complete at the current count, drawn once more
					bars.Wait()
					return
				}
			}
		}()
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(progressInterval())
			defer t.Stop()
			for {
				select {
				case <-t.C:
					el := time.Since(start)
					rows := p.Rows.Load()
					log.Info("progress", "job", job,
						"tenants_done", p.TenantsDone.Load(), "tenants_total", p.TenantsTotal.Load(),
						"tenants_failed", p.TenantsFailed.Load(), "rows", rows, "bytes", p.Bytes.Load(),
						"rows_per_sec", int64(float64(rows)/el.Seconds()), "elapsed", el.Round(time.Second).String())
				case <-done:
					return
				}
			}
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// progressText is the bar's right-hand side: tenants, rows, bytes, rate,
// elapsed and failures.
func progressText(p *jobs.Progress, el time.Duration) string {
	rows := p.Rows.Load()
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(rows) / s
	}
	s := fmt.Sprintf("%d/%d tenants  %s rows  %s  %s rows/s  %s",
		p.TenantsDone.Load(), p.TenantsTotal.Load(), count(rows), size(p.Bytes.Load()), count(int64(rate)), el.Round(time.Second))
	if f := p.TenantsFailed.Load(); f > 0 {
		s += fmt.Sprintf("  %d failed", f)
	}
	return s
}

// count prints n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// size prints a byte count in binary units: 512 B, 1.5 KiB, 3.2 MiB.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
