package extract

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"database/sql/driver"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/schema"
)

// rowsSink collects a stream's rows as text, NULL as "NULL".
type rowsSink struct {
	cols schema.Schema
	rows [][]string
	// onRow, when set, runs after each row.
	onRow func(n int)
}

func (s *rowsSink) Start(cols schema.Schema) error { s.cols = cols; return nil }

func (s *rowsSink) Write(row [][]byte) error {
	out := make([]string, len(row))
	for i, v := range row {
		if v == nil {
			out[i] = "NULL"
		} else {
			out[i] = string(v)
		}
	}
	s.rows = append(s.rows, out)
	if s.onRow != nil {
		s.onRow(len(s.rows))
	}
	return nil
}

// userDSN returns the test server's DSN for another user.
func userDSN(t *testing.T, user, pass string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(testdb.DSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = user, pass
	return cfg.FormatDSN()
}

// createUser creates a user for the test, dropped when it ends; opts go
// after IDENTIFIED BY (e.g. "WITH MAX_USER_CONNECTIONS 2").
func createUser(t *testing.T, db *sql.DB, user, pass, opts string, grants ...string) {
	t.Helper()
	testdb.Exec(t, db, fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user))
	testdb.Exec(t, db, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s' %s", user, pass, opts))
	t.Cleanup(func() {
		if _, err := db.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)); err != nil {
			t.Logf("drop user %s: %v", user, err)
		}
	})
	for _, g := range grants {
		testdb.Exec(t, db, fmt.Sprintf("GRANT %s TO '%s'@'%%'", g, user))
	}
}

