package catalog_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/catalog"
	"github.com/mallet-etl/mallet/catalog/quicksighttest"
)

const account = "123456789012"

func newQuickSight(t *testing.T) (*catalog.QuickSight, *quicksighttest.Server) {
	t.Helper()
	srv := quicksighttest.Start(t)
	q, err := catalog.NewQuickSight(t.Context(), catalog.QuickSightOptions{AccountID: account, Poll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return q, srv
}

func TestIngestionID(t *testing.T) {
	tests := []struct{ run, want string }{
		{"20261125T183000Z-0a1b2c3d", "mallet-20261125T183000Z-0a1b2c3d"},
		{"run.with/odd chars", "mallet-run_with_odd_chars"},
		{strings.Repeat("x", 200), "mallet-" + strings.Repeat("x", 121)},
	}
	for _, tt := range tests {
		if got := catalog.IngestionID(tt.run); got != tt.want {
			t.Errorf("IngestionID(%q) = %q, want %q", tt.run, got, tt.want)
		}
	}
}

func TestRefreshAndWait(t *testing.T) {
	q, srv := newQuickSight(t)
	srv.AddDataset(account, "mail-send-counts", quicksighttest.Outcome{Polls: 3, Rows: 1234})
	id := catalog.IngestionID("20261125T183000Z-0a1b2c3d")
	in, err := q.Refresh(t.Context(), "mail-send-counts", id)
	if err != nil {
		t.Fatal(err)
	}
	if in.Status != "INITIALIZED" || in.ID != id {
		t.Errorf("started %+v, want INITIALIZED with id %s", in, id)
	}
	in, err = q.Wait(t.Context(), "mail-send-counts", id)
	if err != nil {
		t.Fatal(err)
	}
	if in.Status != "COMPLETED" || in.Rows != 1234 {
		t.Errorf("ended %+v, want COMPLETED with 1234 rows", in)
	}
	got := srv.Ingestions(account, "mail-send-counts")
	if len(got) != 1 || got[0].ID != id || got[0].Type != "FULL_REFRESH" {
		t.Errorf("ingestions %+v, want one FULL_REFRESH with id %s", got, id)
	}
	if n := srv.Calls("DescribeIngestion"); n != 4 {
		t.Errorf("DescribeIngestion called %d times, want 4 (RUNNING three times, then COMPLETED)", n)
	}

	// The same run refreshing again (a retried step) starts nothing new.
	again, err := q.Refresh(t.Context(), "mail-send-counts", id)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != "COMPLETED" {
		t.Errorf("second refresh of the same id: %+v, want the existing ingestion (COMPLETED)", again)
	}
	if n := len(srv.Ingestions(account, "mail-send-counts")); n != 1 {
		t.Errorf("%d ingestions, want 1", n)
	}
}

func TestRefreshFaults(t *testing.T) {
	catalog.FastRetries(t)
	tests := []struct {
		name    string
		dataset string
		faults  []quicksighttest.Fault
		wantErr string
		calls   int // CreateIngestion requests
	}{
		{"throttled twice", "ds", []quicksighttest.Fault{{Code: "ThrottlingException"}, {Code: "ThrottlingException"}}, "", 3},
		{"throttled past the retries", "ds", repeat(quicksighttest.Fault{Code: "ThrottlingException"}, 5), "ThrottlingException", 5},
		// The ingestion started, the answer was lost: the SDK sends the
		// request again, QuickSight says the id exists, and that
		// ingestion is the refresh. One ingestion, not two.
		{"answer lost", "ds", []quicksighttest.Fault{{Drop: true}}, "", 2},
		{"internal failure once", "ds", []quicksighttest.Fault{{Code: "InternalFailureException"}}, "", 2},
		{"dataset not found", "nope", nil, "ResourceNotFoundException", 1},
		{"access denied", "ds", []quicksighttest.Fault{{Code: "AccessDeniedException"}}, "AccessDeniedException", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, srv := newQuickSight(t)
			srv.AddDataset(account, "ds", quicksighttest.Outcome{})
			srv.Fail("CreateIngestion", tt.faults...)
			_, err := q.Refresh(t.Context(), tt.dataset, "mallet-run1")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if tt.wantErr != "" && !strings.Contains(err.Error(), "quicksight: create ingestion mallet-run1 of dataset "+tt.dataset) {
				t.Errorf("error %q does not name the ingestion and dataset", err)
			}
			if n := srv.Calls("CreateIngestion"); n != tt.calls {
				t.Errorf("CreateIngestion called %d times, want %d", n, tt.calls)
			}
			if n := len(srv.Ingestions(account, "ds")); tt.wantErr == "" && n != 1 {
				t.Errorf("%d ingestions, want 1", n)
			}
		})
	}
}

func TestWaitOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		outcome quicksighttest.Outcome
		wait    time.Duration
		want    string // error text, "" for success
	}{
		{"completed", quicksighttest.Outcome{Rows: 5}, time.Second, ""},
		{"failed", quicksighttest.Outcome{Status: "FAILED", ErrorType: "DATA_SET_SIZE_LIMIT_EXCEEDED", ErrorMessage: "too big"},
			time.Second, "FAILED DATA_SET_SIZE_LIMIT_EXCEEDED: too big"},
		{"cancelled", quicksighttest.Outcome{Status: "CANCELLED"}, time.Second, "CANCELLED"},
		{"still running when the wait ends", quicksighttest.Outcome{Status: "RUNNING"}, 100 * time.Millisecond,
			"still RUNNING after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, srv := newQuickSight(t)
			srv.AddDataset(account, "ds", tt.outcome)
			if _, err := q.Refresh(t.Context(), "ds", "mallet-run1"); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), tt.wait)
			defer cancel()
			in, err := q.Wait(ctx, "ds", "mallet-run1")
			if tt.want == "" {
				if err != nil || in.Status != "COMPLETED" {
					t.Fatalf("got %+v, %v; want COMPLETED", in, err)
				}
				return
			}
			if !errors.Is(err, catalog.ErrIngestion) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrIngestion saying %q", err, tt.want)
			}
		})
	}
}

func TestQuickSightDeadEndpoint(t *testing.T) {
	catalog.FastRetries(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	quicksighttest.Setenv(t, url)
	q, err := catalog.NewQuickSight(t.Context(), catalog.QuickSightOptions{AccountID: account})
	if err != nil {
		t.Fatal(err)
	}
	_, err = q.Refresh(t.Context(), "ds", "mallet-run1")
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("got %v, want connection refused", err)
	}
}

func TestNewQuickSightRejectsBadAccount(t *testing.T) {
	quicksighttest.Setenv(t, "http://127.0.0.1:1")
	if _, err := catalog.NewQuickSight(t.Context(), catalog.QuickSightOptions{AccountID: "12345"}); err == nil {
		t.Error("got nil, want an error for a 5-digit account id")
	}
}
