// Package quicksighttest runs a fake Amazon QuickSight ingestion API on
// 127.0.0.1 over plain HTTP, for tests of the real aws-sdk-go-v2
// quicksight client reached through AWS_ENDPOINT_URL_QUICKSIGHT.
//
// It speaks QuickSight's REST-JSON protocol for the two operations mallet
// calls: CreateIngestion (PUT) and DescribeIngestion (GET) on
// /accounts/{AwsAccountId}/data-sets/{DataSetId}/ingestions/{IngestionId},
// SigV4-signed for the quicksight service; errors carry their type in the
// X-Amzn-ErrorType header (with the coral suffix QuickSight adds) and a
// JSON {"Message"} body, with QuickSight's status codes
// (ResourceNotFoundException 404, ResourceExistsException 409,
// ThrottlingException 429, ...). An ingestion moves from INITIALIZED
// through RUNNING to its outcome as it is described; outcomes, faults and
// dropped connections are set per dataset or operation.
//
// It is for tests only; no mallet binary imports it.
package quicksighttest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/internal/awstest"
)

// Server is a running fake QuickSight. Its methods are safe for concurrent
// use.
type Server struct {
	URL string // "http://127.0.0.1:port", the endpoint

	awstest.Ops // Calls, AllCalls, Fail

	hs         *httptest.Server
	mu         sync.Mutex
	datasets   map[string]Outcome      // "account/dataset" -> how its ingestions end
	ingestions map[string][]*Ingestion // "account/dataset" -> in creation order
}

// Outcome says how a dataset's ingestions go.
type Outcome struct {
	// Status is the final status: COMPLETED (the default), FAILED,
	// CANCELLED, or RUNNING for one that never ends.
	Status string
	// Polls is the number of DescribeIngestion calls that see the
	// ingestion RUNNING before one sees its final status; 0: the first
	// sees it.
	Polls int
	// ErrorType and ErrorMessage fill ErrorInfo of a FAILED ingestion.
	ErrorType, ErrorMessage string
	// Rows is RowInfo.RowsIngested of a COMPLETED ingestion.
	Rows int64
}

// Ingestion is an ingestion the server holds.
type Ingestion struct {
	ID     string
	Type   string // IngestionType as requested, e.g. FULL_REFRESH
	Status string
	polls  int
}

// Fault is an answer the server gives instead of serving a call.
// Its Code is answered with QuickSight's status for it.
type Fault = awstest.Fault

// NewServer starts a fake QuickSight on a free loopback port with no
// datasets. The caller calls Close.
func NewServer() (*Server, error) {
	s := &Server{datasets: map[string]Outcome{}, ingestions: map[string][]*Ingestion{}}
	hs, err := awstest.Serve("quicksighttest", s.serve)
	if err != nil {
		return nil, err
	}
	s.hs, s.URL = hs, hs.URL
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.hs.Close() }

// Start starts a fake QuickSight for the test t, stopped when t ends, and
// points the AWS SDK at it for the rest of t (see Setenv).
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	Setenv(t, s.URL)
	return s
}

// Setenv points the AWS SDK's QuickSight client at url for the rest of t:
// AWS_ENDPOINT_URL_QUICKSIGHT, dummy credentials and a region, and blanks
// for variables that would override them. Like t.Setenv, it cannot be
// used in parallel tests.
func Setenv(t testing.TB, url string) {
	t.Helper()
	awstest.Setenv(t, "QUICKSIGHT", url)
}

// AddDataset makes the dataset exist in the account, its ingestions
// ending as o says.
func (s *Server) AddDataset(account, dataset string, o Outcome) {
	if o.Status == "" {
		o.Status = "COMPLETED"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.datasets[account+"/"+dataset] = o
}

// Ingestions returns the dataset's ingestions, oldest first.
func (s *Server) Ingestions(account, dataset string) []Ingestion {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ingestion
	for _, in := range s.ingestions[account+"/"+dataset] {
		out = append(out, *in)
	}
	return out
}

var (
	ingestionPath = regexp.MustCompile(`^/accounts/([^/]+)/data-sets/([^/]+)/ingestions/([^/]+)$`)
	accountID     = regexp.MustCompile(`^[0-9]{12}$`)
	ingestionID   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)
)

