// Package extract reads rows from tenant MySQL databases: connection pools
// per server (each connection set up once: read-only, UTC, a statement
// timeout), tenant discovery, and streaming one query's result set from one
// tenant database.
package extract

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/mallet-etl/mallet/schema"
)

// SessionTimeZone is the time_zone every session runs in. TIMESTAMP values
// are stored in UTC and converted to the session zone when read; pinning the
// session to UTC makes them come out the same whatever a server's default
// is, and lets the Parquet writer store them as true UTC instants. DATETIME
// values are not converted by MySQL and come out as stored.
const SessionTimeZone = "+00:00"

// ParseDSN parses a go-sql-driver DSN and applies mallet's session settings.
// It refuses multiStatements: a query file must never carry a second
// statement. The error never contains the password.
func ParseDSN(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("bad dsn: %s", Redact(err.Error(), dsn))
	}
	if cfg.MultiStatements {
		return nil, errors.New("dsn enables multiStatements, which mallet refuses")
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	for k := range cfg.Params {
		if strings.EqualFold(k, "time_zone") || strings.EqualFold(k, "sql_mode") {
			delete(cfg.Params, k)
		}
	}
	cfg.Params["time_zone"] = "'" + SessionTimeZone + "'"
	// A query's arguments are still bound, never spliced into the text by
	// mallet; InterpolateParams only decides where the binding happens. The
	// driver escapes each value into the statement on the client (reading
	// NO_BACKSLASH_ESCAPES from the server's status flags, so the escaping
	// fits whatever sql_mode the server keeps) and sends one query, instead
	// of preparing a server-side statement first: that saves a round trip
	// per query, and the rows come back in the text protocol the encoders
	// read. The driver allows it only with a collation whose multibyte
	// characters cannot hide a quote, such as the utf8mb4 one set below.
	cfg.InterpolateParams = true
	cfg.ParseTime = false
	cfg.Loc = time.UTC
	cfg.MultiStatements = false
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	cfg.Collation = "utf8mb4_general_ci"
	if cfg.Net == "tcp" || cfg.Net == "unix" {
		cfg.DialFunc = dialBuffered
	}
	return cfg, nil
}

var dsnPassword = regexp.MustCompile(`^([^:@/]*):(.*)@`)

// Redact removes the password of dsn, and any DSN-shaped user:pass@ text,
// from s.
func Redact(s, dsn string) string {
	if m := dsnPassword.FindStringSubmatch(dsn); m != nil && m[2] != "" {
		s = strings.ReplaceAll(s, m[2], "xxxxx")
	}
	return s
}

// Server is a connection pool to one MySQL server, shared by all its tenant
// databases.
type Server struct {
	name   string
	db     *sqlx.DB
	secret string // the password, to scrub from errors
	conn   *sessionConnector
}

// flavour says which statement-timeout variable a server has.
type flavour int

const (
	flavourUnknown flavour = iota
	flavourMariaDB         // max_statement_time, in seconds
	flavourMySQL           // max_execution_time, in milliseconds (SELECT only)
)

// Options bound a server's pool.
type Options struct {
	MaxConns int // open connections at most; default 4
	// QueryTimeout bounds a tenant's query; 0 means none. Given to Open,
	// it is set once per pooled connection; a Stream with another value
	// sets it for its query and puts the pool's back after.
	QueryTimeout time.Duration
	// TLS is "" (the DSN decides), "true" (verify against the system's
	// CAs), "skip-verify" (encrypt, do not verify), or the path of a PEM
	// CA bundle file (such as the RDS global bundle) to verify against.
	TLS string
}

// ErrTimeout is wrapped by the error of a query that ran longer than
// Options.QueryTimeout, whether the server stopped it
// (max_statement_time, MAX_EXECUTION_TIME) or the client gave up first.
var ErrTimeout = errors.New("query timeout")

