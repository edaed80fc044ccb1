// Package demo runs an in-memory MySQL-compatible server
// (github.com/dolthub/go-mysql-server) on a loopback port, loaded with the
// sample tenants of testdata/sample, so that "mallet demo" can run the
// shipped jobs with nothing installed but Go.
//
// The server is a test double for a real MySQL fleet, not a replacement: it
// accepts any user without a password, keeps everything in memory and
// differs from MySQL in places (see load.go for the ones the sample data
// runs into).
package demo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	gms "github.com/dolthub/go-mysql-server/sql"
	"github.com/go-sql-driver/mysql"
	"github.com/sirupsen/logrus"
)

// Options shape the demo fleet.
type Options struct {
	// Tenants is how many tenant databases (crm_t001, ...) to create;
	// zero means DefaultTenants.
	Tenants int
}

// DefaultTenants is the number of tenant databases when Options.Tenants is
// zero.
const DefaultTenants = 3

// Server is a running demo server with the sample tenants loaded.
type Server struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string
	// Databases lists the tenant databases, in order.
	Databases []string
	// Load is how long creating the databases took.
	Load time.Duration

	srv  *server.Server
	done chan error
}

// Start starts the server on a free 127.0.0.1 port and loads the sample
// tenants and the registry crm_registry.cl_mapping into it. The server runs
// until Close; ctx bounds only the loading.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Tenants <= 0 {
		o.Tenants = DefaultTenants
	}
	if o.Tenants > 999 {
		return nil, fmt.Errorf("demo: %d tenants: at most 999", o.Tenants)
	}
	// The engine logs every failed query and each connection through
	// logrus; the demo reports its own errors.
	logrus.SetOutput(io.Discard)
	// Native indexes give every table its primary key index, without which
	// the engine refuses the schema's foreign keys.
	pro := memory.NewDBProviderWithOpts(memory.NativeIndexProvider(true)).(*memory.DbProvider)
	engine := sqle.NewDefault(pro)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: listen: %w", err)
	}
	srv, err := server.NewServer(server.Config{Protocol: "tcp", Listener: l, Version: "8.0.40-demo"},
		engine, gms.NewContext, memory.NewSessionBuilder(pro), nil)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("demo: start server: %w", err)
	}
	s := &Server{Addr: l.Addr().String(), srv: srv, done: make(chan error, 1)}
	go func() { s.done <- srv.Start() }()

	start := time.Now()
	if err := s.load(ctx, o.Tenants); err != nil {
		s.Close()
		return nil, err
	}
	s.Load = time.Since(start)
	return s, nil
}

// DSN is a go-sql-driver DSN for the server, without a database.
func (s *Server) DSN() string { return "root@tcp(" + s.Addr + ")/" }

// Close stops the server and waits for it.
func (s *Server) Close() error {
	err := s.srv.Close()
	if serr := <-s.done; serr != nil && !errors.Is(serr, net.ErrClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("demo: stop server: %w", err)
	}
	return nil
}

// open connects for loading, one statement at a time.
func (s *Server) open() (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = s.Addr
	cfg.Timeout = 5 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return sql.OpenDB(conn), nil
}
