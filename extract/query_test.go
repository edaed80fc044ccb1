package extract

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		name       string
		sql        string
		wantText   string
		wantParams []string
	}{
		{"plain", "SELECT 1", "SELECT 1", nil},
		{"trailing semicolon and comment", "SELECT 1; -- done\n", "SELECT 1", nil},
		{"params", "SELECT * FROM t WHERE d >= :window_start AND d < :window_end AND x = :date",
			"SELECT * FROM t WHERE d >= ? AND d < ? AND x = ?", []string{"window_start", "window_end", "date"}},
		{"colon in string is not a param", "SELECT '12:30', \"a:b\", `c:d` FROM t WHERE x = :date",
			"SELECT '12:30', \"a:b\", `c:d` FROM t WHERE x = ?", []string{"date"}},
		{"escaped quote in string", `SELECT 'it\'s :not', 'a''b :no' FROM t`, `SELECT 'it\'s :not', 'a''b :no' FROM t`, nil},
		{"comments hide params", "SELECT 1 # :x\n/* :y */ -- :z\n", "SELECT 1", nil},
		{"with", "WITH a AS (SELECT 1 AS n) SELECT n FROM a", "WITH a AS (SELECT 1 AS n) SELECT n FROM a", nil},
		{"parenthesised", "(SELECT 1)", "(SELECT 1)", nil},
		{"assignment operator is not a param", "SELECT @a := 1", "SELECT @a := 1", nil},
		{"replace function", "SELECT REPLACE(x, 'a', 'b') FROM t", "SELECT REPLACE(x, 'a', 'b') FROM t", nil},
		{"identifier containing a keyword", "SELECT update_time, deleted FROM t", "SELECT update_time, deleted FROM t", nil},
		{"quoted load_file column", "SELECT `load_file` FROM t", "SELECT `load_file` FROM t", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := ParseQuery(tt.sql)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tt.sql, err)
			}
			if got := q.Text(); got != tt.wantText {
				t.Errorf("Text() = %q, want %q", got, tt.wantText)
			}
			if got := q.Params(); !reflect.DeepEqual(got, tt.wantParams) {
				t.Errorf("Params() = %q, want %q", got, tt.wantParams)
			}
		})
	}
}

func TestParseQueryRejects(t *testing.T) {
	tests := []struct {
		name, sql, want string
		readOnly        bool // wraps ErrNotReadOnly
	}{
		{"empty", "  -- nothing\n", "empty query", false},
		{"second statement", "SELECT 1; DROP TABLE t", "more than one statement", true},
		{"insert", "INSERT INTO t VALUES (1)", "starts with INSERT", true},
		{"update", "UPDATE t SET a = 1", "starts with UPDATE", true},
		{"into outfile", "SELECT * FROM t INTO OUTFILE '/tmp/x'", "keyword INTO", true},
		{"into variable", "SELECT 1 INTO @x", "keyword INTO", true},
		{"for update", "SELECT * FROM t FOR UPDATE", "FOR UPDATE", true},
		{"lock in share mode", "SELECT * FROM t LOCK IN SHARE MODE", "keyword LOCK", true},
		{"for share", "SELECT * FROM t FOR SHARE", "keyword SHARE", true},
		{"with delete", "WITH a AS (SELECT 1) DELETE FROM t", "keyword DELETE", true},
		{"executable comment", "SELECT 1 /*!50000 , (SELECT 1) */", "executable comment", true},
		{"mariadb executable comment", "SELECT 1 /*M!100000 , 2 */", "executable comment", true},
		{"call", "CALL p()", "starts with CALL", true},
		{"load_file", "SELECT LOAD_FILE('/etc/passwd') AS f", "LOAD_FILE reads files", true},
		{"load_file lower case, spaced", "SELECT x FROM t WHERE load_file ('/etc/hosts') IS NOT NULL", "LOAD_FILE reads files", true},
		{"load_file behind a comment", "SELECT load_file/**/('/etc/passwd')", "LOAD_FILE reads files", true},
		{"set", "SET @a = 1", "starts with SET", true},
		{"show", "SHOW DATABASES", "starts with SHOW", true},
		{"positional placeholder", "SELECT * FROM t WHERE a = ?", "positional placeholder", false},
		{"unterminated string", "SELECT 'abc", "unterminated", false},
		{"unterminated comment", "SELECT 1 /* x", "unterminated comment", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseQuery(tt.sql)
			if err == nil {
				t.Fatalf("ParseQuery(%q) succeeded, want error containing %q", tt.sql, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %q, want it to contain %q", err, tt.want)
			}
			if got := errors.Is(err, ErrNotReadOnly); got != tt.readOnly {
				t.Errorf("errors.Is(err, ErrNotReadOnly) = %v, want %v", got, tt.readOnly)
			}
		})
	}
}

func TestQuoteIdent(t *testing.T) {
	tests := []struct{ in, want string }{
		{"crm_a", "`crm_a`"},
		{"a`b", "`a``b`"},
		{"x; DROP DATABASE y", "`x; DROP DATABASE y`"},
	}
	for _, tt := range tests {
		if got := QuoteIdent(tt.in); got != tt.want {
			t.Errorf("QuoteIdent(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	dsn := "mallet:p@ss:w0rd@tcp(db:3306)/"
	got := Redact("dial "+dsn+" failed", dsn)
	if strings.Contains(got, "p@ss:w0rd") {
		t.Errorf("Redact left the password: %q", got)
	}
}
