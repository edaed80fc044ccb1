package extract

import (
	"slices"
	"testing"

	"github.com/mallet-etl/mallet/internal/testdb"
	"github.com/mallet-etl/mallet/schema"
)

// exactSink keeps the columns and a copy of every row, NULL as nil.
type exactSink struct {
	cols schema.Schema
	rows [][][]byte
}

func (s *exactSink) Start(cols schema.Schema) error { s.cols = cols; return nil }

func (s *exactSink) Write(row [][]byte) error {
	out := make([][]byte, len(row))
	for i, v := range row {
		if v != nil {
			out[i] = append([]byte{}, v...)
		}
	}
	s.rows = append(s.rows, out)
	return nil
}

// TestStreamDirect reads a table of every kind of column, its extremes,
// empty values and NULLs, from the driver itself (stream) and through
// database/sql (streamSQL, the way before, and the fallback): the columns
// and every value's bytes are the same, and NULL stays apart from empty.
func TestStreamDirect(t *testing.T) {
	db := testdb.Open(t)
	name := testdb.Prefix() + "direct"
	testdb.Create(t, db, name)
	execIn(t, db, name, `CREATE TABLE t (
		id INT PRIMARY KEY,
		c_tiny TINYINT, c_utiny TINYINT UNSIGNED, c_small SMALLINT, c_med MEDIUMINT,
		c_int INT, c_uint INT UNSIGNED, c_big BIGINT, c_ubig BIGINT UNSIGNED,
		c_float FLOAT, c_double DOUBLE, c_dec DECIMAL(12,3), c_bit BIT(12), c_year YEAR,
		c_date DATE, c_dt DATETIME(6), c_ts TIMESTAMP(3) NULL, c_time TIME(2),
		c_char CHAR(3), c_vc VARCHAR(20), c_text TEXT, c_json JSON, c_enum ENUM('a','b'),
		c_set SET('x','y'), c_bin VARBINARY(8), c_blob BLOB
	)`,
		`INSERT INTO t VALUES
		(1, -128, 255, -32768, -8388608, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
		 -1.5e-7, 1.7976931348623157e308, -123456789.125, b'101010101010', 2155,
		 '1000-01-01', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999', '-838:59:59.00',
		 'ab', 'こんにちは, "x"', 'line1\nline2', '{"a": [1, 2]}', 'b', 'x,y', x'00ff10', x'deadbeef'),
		(2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b'0', 1901, '2026-02-28', '2026-11-29 00:00:00', NULL, '00:00:00',
		 '', '', '', '[]', 'a', '', x'', x''),
		(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	srv := openServer(t, testdb.DSN(), Options{MaxConns: 1})
	for _, text := range []string{"SELECT * FROM t ORDER BY id", "SELECT * FROM t WHERE id >= :date ORDER BY id"} {
		q, err := ParseQuery(text)
		if err != nil {
			t.Fatal(err)
		}
		args, err := q.Args(map[string]any{"date": "1"})
		if err != nil {
			t.Fatal(err)
		}
		direct := &exactSink{}
		if _, err := srv.Stream(t.Context(), name, q, args, direct, Options{}); err != nil {
			t.Fatalf("stream: %v", err)
		}
		conn, err := srv.db.Connx(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(t.Context(), "USE "+QuoteIdent(name)); err != nil {
			t.Fatal(err)
		}
		// The driver runs the query itself: stream did not fall back.
		err = conn.Raw(func(dc any) error {
			rows, err := queryDriver(t.Context(), dc, q.Text(), args)
			if err != nil {
				return err
			}
			return rows.Close()
		})
		if err != nil {
			t.Fatalf("%s: the driver does not run it itself: %v", text, err)
		}
		viaSQL := &exactSink{}
		_, err = streamSQL(t.Context(), conn, q, args, viaSQL)
		conn.Close()
		if err != nil {
			t.Fatalf("streamSQL: %v", err)
		}
		if !direct.cols.Equal(viaSQL.cols) {
			t.Errorf("%s (args %v): columns\n%v\nwant (database/sql)\n%v", text, args, direct.cols, viaSQL.cols)
		}
		if len(direct.rows) != 3 || len(viaSQL.rows) != 3 {
			t.Fatalf("%s (args %v): %d and %d rows, want 3", text, args, len(direct.rows), len(viaSQL.rows))
		}
		for r := range direct.rows {
			for c := range direct.rows[r] {
				got, want := direct.rows[r][c], viaSQL.rows[r][c]
				if (got == nil) != (want == nil) || !slices.Equal(got, want) {
					t.Errorf("%s (args %v): row %d %s = %q (NULL %v), want %q (NULL %v)", text, args, r+1, direct.cols[c].Name, got, got == nil, want, want == nil)
				}
			}
		}
		if v := direct.rows[1][len(direct.cols)-1]; v == nil {
			t.Errorf("row 2 c_blob is NULL, want an empty value")
		}
	}
}
