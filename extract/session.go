package extract

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// A tenant's query needs a session that is read-only, bounded in time and
// in UTC. Setting that up per tenant cost three round trips (the timeout,
// START TRANSACTION READ ONLY, ROLLBACK) on top of USE and the query, the
// bulk of a small tenant's time. The connector below sets it up once per
// pooled connection instead, in the one SET the driver sends when it
// connects: time_zone, the session's read-only flag and the statement
// timeout. Under the read-only flag every statement in autocommit is a
// read-only transaction of its own, which is what a tenant's one SELECT
// needs: the server refuses writes with the same error (1792) as inside
// START TRANSACTION READ ONLY, and one statement reads one consistent
// snapshot.

// sessionConnector makes the pool's connections. The variable names depend
// on the server (MariaDB or MySQL), which is known only once connected, so
// the first connection asks (one query per pool) and sets its session
// itself; the connector made then sends the settings with the handshake's
// SET for every later connection.
type sessionConnector struct {
	base    *mysql.Config
	timeout time.Duration // the pool's statement timeout; 0: none

	mu      sync.Mutex
	flavour flavour
	inner   driver.Connector // with the settings; nil until flavour is known
}

var _ driver.Connector = (*sessionConnector)(nil)

func (c *sessionConnector) Driver() driver.Driver { return &mysql.MySQLDriver{} }

func (c *sessionConnector) Connect(ctx context.Context) (driver.Conn, error) {
	c.mu.Lock()
	inner := c.inner
	c.mu.Unlock()
	if inner != nil {
		return inner.Connect(ctx)
	}
	first, err := mysql.NewConnector(c.base)
	if err != nil {
		return nil, err
	}
	conn, err := first.Connect(ctx)
	if err != nil {
		return nil, err
	}
	fl, ro, err := detectFlavour(ctx, conn)
	if err == nil {
		err = execConn(ctx, conn, "SET "+sessionSettings(fl, ro, c.timeout, ", ", nil))
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	cfg := c.base.Clone()
	cfg.Params = maps.Clone(c.base.Params)
	sessionSettings(fl, ro, c.timeout, "", cfg.Params)
	next, err := mysql.NewConnector(cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c.mu.Lock()
	if c.inner == nil {
		c.flavour, c.inner = fl, next
	}
	c.mu.Unlock()
	return conn, nil
}

// flavourOf is the server's flavour, once a connection was made.
func (c *sessionConnector) flavourOf() flavour {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flavour
}

// sessionSettings are the per-connection variables for flavour fl: the
// read-only flag (variable ro) and the statement timeout d. With params it
// adds them there (for the driver's SET at connect) and returns "";
// without, it returns them joined by sep, for a SET of its own.
func sessionSettings(fl flavour, ro string, d time.Duration, sep string, params map[string]string) string {
	kv := [][2]string{{"time_zone", "'" + SessionTimeZone + "'"}, {ro, "1"}}
	if fl == flavourMariaDB {
		kv = append(kv, [2]string{"max_statement_time", timeoutValue(fl, d)})
	} else {
		kv = append(kv, [2]string{"max_execution_time", timeoutValue(fl, d)})
	}
	if params != nil {
		for _, p := range kv {
			params[p[0]] = p[1]
		}
		return ""
	}
	parts := make([]string, len(kv))
	for i, p := range kv {
		parts[i] = "SESSION " + p[0] + " = " + p[1]
	}
	return strings.Join(parts, sep)
}

// timeoutValue is d as the flavour's timeout variable takes it: MariaDB's
// max_statement_time in seconds, MySQL's max_execution_time in
// milliseconds; 0 means none in both.
func timeoutValue(fl flavour, d time.Duration) string {
	if fl == flavourMariaDB {
		return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// detectFlavour asks a fresh connection for the server's version, and
// returns its flavour and the name of its read-only session variable.
func detectFlavour(ctx context.Context, conn driver.Conn) (flavour, string, error) {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return flavourUnknown, "", errors.New("server version: the driver cannot query")
	}
	rows, err := q.QueryContext(ctx, "SELECT VERSION()", nil)
	if err != nil {
		return flavourUnknown, "", fmt.Errorf("server version: %w", err)
	}
	defer rows.Close()
	v := make([]driver.Value, 1)
	if err := rows.Next(v); err != nil && !errors.Is(err, io.EOF) {
		return flavourUnknown, "", fmt.Errorf("server version: %w", err)
	}
	var version string
	switch x := v[0].(type) {
	case []byte:
		version = string(x)
	case string:
		version = x
	}
	fl, ro := versionFlavour(version)
	return fl, ro, nil
}

// versionFlavour reads a VERSION() text: MariaDB and MySQL before 8.0 name
// the session's read-only flag tx_read_only; MySQL 8.0 removed that name
// for transaction_read_only (which 5.7 has only from 5.7.20, and Aurora
// MySQL 2, a 5.7.12, not at all).
func versionFlavour(version string) (flavour, string) {
	if strings.Contains(strings.ToLower(version), "mariadb") {
		return flavourMariaDB, "tx_read_only"
	}
	major, _, _ := strings.Cut(version, ".")
	if n, err := strconv.Atoi(major); err == nil && n >= 8 {
		return flavourMySQL, "transaction_read_only"
	}
	return flavourMySQL, "tx_read_only"
}

func execConn(ctx context.Context, conn driver.Conn, stmt string) error {
	e, ok := conn.(driver.ExecerContext)
	if !ok {
		return errors.New("session settings: the driver cannot execute")
	}
	if _, err := e.ExecContext(ctx, stmt, nil); err != nil {
		return fmt.Errorf("session settings: %w", err)
	}
	return nil
}