// status is the HTTP status QuickSight answers an error type with.
func status(code string) int {
	switch code {
	case "ResourceNotFoundException":
		return http.StatusNotFound
	case "ResourceExistsException", "LimitExceededException", "ConflictException":
		return http.StatusConflict
	case "ThrottlingException":
		return http.StatusTooManyRequests
	case "AccessDeniedException":
		return http.StatusUnauthorized
	case "InternalFailureException":
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

func writeError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code+":http://internal.amazon.com/coral/com.amazonaws.quicksight/")
	w.WriteHeader(status(code))
	json.NewEncoder(w).Encode(map[string]string{"Message": msg, "RequestId": "quicksighttest"})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op := "Unknown"
	switch r.Method {
	case http.MethodPut:
		op = "CreateIngestion"
	case http.MethodGet:
		op = "DescribeIngestion"
	}
	m := ingestionPath.FindStringSubmatch(r.URL.EscapedPath())
	if m == nil {
		op = "Unknown"
	}
	fault := s.Call(op)
	if op == "Unknown" {
		writeError(w, "UnknownOperationException", r.Method+" "+r.URL.Path)
		return
	}
	if !strings.Contains(r.Header.Get("Authorization"), "/quicksight/aws4_request") {
		writeError(w, "IncompleteSignatureException", "request not signed for quicksight")
		return
	}
	if fault != nil && !fault.Drop {
		writeError(w, fault.Code, "injected fault")
		return
	}
	account, dataset, id := unescape(m[1]), unescape(m[2]), unescape(m[3])
	var body map[string]any
	if op == "CreateIngestion" {
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			writeError(w, "InvalidParameterValueException", "content type "+ct)
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if err := json.Unmarshal(b, &body); err != nil {
			writeError(w, "InvalidParameterValueException", "body is not JSON")
			return
		}
	}
	code, out, err := s.do(op, account, dataset, id, body)
	if fault != nil && fault.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, herr := hj.Hijack(); herr == nil {
				conn.Close()
				return
			}
		}
	}
	if err != nil {
		writeError(w, err[0], err[1])
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(out)
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

func (s *Server) do(op, account, dataset, id string, body map[string]any) (int, map[string]any, *[2]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(code, format string, args ...any) (int, map[string]any, *[2]string) {
		return 0, nil, &[2]string{code, fmt.Sprintf(format, args...)}
	}
	if !accountID.MatchString(account) {
		return fail("InvalidParameterValueException", "AwsAccountId %q does not match [0-9]{12}", account)
	}
	if !ingestionID.MatchString(id) {
		return fail("InvalidParameterValueException", "IngestionId %q does not match [a-zA-Z0-9-_]{1,128}", id)
	}
	key := account + "/" + dataset
	o, ok := s.datasets[key]
	if !ok {
		return fail("ResourceNotFoundException", "DataSet %s not found in account %s", dataset, account)
	}
	arn := fmt.Sprintf("arn:aws:quicksight:us-east-1:%s:dataset/%s/ingestion/%s", account, dataset, id)
	var in *Ingestion
	for _, x := range s.ingestions[key] {
		if x.ID == id {
			in = x
		}
	}
	switch op {
	case "CreateIngestion":
		if in != nil {
			return fail("ResourceExistsException", "Ingestion %s already exists for dataset %s", id, dataset)
		}
		typ, _ := body["IngestionType"].(string)
		if typ == "" {
			typ = "FULL_REFRESH"
		}
		in = &Ingestion{ID: id, Type: typ, Status: "INITIALIZED"}
		s.ingestions[key] = append(s.ingestions[key], in)
		return http.StatusCreated, map[string]any{"Arn": arn, "IngestionId": id, "IngestionStatus": in.Status, "RequestId": "quicksighttest"}, nil
	}
	if in == nil {
		return fail("ResourceNotFoundException", "Ingestion %s not found for dataset %s", id, dataset)
	}
	// Each description moves the ingestion on: RUNNING for o.Polls
	// calls, then its outcome.
	if in.Status == "INITIALIZED" || in.Status == "RUNNING" {
		in.Status = "RUNNING"
		if in.polls >= o.Polls {
			in.Status = o.Status
		}
		in.polls++
	}
	ing := map[string]any{
		"Arn": arn, "IngestionId": id, "IngestionStatus": in.Status,
		"CreatedTime": float64(time.Now().Unix()), "RequestSource": "MANUAL", "RequestType": in.Type,
	}
	switch in.Status {
	case "COMPLETED":
		ing["RowInfo"] = map[string]any{"RowsIngested": o.Rows, "RowsDropped": 0, "TotalRowsInDataset": o.Rows}
		ing["IngestionTimeInSeconds"] = 1
	case "FAILED":
		ing["ErrorInfo"] = map[string]any{"Type": o.ErrorType, "Message": o.ErrorMessage}
	}
	return http.StatusOK, map[string]any{"Ingestion": ing, "RequestId": "quicksighttest", "Status": 200}, nil
}
