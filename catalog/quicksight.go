package catalog

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/quicksight"
	"github.com/aws/aws-sdk-go-v2/service/quicksight/types"
)

// ErrIngestion is wrapped by the error of an ingestion that ended other
// than COMPLETED (FAILED or CANCELLED), or that was still going when the
// wait ended.
var ErrIngestion = errors.New("spice ingestion did not complete")

// QuickSight starts and follows SPICE ingestions of one account's datasets.
type QuickSight struct {
	client  *quicksight.Client
	account string
	poll    time.Duration
}

// QuickSightOptions configure NewQuickSight.
type QuickSightOptions struct {
	// AccountID is the datasets' AWS account id (12 digits).
	AccountID string
	// Region of the datasets; empty means the SDK's default chain.
	Region string
	// Poll is the time between two DescribeIngestion calls while waiting;
	// 0 means 5 seconds.
	Poll time.Duration
}

// NewQuickSight returns a QuickSight over the SDK's default chain. It does
// not contact AWS; an error means the options are invalid or the SDK
// config could not be loaded or names no region.
func NewQuickSight(ctx context.Context, o QuickSightOptions) (*QuickSight, error) {
	if !regexp.MustCompile(`^[0-9]{12}$`).MatchString(o.AccountID) {
		return nil, fmt.Errorf("quicksight: account id %q is not 12 digits", o.AccountID)
	}
	cfg, err := loadAWS(ctx, o.Region)
	if err != nil {
		return nil, fmt.Errorf("quicksight: %w", err)
	}
	q := &QuickSight{client: quicksight.NewFromConfig(cfg), account: o.AccountID, poll: o.Poll}
	if q.poll <= 0 {
		q.poll = 5 * time.Second
	}
	return q, nil
}

// maxIngestionID is the longest ingestion id QuickSight accepts.
const maxIngestionID = 128

var notIDChar = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// IngestionID is the ingestion id of the refresh a run starts: "mallet-"
// and the run id, in QuickSight's alphabet (letters, digits, '-' and '_')
// and length. The same run always gets the same id, so a request the SDK
// sends again after a lost answer does not start a second ingestion, and
// QuickSight's ingestion history names the run.
func IngestionID(runID string) string {
	id := "mallet-" + notIDChar.ReplaceAllString(runID, "_")
	if len(id) > maxIngestionID {
		id = id[:maxIngestionID]
	}
	return id
}

// Ingestion is what QuickSight says about one ingestion.
type Ingestion struct {
	Dataset string
	ID      string
	// Status is QuickSight's: INITIALIZED, QUEUED, RUNNING, COMPLETED,
	// FAILED or CANCELLED.
	Status string
	// Rows ingested, and dropped as unreadable, once COMPLETED.
	Rows, Dropped int64
	// Error is QuickSight's error type and message of a FAILED ingestion.
	Error string
}

// Done reports whether the ingestion has ended (whatever the outcome).
func (i Ingestion) Done() bool {
	switch types.IngestionStatus(i.Status) {
	case types.IngestionStatusCompleted, types.IngestionStatusFailed, types.IngestionStatusCancelled:
		return true
	}
	return false
}

// Refresh starts a full refresh (CreateIngestion, FULL_REFRESH) of the
// SPICE dataset with the ingestion id id. If an ingestion with that id
// already exists (the SDK sent the request again after losing the answer,
// or a run is being retried), that ingestion is the refresh: Refresh
// describes it instead of failing. Errors are the SDK's (dataset not found,
// access denied, a limit on concurrent or daily ingestions, throttling
// after the SDK's retries, unreachable endpoint).
func (q *QuickSight) Refresh(ctx context.Context, dataset, id string) (Ingestion, error) {
	out, err := q.client.CreateIngestion(ctx, &quicksight.CreateIngestionInput{
		AwsAccountId:  aws.String(q.account),
		DataSetId:     aws.String(dataset),
		IngestionId:   aws.String(id),
		IngestionType: types.IngestionTypeFullRefresh,
	})
	if apiCode(err) == "ResourceExistsException" {
		return q.describe(ctx, dataset, id)
	}
	if err != nil {
		return Ingestion{Dataset: dataset, ID: id}, fmt.Errorf("quicksight: create ingestion %s of dataset %s: %w", id, dataset, err)
	}
	return Ingestion{Dataset: dataset, ID: id, Status: string(out.IngestionStatus)}, nil
}

func (q *QuickSight) describe(ctx context.Context, dataset, id string) (Ingestion, error) {
	in := Ingestion{Dataset: dataset, ID: id}
	out, err := q.client.DescribeIngestion(ctx, &quicksight.DescribeIngestionInput{
		AwsAccountId: aws.String(q.account),
		DataSetId:    aws.String(dataset),
		IngestionId:  aws.String(id),
	})
	if err != nil {
		return in, fmt.Errorf("quicksight: describe ingestion %s of dataset %s: %w", id, dataset, err)
	}
	ing := out.Ingestion
	if ing == nil {
		return in, fmt.Errorf("quicksight: describe ingestion %s of dataset %s: the answer holds no ingestion", id, dataset)
	}
	in.Status = string(ing.IngestionStatus)
	if r := ing.RowInfo; r != nil {
		in.Rows, in.Dropped = aws.ToInt64(r.RowsIngested), aws.ToInt64(r.RowsDropped)
	}
	if e := ing.ErrorInfo; e != nil {
		in.Error = strings.TrimSpace(string(e.Type) + ": " + aws.ToString(e.Message))
	}
	return in, nil
}

// Wait polls the ingestion until it ends or ctx is done (the caller bounds
// ctx with quicksight.wait). It returns the last state seen, and an error
// wrapping ErrIngestion unless it COMPLETED; when ctx ends first, the error
// says the ingestion was still going (it goes on in QuickSight).
func (q *QuickSight) Wait(ctx context.Context, dataset, id string) (Ingestion, error) {
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	last := Ingestion{Dataset: dataset, ID: id}
	for {
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("quicksight: ingestion %s of dataset %s: %w: still %s after %s (it goes on in QuickSight)",
				id, dataset, ErrIngestion, orUnknown(last.Status), time.Since(start).Round(time.Second))
		case <-t.C:
		}
		in, err := q.describe(ctx, dataset, id)
		if err != nil {
			if ctx.Err() != nil {
				continue // report the wait's end, not the cancelled call
			}
			return last, err
		}
		last = in
		if in.Done() {
			if in.Status != string(types.IngestionStatusCompleted) {
				return in, fmt.Errorf("quicksight: ingestion %s of dataset %s: %w: %s", id, dataset, ErrIngestion, strings.TrimSpace(in.Status+" "+in.Error))
			}
			return in, nil
		}
		t.Reset(q.poll)
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "in an unknown state"
	}
	return s
}
