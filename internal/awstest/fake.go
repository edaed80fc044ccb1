package awstest

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
)

// Fault is what a fake answers one call with instead of serving it.
type Fault struct {
	// Code is the service's error type ("ThrottlingException",
	// "AccessDeniedException", ...), answered with the service's status
	// for it.
	Code string
	// Drop serves the call, then closes the connection without an answer,
	// as a lost response would.
	Drop bool
}

// Ops counts a fake's calls per operation and hands out the faults
// queued for them. The zero value is ready; it is safe for concurrent use.
type Ops struct {
	mu     sync.Mutex
	calls  map[string]int
	faults map[string][]Fault
}

// Calls returns how many calls of the operation op the fake has received,
// faults included.
func (o *Ops) Calls(op string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls[op]
}

// AllCalls returns the number of calls per operation.
func (o *Ops) AllCalls() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.calls)
}

// Fail makes the next calls of op answer with the faults, one call each,
// in order.
func (o *Ops) Fail(op string, faults ...Fault) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.faults == nil {
		o.faults = map[string][]Fault{}
	}
	o.faults[op] = append(o.faults[op], faults...)
}

// Call counts one call of op and returns the fault queued for it, if any.
func (o *Ops) Call(op string) *Fault {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.calls == nil {
		o.calls = map[string]int{}
	}
	o.calls[op]++
	f := o.faults[op]
	if len(f) == 0 {
		return nil
	}
	o.faults[op] = f[1:]
	return &f[0]
}

// Serve starts an HTTP server for h on a free loopback port; name prefixes
// its error. The caller closes the server.
func Serve(name string, h http.HandlerFunc) (*httptest.Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	hs.Start()
	return hs, nil
}