// TLSConfig returns the TLS settings for a server's tls option (see
// Options.TLS), nil for "". The error names a CA file that cannot be read
// or holds no certificate.
func TLSConfig(opt string) (*tls.Config, error) {
	switch opt {
	case "":
		return nil, nil
	case "true":
		return &tls.Config{MinVersion: tls.VersionTLS12}, nil
	case "skip-verify":
		return &tls.Config{InsecureSkipVerify: true}, nil //nolint:gosec // asked for by name
	}
	pem, err := os.ReadFile(opt)
	if err != nil {
		return nil, fmt.Errorf("tls: want true, skip-verify or a CA bundle file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls: CA bundle %s holds no PEM certificate", opt)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Open creates the pool for a server. It does not connect: the first query
// does, so an unreachable server fails per tenant, naming it.
func Open(name, dsn string, o Options) (*Server, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", name, err)
	}
	// The tls.Config goes on the connector itself rather than through
	// mysql.RegisterTLSConfig: no process-wide registry, no name to clash.
	// The driver fills ServerName from the DSN's host.
	tc, err := TLSConfig(o.TLS)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", name, err)
	}
	if tc != nil {
		cfg.TLS, cfg.TLSConfig, cfg.AllowFallbackToPlaintext = tc, "", false
	}
	// Checked here, though the connector is made on the first connect.
	if _, err := mysql.NewConnector(cfg); err != nil {
		return nil, fmt.Errorf("server %s: %s", name, Redact(err.Error(), dsn))
	}
	conn := &sessionConnector{base: cfg, timeout: o.QueryTimeout}
	db := sqlx.NewDb(sql.OpenDB(conn), "mysql")
	if o.MaxConns <= 0 {
		o.MaxConns = 4
	}
	db.SetMaxOpenConns(o.MaxConns)
	db.SetMaxIdleConns(o.MaxConns)
	db.SetConnMaxLifetime(10 * time.Minute)
	db.SetConnMaxIdleTime(time.Minute)
	return &Server{name: name, db: db, secret: cfg.Passwd, conn: conn}, nil
}

// Name is the server's name from the config.
func (s *Server) Name() string { return s.name }

// Close closes the pool.
func (s *Server) Close() error { return s.db.Close() }

// scrub removes the server's password from an error text. The driver does
// not put passwords in errors, but an error is cheap to clean.
func (s *Server) scrub(err error) error {
	if err == nil || s.secret == "" || !strings.Contains(err.Error(), s.secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), s.secret, "xxxxx"))
}

// systemDatabases are never tenants (see IsSystemDatabase).
var systemDatabases = map[string]bool{
	"information_schema": true, "mysql": true, "performance_schema": true, "sys": true,
}

// Databases lists the server's databases except the system ones, which a
// match never considers: a broad pattern such as ".*" must not make them
// tenants, nor fail every run for naming them.
func (s *Server) Databases(ctx context.Context) ([]string, error) {
	var names []string
	if err := s.db.SelectContext(ctx, &names, "SELECT schema_name FROM information_schema.schemata ORDER BY schema_name"); err != nil {
		return nil, fmt.Errorf("server %s: list databases: %w", s.name, s.scrub(err))
	}
	out := names[:0]
	for _, n := range names {
		if !IsSystemDatabase(n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// Sink receives one tenant's result: Start once with the result columns,
// then Write once per row. Values are MySQL's text form, nil for NULL, and
// are only valid until Write returns.
type Sink interface {
	Start(cols schema.Schema) error
	Write(row [][]byte) error
}

// Stream runs q with args in database, in a read-only session (the
// statement is a read-only transaction of its own), and streams the rows to
// sink. It returns the number of rows read. Per call it costs two round
// trips, USE and the query: the session's settings come with the pooled
// connection.
func (s *Server) Stream(ctx context.Context, database string, q *Query, args []any, sink Sink, o Options) (int64, error) {
	if err := CheckDatabaseName(database); err != nil {
		return 0, err
	}
	if o.QueryTimeout > 0 {
		// The server stops the statement at QueryTimeout; the context is a
		// backstop a little later, for a server or network that hangs.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.QueryTimeout+clientGrace(o.QueryTimeout),
			fmt.Errorf("%w of %s exceeded (no answer from the server)", ErrTimeout, o.QueryTimeout))
		defer cancel()
	}
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return 0, fmt.Errorf("connect: %w", s.timeoutErr(ctx, err))
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "USE "+QuoteIdent(database)); err != nil {
		return 0, fmt.Errorf("use database: %w", s.timeoutErr(ctx, err))
	}
	if o.QueryTimeout != s.conn.timeout {
		if err := s.setStatementTimeout(ctx, conn, o.QueryTimeout); err != nil {
			return 0, err
		}
		defer s.restoreTimeout(conn)
	}
	n, err := stream(ctx, conn, q, args, sink)
	if err != nil {
		if isServerTimeout(err) {
			return n, fmt.Errorf("%w of %s exceeded: %w", ErrTimeout, o.QueryTimeout, s.scrub(err))
		}
		return n, s.timeoutErr(ctx, err)
	}
	return n, nil
}

// clientGrace is how long after the server's statement timeout the client
// gives up on its own.
func clientGrace(d time.Duration) time.Duration { return min(max(d/10, time.Second), 30*time.Second) }

// timeoutErr scrubs err and, when ctx ended on the query timeout, says so.
func (s *Server) timeoutErr(ctx context.Context, err error) error {
	err = s.scrub(err)
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, ErrTimeout) {
		return fmt.Errorf("%w (%w)", cause, err)
	}
	return err
}

