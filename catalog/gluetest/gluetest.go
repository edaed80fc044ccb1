// Package gluetest runs a fake AWS Glue Data Catalog on 127.0.0.1 over
// plain HTTP, for tests of the real aws-sdk-go-v2 glue client reached
// through AWS_ENDPOINT_URL_GLUE.
//
// It speaks Glue's wire protocol, JSON 1.1: POST / with X-Amz-Target
// "AWSGlue.<Operation>" and Content-Type application/x-amz-json-1.1, a
// SigV4 Authorization header scoped to the glue service, answers as JSON,
// errors as HTTP 400 (500 for internal errors) with the error's type in
// "__type". It serves the operations mallet calls, with Glue's checks:
// GetDatabase, CreateDatabase, GetTable, CreateTable and UpdateTable
// (EntityNotFoundException, AlreadyExistsException, and
// ConcurrentModificationException for an UpdateTable whose VersionId is
// not the table's). Faults (throttling, any error code, a dropped
// connection) and hooks that change a table between two calls are
// injected per operation.
//
// It is for tests only; no mallet binary imports it.
package gluetest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/internal/awstest"
)

// Server is a running fake Glue Data Catalog. Its methods are safe for
// concurrent use.
type Server struct {
	URL string // "http://127.0.0.1:port", the endpoint

	awstest.Ops // Calls, AllCalls, Fail

	hs     *httptest.Server
	mu     sync.Mutex
	dbs    map[string]time.Time // database name -> created
	tables map[string]*table    // "db.name"
	hooks  map[string]func(*Server)
}

type table struct {
	input   map[string]any // the TableInput as sent
	db      string
	version int
	created time.Time
	updated time.Time
}

// Fault is an answer the server gives instead of serving a call.
// Its Code is answered with HTTP 500 for "InternalServiceException", 400
// otherwise.
type Fault = awstest.Fault

// NewServer starts a fake Glue on a free loopback port with no databases.
// The caller calls Close.
func NewServer() (*Server, error) {
	s := &Server{dbs: map[string]time.Time{}, tables: map[string]*table{}, hooks: map[string]func(*Server){}}
	hs, err := awstest.Serve("gluetest", s.serve)
	if err != nil {
		return nil, err
	}
	s.hs, s.URL = hs, hs.URL
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.hs.Close() }

// Start starts a fake Glue for the test t, stopped when t ends, and points
// the AWS SDK at it for the rest of t (see Setenv).
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

// Setenv points the AWS SDK's Glue client at url for the rest of t:
// AWS_ENDPOINT_URL_GLUE, dummy credentials and a region, and blanks for
// variables that would override them. Like t.Setenv, it cannot be used in
// parallel tests.
func Setenv(t testing.TB, url string) {
	t.Helper()
	awstest.Setenv(t, "GLUE", url)
}

// Before runs fn (once) before the next call of op is served, with the
// server unlocked: a test uses it to change a table between a client's
// read and its write.
func (s *Server) Before(op string, fn func(*Server)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks[op] = fn
}

// Column is a column of a stored table.
type Column struct {
	Name    string `json:"Name"`
	Type    string `json:"Type"`
	Comment string `json:"Comment,omitempty"`
}

// SerDeInfo is a stored table's SerDe.
type SerDeInfo struct {
	Name                 string            `json:"Name,omitempty"`
	SerializationLibrary string            `json:"SerializationLibrary,omitempty"`
	Parameters           map[string]string `json:"Parameters,omitempty"`
}

// StorageDescriptor is a stored table's storage.
type StorageDescriptor struct {
	Columns                []Column          `json:"Columns,omitempty"`
	Location               string            `json:"Location,omitempty"`
	InputFormat            string            `json:"InputFormat,omitempty"`
	OutputFormat           string            `json:"OutputFormat,omitempty"`
	Compressed             bool              `json:"Compressed,omitempty"`
	NumberOfBuckets        int               `json:"NumberOfBuckets,omitempty"`
	SerdeInfo              *SerDeInfo        `json:"SerdeInfo,omitempty"`
	Parameters             map[string]string `json:"Parameters,omitempty"`
	StoredAsSubDirectories bool              `json:"StoredAsSubDirectories,omitempty"`
}

