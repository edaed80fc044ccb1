package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mallet-etl/mallet/catalog"
)

// ErrCatalog is wrapped by the error of a run that published, but whose
// catalog sync or a dashboard refresh after the commit failed. The data
// stays published; the next run does both again.
var ErrCatalog = errors.New("published, but the catalog or a dashboard refresh failed")

// Steps run after a commit, the values of Step.Step.
const (
	StepGlue       = "glue"       // the job's Glue Data Catalog table made what athena ddl prints
	StepQuickSight = "quicksight" // a SPICE refresh of one dataset
)

// Outcomes of a step, the values of Step.Outcome: for glue what
// catalog.Glue.Sync did (unchanged, created, updated), for quicksight
// started (not waited for) or completed; failed for either.
const (
	StepFailed    = "failed"
	StepStarted   = "started"
	StepCompleted = "completed"
)

// Step is one thing a run did after its commit to keep readers in step.
type Step struct {
	Step     string        `json:"step"`
	Target   string        `json:"target"` // database.table, or the dataset id
	Outcome  string        `json:"outcome"`
	Detail   string        `json:"detail,omitempty"` // what changed, or the ingestion's id and rows
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Time limits of the steps after a commit: they must not hold a run (or
// a schedule slot) for long on an unreachable endpoint.
const (
	glueTimeout       = 2 * time.Minute
	quickSightTimeout = time.Minute // starting one ingestion; quicksight.wait is on top
)

// afterCommit keeps what reads the job's output in step after the run
// committed: the Glue table (athena.glue), then a SPICE refresh of each
// dataset listed (waiting quicksight.wait for them). Each step's outcome
// goes to r.res.Steps. The error wraps ErrCatalog and every step's
// failure; nothing is unpublished.
func (r *run) afterCommit(ctx context.Context) error {
	var errs []error
	if r.job.Athena.UsesGlue() {
		errs = append(errs, r.syncGlue(ctx))
	}
	if len(r.job.QuickSight.Datasets) > 0 {
		errs = append(errs, r.refreshSPICE(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("job %s: %w: %w", r.job.Name, ErrCatalog, err)
	}
	return nil
}

func (r *run) syncGlue(ctx context.Context) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, glueTimeout)
	defer cancel()
	st := Step{Step: StepGlue, Target: r.job.Athena.Database + "." + r.job.Athena.Table}
	g, err := NewGlue(ctx, r.cfg)
	var s catalog.Synced
	if err == nil {
		s, err = SyncGlue(ctx, r.cfg, r.job.Name, g, r.store)
	}
	if s.Table != "" {
		st.Target = s.Database + "." + s.Table
	}
	st.Duration = time.Since(start)
	if err != nil {
		st.Outcome, st.Error = StepFailed, err.Error()
		if s.Action != "" {
			st.Detail = s.String() // the table is in step; the view is not
		}
		r.res.Steps = append(r.res.Steps, st)
		r.log.Warn("glue sync failed: the data is published, the next run tries again", "job", r.job.Name, "table", st.Target, "error", err)
		return err
	}
	st.Outcome, st.Detail = s.Action, s.String()
	r.res.Steps = append(r.res.Steps, st)
	r.log.Info("glue table in step", "job", r.job.Name, "table", st.Target, "action", s.Action, "changes", s.Changes)
	return nil
}

// refreshSPICE starts a full refresh of each dataset, all with the
// ingestion id of the run, then with quicksight.wait waits for them in
// turn within that time.
func (r *run) refreshSPICE(ctx context.Context) error {
	qc := r.cfg.QuickSight
	id := catalog.IngestionID(r.res.RunID)
	q, qerr := catalog.NewQuickSight(ctx, catalog.QuickSightOptions{AccountID: qc.AccountID, Region: qc.Region})
	var errs []error
	var waiting []int // indexes in r.res.Steps
	for _, ds := range r.job.QuickSight.Datasets {
		st := Step{Step: StepQuickSight, Target: ds, Outcome: StepStarted, Detail: "ingestion " + id}
		start := time.Now()
		err := qerr
		if err == nil {
			sctx, cancel := context.WithTimeout(ctx, quickSightTimeout)
			var in catalog.Ingestion
			in, err = q.Refresh(sctx, ds, id)
			cancel()
			// An ingestion of this id that already ended: this run's
			// refresh, started by an earlier attempt.
			switch {
			case err == nil && in.Status == "COMPLETED":
				st.Outcome = StepCompleted
			case err == nil && in.Done():
				err = fmt.Errorf("quicksight: ingestion %s of dataset %s: %w: %s %s", id, ds, catalog.ErrIngestion, in.Status, in.Error)
			}
		}
		st.Duration = time.Since(start)
		if err != nil {
			st.Outcome, st.Error = StepFailed, err.Error()
			errs = append(errs, err)
			r.log.Warn("spice refresh failed: the data is published, the next run tries again", "job", r.job.Name, "dataset", ds, "ingestion", id, "error", err)
		} else {
			r.log.Info("spice refresh started", "job", r.job.Name, "dataset", ds, "ingestion", id)
			if st.Outcome == StepStarted {
				waiting = append(waiting, len(r.res.Steps))
			}
		}
		r.res.Steps = append(r.res.Steps, st)
	}
	if qc.Wait <= 0 || len(waiting) == 0 {
		return errors.Join(errs...)
	}
	wctx, cancel := context.WithTimeout(ctx, qc.Wait)
	defer cancel()
	for _, i := range waiting {
		st := &r.res.Steps[i]
		start := time.Now()
		in, err := q.Wait(wctx, st.Target, id)
		st.Duration += time.Since(start)
		if err != nil {
			st.Outcome, st.Error = StepFailed, err.Error()
			errs = append(errs, err)
			r.log.Warn("spice refresh did not complete", "job", r.job.Name, "dataset", st.Target, "ingestion", id, "error", err)
			continue
		}
		st.Outcome = StepCompleted
		st.Detail = fmt.Sprintf("ingestion %s: %d rows", id, in.Rows)
		if in.Dropped > 0 {
			st.Detail += fmt.Sprintf(", %d dropped", in.Dropped)
		}
		r.log.Info("spice refresh completed", "job", r.job.Name, "dataset", st.Target, "ingestion", id, "rows", in.Rows, "dropped", in.Dropped)
	}
	return errors.Join(errs...)
}