// isServerTimeout reports a statement the server stopped on its timeout:
// MariaDB's max_statement_time (1969) or MySQL's MAX_EXECUTION_TIME (3024).
func isServerTimeout(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1969 || me.Number == 3024)
}

// setStatementTimeout sets the session's statement timeout to d (0: none)
// on conn, for a call whose timeout is not the pool's.
func (s *Server) setStatementTimeout(ctx context.Context, conn *sqlx.Conn, d time.Duration) error {
	fl := s.conn.flavourOf()
	name := "max_execution_time"
	if fl == flavourMariaDB {
		name = "max_statement_time"
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION "+name+" = "+timeoutValue(fl, d)); err != nil {
		return fmt.Errorf("set statement timeout: %w", s.timeoutErr(ctx, err))
	}
	return nil
}

// restoreTimeout puts the pool's statement timeout back on conn; a
// connection that cannot take it is dropped from the pool rather than
// handed to the next tenant with another's timeout.
func (s *Server) restoreTimeout(conn *sqlx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.setStatementTimeout(ctx, conn, s.conn.timeout); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// stream runs q on conn and writes its rows to sink. The rows are read
// from the driver itself rather than through database/sql, whose Scan
// converts every value a second time (an integer the driver parsed is
// formatted back into the RawBytes) under a lock taken per row: 8 % of
// the CPU of a CSV run. A query the driver cannot run on its own
// (it asks database/sql to prepare it instead) takes database/sql's way.
func stream(ctx context.Context, conn *sqlx.Conn, q *Query, args []any, sink Sink) (n int64, err error) {
	direct := false
	err = conn.Raw(func(dc any) error {
		rows, err := queryDriver(ctx, dc, q.Text(), args)
		if errors.Is(err, driver.ErrSkip) {
			return nil
		}
		direct = true
		if err != nil {
			return fmt.Errorf("query: %w", err)
		}
		defer rows.Close()
		n, err = readDriverRows(ctx, rows, sink)
		return err
	})
	if direct {
		return n, err
	}
	return streamSQL(ctx, conn, q, args, sink)
}

// queryDriver runs query on a driver connection; driver.ErrSkip when the
// driver wants database/sql to run it.
func queryDriver(ctx context.Context, dc any, query string, args []any) (driver.Rows, error) {
	qc, ok := dc.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		if c, ok := dc.(driver.NamedValueChecker); ok {
			if err := c.CheckNamedValue(&named[i]); err != nil {
				return nil, driver.ErrSkip // database/sql converts it
			}
		} else if !driver.IsValue(a) {
			return nil, driver.ErrSkip
		}
	}
	return qc.QueryContext(ctx, query, named)
}