// Table is a table as stored: Glue's TableInput fields, by their wire
// names, and the version.
type Table struct {
	Name              string             `json:"Name"`
	Description       string             `json:"Description,omitempty"`
	Owner             string             `json:"Owner,omitempty"`
	TableType         string             `json:"TableType,omitempty"`
	Parameters        map[string]string  `json:"Parameters,omitempty"`
	PartitionKeys     []Column           `json:"PartitionKeys,omitempty"`
	StorageDescriptor *StorageDescriptor `json:"StorageDescriptor,omitempty"`
	ViewOriginalText  string             `json:"ViewOriginalText,omitempty"`
	// VersionId is the table's version: "1" when created, one more on
	// each update.
	VersionId string `json:"-"`
}

// Table returns the stored table db.name, or false if there is none.
func (s *Server) Table(db, name string) (Table, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[strings.ToLower(db+"."+name)]
	if !ok {
		return Table{}, false
	}
	var out Table
	b, _ := json.Marshal(t.input)
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("gluetest: stored table %s.%s: %v", db, name, err))
	}
	out.VersionId = strconv.Itoa(t.version)
	return out, true
}

// Database reports whether the database exists.
func (s *Server) Database(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.dbs[strings.ToLower(name)]
	return ok
}

// PutTable stores t in db (created if missing) as another writer would,
// replacing any table of that name and moving its version on.
func (s *Server) PutTable(db string, t Table) {
	b, err := json.Marshal(t)
	if err != nil {
		panic(err)
	}
	var input map[string]any
	if err := json.Unmarshal(b, &input); err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	db = strings.ToLower(db)
	if _, ok := s.dbs[db]; !ok {
		s.dbs[db] = time.Now()
	}
	key := db + "." + strings.ToLower(t.Name)
	now := time.Now()
	if old, ok := s.tables[key]; ok {
		old.input, old.version, old.updated = input, old.version+1, now
		return
	}
	s.tables[key] = &table{input: input, db: db, version: 1, created: now, updated: now}
}

// DeleteTable removes db.name, as DROP TABLE in Athena would.
func (s *Server) DeleteTable(db, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tables, strings.ToLower(db+"."+name))
}

const target = "AWSGlue."

type apiError struct {
	status int
	code   string
	msg    string
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), target)
	fault := s.Call(op)
	s.mu.Lock()
	hook := s.hooks[op]
	delete(s.hooks, op)
	s.mu.Unlock()
	if hook != nil {
		hook(s)
	}
	if e := checkRequest(r); e != nil {
		writeError(w, *e)
		return
	}
	if fault != nil && !fault.Drop {
		status := http.StatusBadRequest
		if fault.Code == "InternalServiceException" {
			status = http.StatusInternalServerError
		}
		writeError(w, apiError{status, fault.Code, "injected fault"})
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, apiError{http.StatusBadRequest, "SerializationException", "body is not JSON: " + err.Error()})
		return
	}
	out, e := s.do(op, in)
	if fault != nil && fault.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
	}
	if e != nil {
		writeError(w, *e)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "gluetest")
	json.NewEncoder(w).Encode(out)
}

// checkRequest refuses what real Glue would: another method, content type
// or target prefix, and requests not signed for the glue service.
func checkRequest(r *http.Request) *apiError {
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		return &apiError{http.StatusBadRequest, "UnknownOperationException", r.Method + " " + r.URL.Path}
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		return &apiError{http.StatusBadRequest, "SerializationException", "content type " + r.Header.Get("Content-Type")}
	case !strings.HasPrefix(r.Header.Get("X-Amz-Target"), target):
		return &apiError{http.StatusBadRequest, "UnknownOperationException", "target " + r.Header.Get("X-Amz-Target")}
	case !strings.Contains(r.Header.Get("Authorization"), "/glue/aws4_request"):
		return &apiError{http.StatusBadRequest, "IncompleteSignatureException", "request not signed for glue"}
	}
	return nil
}

func writeError(w http.ResponseWriter, e apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "gluetest")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "Message": e.msg})
}

