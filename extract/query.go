package extract

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Query is a validated read-only statement with its named parameters
// replaced by placeholders.
type Query struct {
	text   string   // the statement with ? for each parameter
	params []string // parameter names, in placeholder order
}

// ErrNotReadOnly is wrapped by ParseQuery's errors for statements that could
// write or lock.
var ErrNotReadOnly = errors.New("not a single read-only SELECT")

// forbidden are keywords that have no place in a read-only SELECT: writes,
// DDL, locking reads, SELECT ... INTO, procedure calls, and LOAD_FILE,
// which reads a file of the database server's (only the FILE privilege
// stops it otherwise).
var forbidden = map[string]bool{
	"INSERT": true, "UPDATE": true, "DELETE": true, "CREATE": true, "DROP": true,
	"ALTER": true, "TRUNCATE": true, "GRANT": true, "REVOKE": true, "RENAME": true,
	"CALL": true, "LOAD": true, "HANDLER": true, "LOCK": true, "UNLOCK": true,
	"INTO": true, "OUTFILE": true, "DUMPFILE": true, "SHARE": true, "PREPARE": true,
	"EXECUTE": true, "DEALLOCATE": true, "FLUSH": true, "KILL": true, "SHUTDOWN": true,
	"INSTALL": true, "UNINSTALL": true, "ANALYZE": true, "OPTIMIZE": true, "REPAIR": true,
	"LOAD_FILE": true,
}

// ParseQuery checks that sql is exactly one SELECT or WITH statement (a
// trailing semicolon is allowed) and compiles its :name parameters. Strings,
// quoted identifiers and comments are skipped, so "':x'" is not a parameter.
// Executable comments (/*! ... */) are rejected: MySQL runs their content.
func ParseQuery(sql string) (*Query, error) {
	var (
		out    strings.Builder
		params []string
		first  string
		words  []string
	)
	i, n := 0, len(sql)
	for i < n {
		c := sql[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j, err := skipQuoted(sql, i)
			if err != nil {
				return nil, err
			}
			out.WriteString(sql[i:j])
			i = j
		case c == '#' || (c == '-' && i+2 < n && sql[i+1] == '-' && (sql[i+2] == ' ' || sql[i+2] == '\t' || sql[i+2] == '\n' || sql[i+2] == '\r')) || (c == '-' && i+2 == n && sql[i+1] == '-'):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				j = n - i
			}
			out.WriteByte(' ')
			i += j
		case c == '/' && i+1 < n && sql[i+1] == '*':
			if i+2 < n && (sql[i+2] == '!' || (sql[i+2] == 'M' && i+3 < n && sql[i+3] == '!')) {
				return nil, fmt.Errorf("%w: executable comment /*! ... */ at offset %d", ErrNotReadOnly, i)
			}
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return nil, fmt.Errorf("unterminated comment at offset %d", i)
			}
			out.WriteByte(' ')
			i += j + 4
		case c == ':' && i+1 < n && isIdentStart(sql[i+1]) && (i == 0 || sql[i-1] != ':'):
			j := i + 1
			for j < n && isIdent(sql[j]) {
				j++
			}
			params = append(params, sql[i+1:j])
			out.WriteByte('?')
			i = j
		case c == '?':
			return nil, fmt.Errorf("positional placeholder ? at offset %d: use named parameters such as :date", i)
		case c == ';':
			rest := strings.TrimSpace(stripComments(sql[i+1:]))
			if rest != "" {
				return nil, fmt.Errorf("%w: more than one statement (text after ';' at offset %d)", ErrNotReadOnly, i)
			}
			i = n
		case isIdentStart(c):
			j := i
			for j < n && isIdent(sql[j]) {
				j++
			}
			w := strings.ToUpper(sql[i:j])
			if first == "" {
				first = w
			}
			words = append(words, w)
			out.WriteString(sql[i:j])
			i = j
		default:
			if first == "" && c != '(' && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				first = string(c)
			}
			out.WriteByte(c)
			i++
		}
	}
	if first == "" {
		return nil, fmt.Errorf("empty query")
	}
	if first != "SELECT" && first != "WITH" {
		return nil, fmt.Errorf("%w: statement starts with %s", ErrNotReadOnly, first)
	}
	for k, w := range words {
		if forbidden[w] {
			if w == "UPDATE" && k > 0 && words[k-1] == "FOR" {
				return nil, fmt.Errorf("%w: FOR UPDATE takes locks", ErrNotReadOnly)
			}
			if w == "LOAD_FILE" {
				return nil, fmt.Errorf("%w: LOAD_FILE reads files on the database server (a column of that name: quote it with backticks)", ErrNotReadOnly)
			}
			return nil, fmt.Errorf("%w: keyword %s is not allowed", ErrNotReadOnly, w)
		}
	}
	if first == "WITH" && !slices.Contains(words, "SELECT") {
		return nil, fmt.Errorf("%w: WITH without SELECT", ErrNotReadOnly)
	}
	return &Query{text: strings.TrimSpace(out.String()), params: params}, nil
}

// stripComments removes comments from a statement tail.
func stripComments(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case s[i] == '#' || strings.HasPrefix(s[i:], "--"):
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				return b.String()
			}
			i += j
		case strings.HasPrefix(s[i:], "/*"):
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return b.String() + s[i:]
			}
			i += j + 4
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

// skipQuoted returns the offset just past the quoted string or identifier
// starting at i. Backslash escapes apply in strings, doubled quotes in all.
func skipQuoted(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if q != '`' {
				j++
			}
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated %c at offset %d", q, i)
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdent(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') || c == '$' }

// Text returns the statement with ? placeholders.
func (q *Query) Text() string { return q.text }

// Params returns the parameter names in placeholder order (repeats kept).
func (q *Query) Params() []string { return q.params }

// UnknownParams returns the parameters the query uses that are not in known,
// sorted and without repeats.
func (q *Query) UnknownParams(known []string) []string {
	set := map[string]bool{}
	for _, k := range known {
		set[k] = true
	}
	var out []string
	seen := map[string]bool{}
	for _, p := range q.params {
		if !set[p] && !seen[p] {
			out = append(out, p)
			seen[p] = true
		}
	}
	sort.Strings(out)
	return out
}

// Args returns the query's arguments in placeholder order.
func (q *Query) Args(values map[string]any) ([]any, error) {
	args := make([]any, len(q.params))
	for i, p := range q.params {
		v, ok := values[p]
		if !ok {
			return nil, fmt.Errorf("parameter :%s has no value", p)
		}
		args[i] = v
	}
	return args, nil
}

// QuoteIdent quotes a MySQL identifier with backticks, doubling any backtick
// inside, so that any name (even "x; DROP DATABASE y") stays one identifier.
func QuoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// CheckDatabaseName rejects names MySQL cannot have: empty, longer than 64
// characters, with a NUL, or ending in a space.
func CheckDatabaseName(name string) error {
	switch {
	case name == "":
		return errors.New("empty database name")
	case len([]rune(name)) > 64:
		return fmt.Errorf("database name %q is longer than 64 characters", name)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("database name %q contains NUL", name)
	case strings.HasSuffix(name, " "):
		return fmt.Errorf("database name %q ends with a space", name)
	}
	return nil
}