// readDriverRows writes the rows of a driver's result set to sink, each
// value in the text form database/sql's Scan into sql.RawBytes gives it.
func readDriverRows(ctx context.Context, rows driver.Rows, sink Sink) (int64, error) {
	names := rows.Columns()
	cols := make(schema.Schema, len(names))
	for i, name := range names {
		var typ string
		if r, ok := rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
			typ = r.ColumnTypeDatabaseTypeName(i)
		}
		var prec, scale int64
		if r, ok := rows.(driver.RowsColumnTypePrecisionScale); ok {
			prec, scale, _ = r.ColumnTypePrecisionScale(i)
		}
		cols[i] = column(name, typ, prec, scale)
	}
	if err := sink.Start(cols); err != nil {
		return 0, err
	}
	vals := make([]driver.Value, len(cols))
	row := make([][]byte, len(cols))
	text := make([][]byte, len(cols)) // numbers the driver parsed, as text again
	bits := make([][]byte, len(cols))
	var n int64
	for {
		err := rows.Next(vals)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("read rows after row %d: %w", n, err)
		}
		for i, v := range vals {
			b, err := rawText(v, &text[i])
			if err != nil {
				return n, fmt.Errorf("scan row %d: column %s: %w", n+1, names[i], err)
			}
			row[i] = normalize(cols[i], b, &bits[i])
		}
		if err := emit(ctx, sink, row, &n); err != nil {
			return n, err
		}
	}
}

// rawText returns a driver value as database/sql's Scan into sql.RawBytes
// would: bytes as they are, numbers formatted into *buf, NULL as nil.
func rawText(v driver.Value, buf *[]byte) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return v, nil
	case int64:
		*buf = strconv.AppendInt((*buf)[:0], v, 10)
	case uint64:
		*buf = strconv.AppendUint((*buf)[:0], v, 10)
	case float32:
		*buf = strconv.AppendFloat((*buf)[:0], float64(v), 'g', -1, 32)
	case float64:
		*buf = strconv.AppendFloat((*buf)[:0], v, 'g', -1, 64)
	case string:
		*buf = append((*buf)[:0], v...)
	case bool:
		*buf = strconv.AppendBool((*buf)[:0], v)
	case time.Time:
		*buf = v.AppendFormat((*buf)[:0], time.RFC3339Nano)
	default:
		return nil, fmt.Errorf("unsupported driver value %T", v)
	}
	return *buf, nil
}

// emit gives one row to the sink and counts it in *n; every 1024 rows it
// checks ctx, so a stopped stream ends even while rows keep coming.
func emit(ctx context.Context, sink Sink, row [][]byte, n *int64) error {
	if err := sink.Write(row); err != nil {
		return err
	}
	*n++
	if *n&1023 == 0 {
		return ctx.Err()
	}
	return nil
}

// streamSQL is stream through database/sql.
func streamSQL(ctx context.Context, conn *sqlx.Conn, q *Query, args []any, sink Sink) (int64, error) {
	rows, err := conn.QueryContext(ctx, q.Text(), args...)
	if err != nil {
		return 0, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return 0, fmt.Errorf("column types: %w", err)
	}
	cols := columns(types)
	if err := sink.Start(cols); err != nil {
		return 0, err
	}
	raw := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	row := make([][]byte, len(cols))
	bits := make([][]byte, len(cols))
	var n int64
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, fmt.Errorf("scan row %d: %w", n+1, err)
		}
		for i, v := range raw {
			row[i] = normalize(cols[i], v, &bits[i])
		}
		if err := emit(ctx, sink, row, &n); err != nil {
			return n, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read rows after row %d: %w", n, err)
	}
	return n, nil
}

// normalize turns a raw value into the text form the encoders expect: zero
// dates (0000-00-00, or a zero month or day) become NULL, BIT values,
// which MySQL sends as big-endian bytes, become decimal text, and text that
// is not valid UTF-8 has each invalid byte replaced by U+FFFD.
func normalize(c schema.Column, v sql.RawBytes, buf *[]byte) []byte {
	if v == nil {
		return nil
	}
	switch c.Kind {
	case schema.String:
		return ValidUTF8(v, buf)
	case schema.Date, schema.Timestamp:
		if len(v) >= 10 && (v[0] == '0' && v[1] == '0' && v[2] == '0' && v[3] == '0' ||
			v[5] == '0' && v[6] == '0' || v[8] == '0' && v[9] == '0') {
			return nil
		}
	case schema.Int64:
		if c.MySQL == "BIT" {
			var u uint64
			for _, b := range v {
				u = u<<8 | uint64(b)
			}
			*buf = strconv.AppendUint((*buf)[:0], u, 10)
			return *buf
		}
	}
	return v
}