// execIn runs statements in database on one connection.
func execIn(t *testing.T, db *sql.DB, database string, stmts ...string) {
	t.Helper()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range append([]string{"USE " + QuoteIdent(database)}, stmts...) {
		if _, err := conn.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func count(t *testing.T, db *sql.DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func openServer(t *testing.T, dsn string, o Options) *Server {
	t.Helper()
	srv, err := Open("db1", dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// TestReadOnlyLayers runs writing statements that skip ParseQuery (layer
// 1) and checks that the read-only session (layer 2), the driver
// without multiStatements (layer 3) and a SELECT-only grant (the
// least-privilege user the README documents) each stop them: no row
// changes, no table goes.
func TestReadOnlyLayers(t *testing.T) {
	db := testdb.Open(t)
	prefix := testdb.Prefix()
	name := prefix + "ro"
	testdb.Create(t, db, name)
	execIn(t, db, name,
		"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))",
		"INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
		"CREATE TABLE audit (n INT)",
		"CREATE FUNCTION f() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO audit VALUES (1); RETURN 1; END",
	)
	user := prefix + "sel"
	createUser(t, db, user, "pw-sel", "", "SELECT ON "+QuoteIdent(name)+".*")
	root := openServer(t, testdb.DSN(), Options{})
	ro := openServer(t, userDSN(t, user, "pw-sel"), Options{})
	outfile := filepath.Join(os.TempDir(), prefix+"outfile.txt")
	t.Cleanup(func() { os.Remove(outfile) })

	tests := []struct {
		name  string
		srv   *Server
		query string
		want  string // in the error
	}{
		{"insert", root, "INSERT INTO t VALUES (9, 'x')", "READ ONLY"},
		{"update", root, "UPDATE t SET v = 'x'", "READ ONLY"},
		{"delete", root, "DELETE FROM t", "READ ONLY"},
		{"for update", root, "SELECT * FROM t FOR UPDATE", "READ ONLY"},
		{"writing function", root, "SELECT f()", "READ ONLY"},
		{"second statement", root, "SELECT 1; DELETE FROM t", "1064"},
		// The session is read-only, not just a transaction in it: DDL,
		// which would commit a transaction implicitly and run, is refused
		// too, whatever the grant.
		{"drop", root, "DROP TABLE t", "READ ONLY"},
		{"drop as select-only user", ro, "DROP TABLE t", "READ ONLY"},
		{"outfile as select-only user", ro, "SELECT * FROM t INTO OUTFILE '" + outfile + "'", "1227"},
		{"writing function as select-only user", ro, "SELECT f()", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &Query{text: tt.query}
			_, err := tt.srv.Stream(t.Context(), name, q, nil, &rowsSink{}, Options{})
			if err == nil {
				t.Fatalf("%s: got no error, want one", tt.query)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
			if Transient(err) {
				t.Errorf("%v is transient, want permanent", err)
			}
			if got := count(t, db, "SELECT COUNT(*) FROM "+QuoteIdent(name)+".t WHERE v IN ('a','b','c')"); got != 3 {
				t.Errorf("t has %d original rows, want 3", got)
			}
			if got := count(t, db, "SELECT COUNT(*) FROM "+QuoteIdent(name)+".t"); got != 3 {
				t.Errorf("t has %d rows, want 3", got)
			}
			if got := count(t, db, "SELECT COUNT(*) FROM "+QuoteIdent(name)+".audit"); got != 0 {
				t.Errorf("audit has %d rows, want 0", got)
			}
		})
	}
	if _, err := os.Stat(outfile); err == nil {
		t.Errorf("%s was written", outfile)
	}
}

// TestTransient classifies the errors a fleet produces: connection and
// busy-server errors are retried, the rest fail at once.
func TestTransient(t *testing.T) {
	_, refused := net.Dial("tcp", "127.0.0.1:1")
	if refused == nil {
		t.Fatal("127.0.0.1:1 accepts connections")
	}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	my := func(n uint16) error { return fmt.Errorf("query: %w", &mysql.MySQLError{Number: n}) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("connect: %w", refused), true},
		{"connection reset", reset, true},
		{"1040 too many connections", my(1040), true},
		{"1203 max_user_connections", my(1203), true},
		{"1226 user's max_user_connections", &mysql.MySQLError{Number: 1226, Message: "User 'u' has exceeded the 'max_user_connections' resource (current value: 2)"}, true},
		{"1226 max_queries_per_hour", &mysql.MySQLError{Number: 1226, Message: "User 'u' has exceeded the 'max_queries_per_hour' resource (current value: 2)"}, false},
		{"1205 lock wait timeout", my(1205), true},
		{"1213 deadlock", my(1213), true},
		{"1927 connection killed", my(1927), true},
		{"2006 server gone", my(2006), true},
		{"2013 lost connection", my(2013), true},
		{"driver.ErrBadConn", fmt.Errorf("x: %w", driver.ErrBadConn), true},
		{"mysql.ErrInvalidConn", fmt.Errorf("x: %w", mysql.ErrInvalidConn), true},
		{"1045 access denied", my(1045), false},
		{"1698 access denied", my(1698), false},
		{"1146 unknown table", my(1146), false},
		{"1064 syntax", my(1064), false},
		{"1792 read only", my(1792), false},
		{"1969 max_statement_time", my(1969), false},
		{"3024 max_execution_time", my(3024), false},
		{"query timeout", fmt.Errorf("%w of 1s exceeded", ErrTimeout), false},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Transient(tt.err); got != tt.want {
				t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestPermanentFromServer checks real server errors are permanent.
func TestPermanentFromServer(t *testing.T) {
	db := testdb.Open(t)
	prefix := testdb.Prefix()
	name := prefix + "perm"
	testdb.Create(t, db, name)
	srv := openServer(t, testdb.DSN(), Options{})
	bad := openServer(t, userDSN(t, prefix+"nobody", "wrong"), Options{})
	for _, tt := range []struct {
		name  string
		srv   *Server
		q     string
		codes []string // any of them
	}{
		{"unknown table", srv, "SELECT * FROM missing", []string{"1146"}},
		{"syntax", srv, "SELECT FROM WHERE", []string{"1064"}},
		// MariaDB answers an unknown user with 1045 or, depending on the
		// authentication exchange, 1698.
		{"access denied", bad, "SELECT 1", []string{"1045", "1698"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.srv.Stream(t.Context(), name, &Query{text: tt.q}, nil, &rowsSink{}, Options{})
			if err == nil || !slices.ContainsFunc(tt.codes, func(c string) bool { return strings.Contains(err.Error(), "Error "+c) }) {
				t.Fatalf("got %v, want error %s", err, strings.Join(tt.codes, " or "))
			}
			if Transient(err) {
				t.Errorf("%v is transient, want permanent", err)
			}
		})
	}
}

// TestKillMidStream kills mallet's connection while rows arrive: the
// error must be one that the run retries.
func TestKillMidStream(t *testing.T) {
	db := testdb.Open(t)
	name := testdb.Prefix() + "kill"
	testdb.Create(t, db, name)
	srv := openServer(t, testdb.DSN(), Options{})
	tag := "kill-" + name
	// 200 rows of 2 KB, 10 ms apart: rows reach the client in batches
	// while the statement still runs.
	q, err := ParseQuery("SELECT '" + tag + "' AS tag, seq, REPEAT('x', 2000) AS pad, SLEEP(0.01) AS s FROM seq_1_to_200")
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	killed := make(chan error, 1)
	sink := &rowsSink{onRow: func(int) {
		once.Do(func() { killed <- killSession(t, db, tag) })
	}}
	start := time.Now()
	n, err := srv.Stream(t.Context(), name, q, nil, sink, Options{})
	if kerr := <-killed; kerr != nil {
		t.Fatal(kerr)
	}
	if err == nil {
		t.Fatalf("stream read %d rows and succeeded, want an error after KILL", n)
	}
	if n >= 200 {
		t.Errorf("read all %d rows: the kill came too late", n)
	}
	if !Transient(err) {
		t.Errorf("error after KILL CONNECTION %v (%T) is not transient", err, errors.Unwrap(err))
	}
	t.Logf("after %d rows in %s: %v", n, time.Since(start).Round(time.Millisecond), err)
}

// killSession kills the connection running a query that contains tag.
func killSession(t *testing.T, db *sql.DB, tag string) error {
	var id int64
	err := db.QueryRow("SELECT id FROM information_schema.processlist WHERE info LIKE ? AND info NOT LIKE '%processlist%'", "%"+tag+"%").Scan(&id)
	if err != nil {
		return fmt.Errorf("find session: %w", err)
	}
	_, err = db.Exec(fmt.Sprintf("KILL CONNECTION %d", id))
	return err
}

// TestQueryTimeoutLockedTable holds a write lock on a table longer than
// the query timeout: the server stops the statement on time, and the error
// says it was the timeout.
func TestQueryTimeoutLockedTable(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault test that waits out timeouts: not in -short")
	}
	db := testdb.Open(t)
	name := testdb.Prefix() + "lock"
	testdb.Create(t, db, name)
	execIn(t, db, name, "CREATE TABLE t (id INT)", "INSERT INTO t VALUES (1)")
	lock, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	for _, s := range []string{"USE " + QuoteIdent(name), "LOCK TABLES t WRITE"} {
		if _, err := lock.ExecContext(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	defer lock.ExecContext(context.Background(), "UNLOCK TABLES") //nolint:errcheck

	srv := openServer(t, testdb.DSN(), Options{})
	q, _ := ParseQuery("SELECT id FROM t")
	start := time.Now()
	_, err = srv.Stream(t.Context(), name, q, nil, &rowsSink{}, Options{QueryTimeout: time.Second})
	took := time.Since(start)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if Transient(err) {
		t.Errorf("timeout %v is transient", err)
	}
	if took > 3*time.Second {
		t.Errorf("took %s, want about the 1s timeout", took)
	}
	t.Logf("%s: %v", took.Round(time.Millisecond), err)

	// The pooled connection keeps no timeout for the next tenant.
	q, _ = ParseQuery("SELECT @@max_statement_time")
	sink := &rowsSink{}
	if _, err := srv.Stream(t.Context(), name, q, nil, sink, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := sink.rows[0][0]; got != "0.000000" && got != "0" {
		t.Errorf("max_statement_time after a run without timeout = %s, want 0", got)
	}
}

// TestMaxConns runs more streams at once than the user may open
// connections: the pool's cap keeps them all within the limit.
func TestMaxConns(t *testing.T) {
	db := testdb.Open(t)
	prefix := testdb.Prefix()
	name := prefix + "conns"
	testdb.Create(t, db, name)
	user := prefix + "cap"
	createUser(t, db, user, "pw-cap", "WITH MAX_USER_CONNECTIONS 2", "SELECT ON "+QuoteIdent(name)+".*")
	q, _ := ParseQuery("SELECT SLEEP(0.2) AS s")
	for _, tt := range []struct {
		conns   int
		wantErr bool
	}{{2, false}, {6, true}} {
		t.Run(fmt.Sprintf("max %d", tt.conns), func(t *testing.T) {
			srv := openServer(t, userDSN(t, user, "pw-cap"), Options{MaxConns: tt.conns})
			var wg sync.WaitGroup
			errs := make(chan error, 6)
			for range 6 {
				wg.Go(func() {
					_, err := srv.Stream(t.Context(), name, q, nil, &rowsSink{}, Options{})
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			var failed []error
			for err := range errs {
				if err != nil {
					failed = append(failed, err)
				}
			}
			if tt.wantErr != (len(failed) > 0) {
				t.Fatalf("max_connections %d: errors %v", tt.conns, failed)
			}
			for _, err := range failed {
				// 1226 for the user's own limit, 1203 for the server's
				// max_user_connections.
				if !strings.Contains(err.Error(), "max_user_connections") || !Transient(err) {
					t.Errorf("got %v, want a transient max_user_connections error", err)
				}
			}
		})
	}
}

// TestTLS checks the tls option: a CA file must hold a certificate, and a
// server that cannot do TLS is refused rather than used in plain text.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	writeCA(t, ca)
	for _, tt := range []struct{ opt, err string }{
		{"true", ""}, {"skip-verify", ""}, {ca, ""},
		{filepath.Join(dir, "missing.pem"), "no such file"},
		{garbage, "holds no PEM certificate"},
	} {
		_, err := TLSConfig(tt.opt)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("TLSConfig(%s) = %v, want error %q", tt.opt, err, tt.err)
		}
	}

	db := testdb.Open(t)
	var haveSSL string
	if err := db.QueryRow("SELECT @@have_ssl").Scan(&haveSSL); err != nil {
		t.Fatalf("have_ssl: %v", err)
	}
	name := testdb.Prefix() + "tls"
	testdb.Create(t, db, name)
	q, _ := ParseQuery("SELECT 1")
	for _, opt := range []string{"true", "skip-verify", ca} {
		srv := openServer(t, testdb.DSN(), Options{TLS: opt})
		_, err := srv.Stream(t.Context(), name, q, nil, &rowsSink{}, Options{})
		switch {
		case haveSSL != "YES" && err == nil:
			t.Errorf("tls %s: the server has no TLS (have_ssl=%s), but the query ran", opt, haveSSL)
		case haveSSL != "YES" && !strings.Contains(err.Error(), "TLS"):
			t.Errorf("tls %s: got %v, want an error about TLS", opt, err)
		case haveSSL == "YES" && opt == "skip-verify" && err != nil:
			t.Errorf("tls skip-verify: %v", err)
		case haveSSL == "YES" && opt == ca && err == nil:
			t.Errorf("tls %s: a server certificate not signed by the test CA was accepted", opt)
		}
	}
}

// writeCA writes a self-signed CA certificate in PEM to path.
func writeCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mallet test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