func str(m map[string]any, k string) string { v, _ := m[k].(string); return v }

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (s *Server) do(op string, in map[string]any) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	notFound := func(format string, args ...any) *apiError {
		return &apiError{http.StatusBadRequest, "EntityNotFoundException", fmt.Sprintf(format, args...)}
	}
	invalid := func(msg string) *apiError {
		return &apiError{http.StatusBadRequest, "InvalidInputException", msg}
	}
	switch op {
	case "GetDatabase":
		name := strings.ToLower(str(in, "Name"))
		created, ok := s.dbs[name]
		if !ok {
			return nil, notFound("Database %s not found.", name)
		}
		return map[string]any{"Database": map[string]any{"Name": name, "CreateTime": epoch(created), "CatalogId": "123456789012"}}, nil
	case "CreateDatabase":
		di, _ := in["DatabaseInput"].(map[string]any)
		name := strings.ToLower(str(di, "Name"))
		if name == "" {
			return nil, invalid("DatabaseInput.Name is required")
		}
		if _, ok := s.dbs[name]; ok {
			return nil, &apiError{http.StatusBadRequest, "AlreadyExistsException", "Database already exists."}
		}
		s.dbs[name] = time.Now()
		return map[string]any{}, nil
	case "GetTable":
		db, name := strings.ToLower(str(in, "DatabaseName")), strings.ToLower(str(in, "Name"))
		if _, ok := s.dbs[db]; !ok {
			return nil, notFound("Database %s not found.", db)
		}
		t, ok := s.tables[db+"."+name]
		if !ok {
			return nil, notFound("Table %s not found.", name)
		}
		out := maps.Clone(t.input)
		out["Name"] = name
		out["DatabaseName"] = db
		out["CatalogId"] = "123456789012"
		out["CreateTime"] = epoch(t.created)
		out["UpdateTime"] = epoch(t.updated)
		out["VersionId"] = strconv.Itoa(t.version)
		out["IsRegisteredWithLakeFormation"] = false
		return map[string]any{"Table": out}, nil
	case "CreateTable", "UpdateTable":
		db := strings.ToLower(str(in, "DatabaseName"))
		ti, _ := in["TableInput"].(map[string]any)
		name := strings.ToLower(str(ti, "Name"))
		if db == "" || name == "" {
			return nil, invalid("DatabaseName and TableInput.Name are required")
		}
		if _, ok := s.dbs[db]; !ok {
			return nil, notFound("Database %s not found.", db)
		}
		if e := checkTableInput(ti); e != nil {
			return nil, e
		}
		ti["Name"] = name
		key := db + "." + name
		t, exists := s.tables[key]
		now := time.Now()
		if op == "CreateTable" {
			if exists {
				return nil, &apiError{http.StatusBadRequest, "AlreadyExistsException", "Table already exists."}
			}
			s.tables[key] = &table{input: ti, db: db, version: 1, created: now, updated: now}
			return map[string]any{}, nil
		}
		if !exists {
			return nil, notFound("Table %s not found.", name)
		}
		if v := str(in, "VersionId"); v != "" && v != strconv.Itoa(t.version) {
			return nil, &apiError{http.StatusBadRequest, "ConcurrentModificationException",
				fmt.Sprintf("Table version %s is not the latest version %d.", v, t.version)}
		}
		t.input, t.version, t.updated = ti, t.version+1, now
		return map[string]any{}, nil
	}
	return nil, &apiError{http.StatusBadRequest, "UnknownOperationException", "gluetest does not serve " + op}
}

// checkTableInput applies Glue's limits on the fields mallet sends.
func checkTableInput(ti map[string]any) *apiError {
	sd, _ := ti["StorageDescriptor"].(map[string]any)
	cols, _ := sd["Columns"].([]any)
	keys, _ := ti["PartitionKeys"].([]any)
	for _, c := range append(cols, keys...) {
		cm, _ := c.(map[string]any)
		name, typ := str(cm, "Name"), str(cm, "Type")
		if name == "" || len(name) > 255 || len(typ) > 131072 {
			return &apiError{http.StatusBadRequest, "InvalidInputException", fmt.Sprintf("column %q: name must be 1 to 255 characters", name)}
		}
	}
	params, _ := ti["Parameters"].(map[string]any)
	for k, v := range params {
		if len(k) > 255 || len(fmt.Sprint(v)) > 512000 {
			return &apiError{http.StatusBadRequest, "InvalidInputException", "parameter " + k + " too long"}
		}
	}
	return nil
}