// ValidUTF8 returns v if it is valid UTF-8, else a copy in *buf with each
// invalid byte replaced by U+FFFD. Text columns normally arrive valid: the
// session's character set is utf8mb4, so the server converts latin1, sjis
// and the rest itself (a character with no Unicode equivalent becomes '?')
// and sends undeclared bytes as a binary type. What slips through (bytes a
// server passes on as text unchecked, a registry attribute read from a
// binary column) must still not make a file that UTF-8 readers refuse
// (QuickSight, DuckDB, Parquet's STRING).
func ValidUTF8(v []byte, buf *[]byte) []byte {
	if utf8.Valid(v) {
		return v
	}
	b := (*buf)[:0]
	for len(v) > 0 {
		r, n := utf8.DecodeRune(v)
		if r == utf8.RuneError && n == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, v[:n]...)
		}
		v = v[n:]
	}
	*buf = b
	return b
}

// Transient reports whether err is worth retrying: the connection failed or
// was lost (refused, reset, killed, 2006, 2013, a bad connection), or the
// server was busy (1040 too many connections, 1203 and 1226 on
// max_user_connections, 1205 lock wait, 1213 deadlock). Permanent errors (access denied, unknown
// table, syntax, a read-only violation) are not, and neither are timeouts
// and cancellations: the same query would only run out of time again.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	// context.DeadlineExceeded is a net.Error too; it must not count.
	if errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		if me.Number == 1226 {
			// A user's own MAX_USER_CONNECTIONS is busy for now; the
			// hourly limits (max_queries_per_hour, ...) are not.
			return strings.Contains(me.Message, "max_user_connections")
		}
		switch me.Number {
		// 1927: MariaDB's "connection was killed" (KILL CONNECTION).
		case 1040, 1203, 1205, 1213, 1927, 2006, 2013, 1053, 1077, 1079, 1080, 1152, 1153, 1158, 1159, 1160, 1161:
			return true
		}
		return false
	}
	if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, errBadConn) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// Columns returns the result columns q would return in database, without
// reading any row: it runs SELECT * FROM (q) AS q LIMIT 0 in a read-only
// transaction, so the server plans the query but sends no data.
func (s *Server) Columns(ctx context.Context, database string, q *Query, args []any) (schema.Schema, error) {
	if err := CheckDatabaseName(database); err != nil {
		return nil, err
	}
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", s.scrub(err))
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "USE "+QuoteIdent(database)); err != nil {
		return nil, fmt.Errorf("use database: %w", s.scrub(err))
	}
	tx, err := conn.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("start read-only transaction: %w", s.scrub(err))
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep or lose
	// q, validated as one SELECT, is wrapped as written, its parameters
	// bound the same way; the line breaks end a trailing -- comment.
	rows, err := tx.QueryContext(ctx, "SELECT * FROM (\n"+q.Text()+"\n) AS q LIMIT 0", args...)
	if err != nil {
		return nil, fmt.Errorf("query columns: %w", s.scrub(err))
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("column types: %w", s.scrub(err))
	}
	cols := columns(types)
	return cols, s.scrub(rows.Err())
}

// columns maps the driver's column types to output columns.
func columns(types []*sql.ColumnType) schema.Schema {
	cols := make(schema.Schema, len(types))
	for i, t := range types {
		prec, scale, _ := t.DecimalSize()
		cols[i] = column(t.Name(), t.DatabaseTypeName(), prec, scale)
	}
	return cols
}

// column maps one column of a result set to an output column.
func column(name, typ string, prec, scale int64) schema.Column {
	if typ == "DECIMAL" && prec < schema.MaxDecimalPrecision {
		// The driver derives precision from the display width minus a
		// sign position and cannot tell whether the column is
		// UNSIGNED, so an unsigned DECIMAL(p,s) is reported as p-1
		// digits (go-sql-driver/mysql#1813, fixed after v1.10.1). One
		// more digit makes every value fit; a signed column is
		// declared one digit wider than it needs.
		prec++
	}
	return schema.FromMySQL(name, typ, prec, scale)
}
