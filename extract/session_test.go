package extract

import (
	"strconv"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/internal/testdb"
)

// TestSessionPerConnection counts the statements one tenant costs on a
// pooled connection (the server's Questions counter of the session) and
// checks that the session's settings came with the connection: a tenant
// is USE and its query, nothing else, and the settings hold.
func TestSessionPerConnection(t *testing.T) {
	db := testdb.Open(t)
	name := testdb.Prefix() + "sess"
	testdb.Create(t, db, name)
	execIn(t, db, name, "CREATE TABLE t (id INT)", "INSERT INTO t VALUES (1), (2)")
	tests := []struct {
		name    string
		pool    time.Duration // Options.QueryTimeout given to Open
		call    time.Duration // and to each Stream
		perCall int
	}{
		{"timeout of the pool", 90 * time.Second, 90 * time.Second, 2},
		{"no timeout", 0, 0, 2},
		// Another timeout than the pool's costs a SET before and after.
		{"timeout of the call", 90 * time.Second, 30 * time.Second, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openServer(t, testdb.DSN(), Options{MaxConns: 1, QueryTimeout: tt.pool})
			status := func(expr string) string {
				t.Helper()
				q, err := ParseQuery("SELECT " + expr)
				if err != nil {
					t.Fatal(err)
				}
				sink := &rowsSink{}
				if _, err := srv.Stream(t.Context(), name, q, nil, sink, Options{QueryTimeout: tt.pool}); err != nil {
					t.Fatal(err)
				}
				return sink.rows[0][0]
			}
			questions := func() int {
				t.Helper()
				n, err := strconv.Atoi(status("VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'QUESTIONS'"))
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			before := questions()
			const calls = 10
			q, _ := ParseQuery("SELECT id FROM t")
			for range calls {
				sink := &rowsSink{}
				if _, err := srv.Stream(t.Context(), name, q, nil, sink, Options{QueryTimeout: tt.call}); err != nil {
					t.Fatal(err)
				}
				if len(sink.rows) != 2 {
					t.Fatalf("got %d rows, want 2", len(sink.rows))
				}
			}
			after := questions()
			// The second questions() costs its own USE and query.
			if got := (after - before - 2) / calls; got != tt.perCall || (after-before-2)%calls != 0 {
				t.Errorf("statements per tenant: got %d (%d in %d calls), want %d", got, after-before-2, calls, tt.perCall)
			}
			for expr, want := range map[string]string{
				"@@session.tx_read_only": "1",
				"@@session.time_zone":    SessionTimeZone,
			} {
				if got := status(expr); got != want {
					t.Errorf("%s = %s, want %s", expr, got, want)
				}
			}
			got, err := strconv.ParseFloat(status("@@session.max_statement_time"), 64)
			if err != nil || got != tt.pool.Seconds() {
				t.Errorf("max_statement_time = %v (%v), want the pool's %v", got, err, tt.pool.Seconds())
			}
		})
	}
}

func TestVersionFlavour(t *testing.T) {
	tests := []struct {
		version string
		fl      flavour
		ro      string
	}{
		{"10.11.19-MariaDB-0+deb12u1", flavourMariaDB, "tx_read_only"},
		{"11.4.2-MariaDB", flavourMariaDB, "tx_read_only"},
		{"5.5.5-10.6.16-MariaDB-log", flavourMariaDB, "tx_read_only"},
		{"8.0.36", flavourMySQL, "transaction_read_only"},
		{"8.4.0-commercial", flavourMySQL, "transaction_read_only"},
		{"5.7.12-log", flavourMySQL, "tx_read_only"},
		{"5.7.44", flavourMySQL, "tx_read_only"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			fl, ro := versionFlavour(tt.version)
			if fl != tt.fl || ro != tt.ro {
				t.Errorf("versionFlavour(%q) = %v, %q; want %v, %q", tt.version, fl, ro, tt.fl, tt.ro)
			}
		})
	}
}
