// Package config reads and validates mallet's config.yaml.
//
// Parse decodes strictly (an unknown key or a wrong type is an error),
// expands ${VAR} from the environment in string values, and validates the
// whole file, reporting every problem at once with its line number. A Config
// that Parse returns is complete and can be trusted by the rest of mallet:
// it also holds what validation parsed (the tenant selector with its
// regexps and registry query, each job's query and schedule, the output
// format), so nothing downstream parses the text again.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/mallet-etl/mallet/extract"
	"github.com/mallet-etl/mallet/schema"
)

// Config is a parsed, validated config file.
type Config struct {
	Timezone string `yaml:"timezone"`
	S3       S3     `yaml:"s3"`
	// Athena holds defaults for every job's athena: key; a job's own keys
	// override them one by one. Its table, which names one job's table,
	// is refused here.
	Athena     Athena             `yaml:"athena"`
	QuickSight QuickSight         `yaml:"quicksight"`
	Sources    map[string]*Source `yaml:"sources"`
	Jobs       map[string]*Job    `yaml:"jobs"`

	// Path is the file the config was read from; query paths are relative
	// to its folder.
	Path string `yaml:"-"`
	// Location is Timezone loaded.
	Location *time.Location `yaml:"-"`
	// Notes are what an offline parse let pass (see ParseOffline): each DSN
	// left unchecked because a variable it needs is not set.
	Notes []Problem `yaml:"-"`
}

// S3 holds options for S3 outputs.
type S3 struct {
	PathStyle bool   `yaml:"path_style"` // also MALLET_S3_PATH_STYLE=true
	Region    string `yaml:"region"`
	SSE       string `yaml:"sse"` // "", AES256 or aws:kms
	KMSKeyID  string `yaml:"kms_key_id"`
}

// Source is a tenant group: databases that share one schema.
type Source struct {
	Servers     []Server `yaml:"servers"`
	Tenants     Tenants  `yaml:"tenants"`
	Concurrency int      `yaml:"concurrency"` // tenants extracted at once; default 4
	// MaxConnections caps open connections per server; default Concurrency.
	MaxConnections int `yaml:"max_connections"`
	// Columns names the tenant columns added in front of every row.
	Columns TenantColumns `yaml:"columns"`
	// QueryTimeout bounds one tenant's query; 0 means no bound. The
	// server enforces it (max_statement_time on MariaDB,
	// max_execution_time on MySQL), the client a little later.
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// TenantTimeout bounds one tenant, retries included; 0 means no bound.
	TenantTimeout time.Duration `yaml:"tenant_timeout"`

	Name string `yaml:"-"`
	// Selector is Tenants parsed: the regexps compiled, the registry
	// query checked, list entries split into server and database.
	Selector extract.Selector `yaml:"-" json:"-"`
}

// TenantColumns names the columns that say where a row came from.
type TenantColumns struct {
	Server   string `yaml:"server"`
	Database string `yaml:"database"`
}

// Server is one MySQL server. DSN is a go-sql-driver DSN without a database,
// normally "${VAR}" so the secret stays in the environment.
type Server struct {
	Name string `yaml:"name"`
	DSN  Secret `yaml:"dsn"`
	// TLS to the server: "true" (verify with the system's CAs),
	// "skip-verify", or the path of a PEM CA bundle file, relative to the
	// config file's folder (such as the RDS global bundle). Empty leaves
	// it to the DSN's own tls parameter; setting both is an error.
	TLS string `yaml:"tls"`
}

// Secret is a string that never prints.
type Secret string

// String hides the value.
func (Secret) String() string { return "[redacted]" }

// GoString hides the value from %#v.
func (Secret) GoString() string { return `"[redacted]"` }

// LogValue hides the value from log/slog, whose JSON handler would
// otherwise marshal the string itself.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalJSON hides the value from encoding/json.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// Tenants says which databases of a source are tenants: exactly one of Match,
// List and Registry.
type Tenants struct {
	// Match selects every database on every server whose name matches.
	Match string `yaml:"match"`
	// List names databases explicitly, as "server/database", or as
	// "database" when the source has one server.
	List []string `yaml:"list"`
	// Registry reads tenants from a central table.
	Registry *Registry `yaml:"registry"`
	// Exclude drops databases whose name matches, after Match/List/Registry.
	Exclude string `yaml:"exclude"`
}

// Registry is a query on one server whose rows name the tenants: columns
// `server` and `database` pick the tenant; every other column becomes an
// attribute column on that tenant's rows.
type Registry struct {
	Server string `yaml:"server"`
	Query  string `yaml:"query"`
}

// Job is one extraction.
type Job struct {
	Source        string `yaml:"source"`
	Query         string `yaml:"query"`
	Schedule      string `yaml:"schedule"`
	Timezone      string `yaml:"timezone"`
	Merge         string `yaml:"merge"` // union (default) or aggregate
	Aggregate     `yaml:",inline"`
	OnTenantError string `yaml:"on_tenant_error"` // fail (default) or skip
	Output        Output `yaml:"output"`
	// Athena names the table (and, for CSV, the view) mallet generates DDL
	// for, and whether runs keep it in the Glue Data Catalog; each key
	// defaults to the top-level athena: key, then to database "mallet",
	// table the job name, glue off.
	Athena Athena `yaml:"athena"`
	// QuickSight lists the SPICE datasets refreshed after each publish.
	QuickSight JobQuickSight `yaml:"quicksight"`
	// SchemaDrift decides what a run does when its result columns differ
	// from the previous published run's: fail (default) or allow-add.
	SchemaDrift string `yaml:"schema_drift"`
	// Mode, Cursor, Key, Lookback and LeaseTTL say how runs publish: see
	// mode.go and docs/publishing.md.
	Mode     string        `yaml:"mode"`     // snapshot (default), window or incremental
	Cursor   string        `yaml:"cursor"`   // incremental: the column runs resume from
	Key      string        `yaml:"key"`      // incremental: the row's unique key column; default Cursor
	Lookback Lookback      `yaml:"lookback"` // incremental: re-read this far behind the cursor
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// RunTimeout bounds a whole run; when it passes, the run is cancelled
	// and publishes nothing. 0 means no bound.
	RunTimeout time.Duration `yaml:"run_timeout"`
	// CatchUp is how far back a window-mode run without --date looks for
	// windows to publish: every window in it that is not committed is
	// run. 0 in the file means the default: 7 days for a daily job, 48
	// hours for an hourly one (see jobs.CatchUp).
	CatchUp time.Duration `yaml:"catch_up"`

	Name     string         `yaml:"-"`
	SQL      string         `yaml:"-"` // the query file's text
	Location *time.Location `yaml:"-"`
	// Statement is SQL checked and compiled by extract.ParseQuery: what
	// runs on every tenant.
	Statement *extract.Query `yaml:"-" json:"-"`
	// Cron is Schedule parsed, firing in Location unless the schedule names
	// its own zone (CRON_TZ=); nil when the job has no schedule.
	Cron cron.Schedule `yaml:"-" json:"-"`
}

// Aggregate says how merge: aggregate combines tenants' rows.
type Aggregate struct {
	GroupBy []string `yaml:"group_by"`
	Sum     []string `yaml:"sum"`
	Min     []string `yaml:"min"`
	Max     []string `yaml:"max"`
	// Count, when set, names an added column counting the rows in each group.
	Count string `yaml:"count"`
	// MaxGroups bounds the groups held in memory; a run that needs more
	// fails with an error naming the bound. Default 1,000,000.
	MaxGroups int `yaml:"max_groups"`
}

// DefaultMaxGroups is the default bound on aggregate groups in memory.
const DefaultMaxGroups = 1_000_000

// Athena names a job's Athena objects. Both names are Athena identifiers:
// lowercase letters, digits and underscores.
type Athena struct {
	Database string `yaml:"database"`
	Table    string `yaml:"table"`
	// Glue, when true, makes every run keep the job's table in the AWS
	// Glue Data Catalog in step with `mallet athena ddl` after its commit.
	// Nil in the file means unset (inherit); after Parse a job's Glue is
	// never nil.
	Glue *bool `yaml:"glue"`
	// FirstDate (yyyy-mm-dd) is the first date of the table's projected
	// dt range, and so the earliest date a run may publish: a partition
	// before it would be invisible to Athena. Unset means
	// DefaultFirstDate.
	FirstDate string `yaml:"first_date"`
	// First is FirstDate parsed, midnight in the job's zone.
	First time.Time `yaml:"-" json:"-"`
}

// DefaultFirstDate is the first projected date of a job that sets no
// athena.first_date: far enough back for any backfill, at the price of
// listing every day since when a query has no dt filter.
const DefaultFirstDate = "2000-01-01"

// UsesGlue reports whether runs keep the table in the Glue Data Catalog.
func (a Athena) UsesGlue() bool { return a.Glue != nil && *a.Glue }

// QuickSight holds the account-wide QuickSight settings.
type QuickSight struct {
	// AccountID is the AWS account of the QuickSight datasets (12 digits);
	// required when a job lists datasets.
	AccountID string `yaml:"account_id"`
	// Region of the datasets; empty means the SDK's default chain
	// (AWS_REGION).
	Region string `yaml:"region"`
	// Wait, when positive, makes a run wait this long for each SPICE
	// ingestion it started and report how it ended; 0 starts them only.
	Wait time.Duration `yaml:"wait"`
}

// JobQuickSight is a job's QuickSight part.
type JobQuickSight struct {
	// Datasets are the ids of the SPICE datasets to refresh (full refresh)
	// after each publish of the job.
	Datasets []string `yaml:"datasets"`
}

// Schema drift policies.
const (
	// DriftFail fails a run whose columns differ from the previous run's.
	DriftFail = "fail"
	// DriftAllowAdd accepts new columns appended after the previous run's
	// columns; any other difference fails the run.
	DriftAllowAdd = "allow-add"
)

// DefaultAthenaDatabase is the Athena database when a job names none.
const DefaultAthenaDatabase = "mallet"

// Output says where and how a job's result is written.
type Output struct {
	To     string        `yaml:"to"`
	Format schema.Format `yaml:"format"` // default parquet
	// FileSize is the output a part of a union job holds at most (default
	// 128MiB): each part packs as many whole tenants as fit. A tenant
	// larger than the spool gets parts of its own, split at FileSize.
	// FileRows, when not 0, caps a part's rows too.
	FileSize Size  `yaml:"file_size"`
	FileRows int64 `yaml:"file_rows"`
}

// Merge modes and tenant-error policies.
const (
	MergeUnion     = "union"
	MergeAggregate = "aggregate"
	OnErrorFail    = "fail"
	OnErrorSkip    = "skip"
)

// ErrInvalid is wrapped by every error Parse returns for a bad config.
var ErrInvalid = errors.New("invalid config")

// Error lists every problem found in a config file.
type Error struct {
	Path     string
	Problems []Problem
}

// Problem is one mistake in a config file.
type Problem struct {
	Line int
	Msg  string
	Hint string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config %s: %d problem(s)", e.Path, len(e.Problems))
	for _, p := range e.Problems {
		if p.Line > 0 {
			fmt.Fprintf(&b, "\n  %s:%d: %s", e.Path, p.Line, p.Msg)
		} else {
			fmt.Fprintf(&b, "\n  %s: %s", e.Path, p.Msg)
		}
		if p.Hint != "" {
			fmt.Fprintf(&b, " (hint: %s)", p.Hint)
		}
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

// Load reads and parses the config file at path.
func Load(path string) (*Config, error) {
	return loadFile(path, false)
}

// LoadOffline reads and parses the config file at path as ParseOffline does.
func LoadOffline(path string) (*Config, error) {
	return loadFile(path, true)
}

func loadFile(path string, offline bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Path: path, Problems: []Problem{{Msg: fmt.Sprintf("read: %v", unwrapPathError(err))}}}
	}
	return parse(path, data, os.LookupEnv, offline)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse parses config text. path names the file in messages and anchors
// relative query paths; lookup reads environment variables.
func Parse(path string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	return parse(path, data, lookup, false)
}

// ParseOffline parses config text for commands that never connect to a
// database (validate --offline, list --offline), such as a CI lint without
// production secrets: a server's dsn that needs an unset variable is left
// unexpanded and unchecked, and noted in Config.Notes instead of being a
// problem. Everything else is validated as by Parse. The DSNs of such a
// Config are unusable: never connect with it.
func ParseOffline(path string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	return parse(path, data, lookup, true)
}

func parse(path string, data []byte, lookup func(string) (string, bool), offline bool) (*Config, error) {
	p := &parser{path: path, lines: map[string]int{}, lookup: lookup, offline: offline, unsetDSN: map[string]bool{}}
	cfg := p.parse(data)
	if len(p.problems) > 0 {
		sort.SliceStable(p.problems, func(i, j int) bool { return p.problems[i].Line < p.problems[j].Line })
		return nil, &Error{Path: path, Problems: p.problems}
	}
	cfg.Notes = p.notes
	return cfg, nil
}

type parser struct {
	path     string
	lookup   func(string) (string, bool)
	lines    map[string]int // "jobs.x.schedule" -> line
	text     []string       // the file's lines, for syntax errors
	problems []Problem

	// offline: unset variables in DSNs are notes, and those DSNs
	// (unsetDSN, by the dotted path of their server) are not checked.
	offline  bool
	unsetDSN map[string]bool
	notes    []Problem
}

func (p *parser) addf(line int, hint, format string, args ...any) {
	p.problems = append(p.problems, Problem{Line: line, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// line returns the line of the key path, or of its nearest parent.
func (p *parser) line(path ...string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := p.lines[strings.Join(path[:n], ".")]; ok {
			return l
		}
	}
	return 0
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func (p *parser) parse(data []byte) *Config {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		p.text = strings.Split(string(data), "\n")
		p.yamlError(err)
		return nil
	}
	if len(root.Content) == 0 {
		p.addf(0, "see config.yaml in the repository for an example", "file is empty")
		return nil
	}
	// Strict pass on the text as written: unknown keys and wrong types.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var strict Config
	if err := dec.Decode(&strict); err != nil {
		p.yamlError(err)
	}
	p.index(root.Content[0], "")
	p.expand(&root, "")
	var cfg Config
	if err := root.Decode(&cfg); err != nil && len(p.problems) == 0 {
		p.yamlError(err)
	}
	if len(p.problems) > 0 {
		return nil
	}
	cfg.Path = p.path
	p.validate(&cfg)
	return &cfg
}

// yamlParserErrors are the syntax errors yaml.v3's parser (as opposed to its
// scanner) reports. It numbers their lines from 0 and everything else from
// 1, and the line is that of the block the error is in, not of the token
// that broke it.
var yamlParserErrors = []string{
	"did not find expected key",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected <document start>",
}

func (p *parser) yamlError(err error) {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			var n int
			fmt.Sscan(g[1], &n)
			msg := g[2]
			hint := ""
			if te == nil && slices.Contains(yamlParserErrors, msg) {
				n++
				hint = "in the block that starts on this line: check the indentation and brackets of the lines below it"
			}
			if te == nil && (strings.Contains(msg, "tab character") || strings.Contains(msg, "cannot start any token")) {
				n = p.tabLine(n)
			}
			if strings.Contains(msg, "not found in type") {
				msg = strings.Replace(msg, "field ", "unknown key ", 1)
				msg = msg[:strings.Index(msg, " not found in type")]
				hint = "check the spelling against the config reference in README.md"
			}
			p.addf(n, hint, "%s", msg)
			continue
		}
		p.addf(0, "", "%s", strings.TrimPrefix(m, "yaml: "))
	}
}

// tabLine returns the first line from n on indented with a tab: yaml.v3
// reports a tab in the indentation on the line where the token it was
// reading began, which for a plain value continued onto the next line is
// the line before. It returns n when there is none.
func (p *parser) tabLine(n int) int {
	for i := max(n, 1); i <= len(p.text) && i <= n+20; i++ {
		line := p.text[i-1]
		if indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]; strings.Contains(indent, "\t") {
			return i
		}
	}
	return n
}

// index records the line of every mapping key by its dotted path.
func (p *parser) index(n *yaml.Node, prefix string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := k.Value
			if prefix != "" {
				path = prefix + "." + k.Value
			}
			p.lines[path] = k.Line
			p.index(v, path)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			path := fmt.Sprintf("%s.%d", prefix, i)
			p.lines[path] = v.Line
			p.index(v, path)
		}
	}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// dsnPath matches the dotted path of a server's dsn.
var dsnPath = regexp.MustCompile(`^sources\.[^.]+\.servers\.[0-9]+\.dsn$`)

// expand replaces ${VAR} and ${VAR:-default} in every scalar value; "$${"
// escapes a literal "${". path is the node's dotted key path.
func (p *parser) expand(n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		var unset []string
		v := strings.ReplaceAll(n.Value, "$${", "\x00")
		v = envRef.ReplaceAllStringFunc(v, func(ref string) string {
			m := envRef.FindStringSubmatch(ref)
			name := m[1]
			val, ok := p.lookup(name)
			if (!ok || val == "") && m[2] != "" {
				return m[2][2:]
			}
			if !ok {
				unset = append(unset, name)
			}
			return val
		})
		switch {
		case len(unset) > 0 && p.offline && dsnPath.MatchString(path):
			// Left as written: unusable as a DSN, and so never checked.
			p.unsetDSN[strings.TrimSuffix(path, ".dsn")] = true
			for _, name := range unset {
				p.notes = append(p.notes, Problem{Line: n.Line, Msg: fmt.Sprintf("environment variable %s is not set: %s is not checked (offline)", name, path)})
			}
		default:
			for _, name := range unset {
				p.addf(n.Line, "export it, or for ECS inject it from Secrets Manager", "environment variable %s is not set", name)
			}
			n.Value = strings.ReplaceAll(v, "\x00", "${")
			if n.Tag == "!!null" || n.Tag == "!!bool" || n.Tag == "!!int" {
				n.Tag = "" // let the target type decide after expansion
			}
		}
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p.expand(n.Content[i+1], joinPath(path, n.Content[i].Value))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.expand(c, joinPath(path, strconv.Itoa(i)))
		}
	default:
		for _, c := range n.Content {
			p.expand(c, path)
		}
	}
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func (p *parser) validate(c *Config) {
	if c.Timezone == "" {
		c.Timezone = "UTC"
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		p.addf(p.line("timezone"), "use an IANA name such as Asia/Tokyo or UTC", "timezone %q: unknown time zone", c.Timezone)
		loc = time.UTC
	}
	c.Location = loc
	switch c.S3.SSE {
	case "", "AES256", "aws:kms":
	default:
		p.addf(p.line("s3", "sse"), "", "s3.sse %q: want AES256 or aws:kms", c.S3.SSE)
	}
	if c.S3.KMSKeyID != "" && c.S3.SSE != "aws:kms" {
		p.addf(p.line("s3", "kms_key_id"), "set sse: aws:kms", "s3.kms_key_id needs sse: aws:kms")
	}
	p.validateTop(c)
	if len(c.Sources) == 0 {
		p.addf(p.line("sources"), "", "no sources: declare at least one tenant group under sources:")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Sources)) {
		src := c.Sources[name]
		if src == nil {
			p.addf(p.line("sources", name), "", "source %s is empty", name)
			c.Sources[name] = &Source{Name: name}
			continue
		}
		src.Name = name
		p.validateSource(src)
	}
	if len(c.Jobs) == 0 {
		p.addf(p.line("jobs"), "", "no jobs: declare at least one job under jobs:")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Jobs)) {
		job := c.Jobs[name]
		if job == nil {
			p.addf(p.line("jobs", name), "", "job %s is empty", name)
			continue
		}
		job.Name = name
		p.validateJob(c, job)
	}
}

func (p *parser) validateSource(s *Source) {
	at := func(path ...string) int { return p.line(append([]string{"sources", s.Name}, path...)...) }
	if len(s.Servers) == 0 {
		p.addf(at("servers"), "", "source %s: no servers", s.Name)
	}
	seen := map[string]bool{}
	for i := range s.Servers {
		srv := &s.Servers[i]
		idx := fmt.Sprint(i)
		if srv.Name == "" {
			p.addf(at("servers", idx), "", "source %s: server %d has no name", s.Name, i+1)
		} else if seen[srv.Name] {
			p.addf(at("servers", idx, "name"), "", "source %s: server name %q used twice", s.Name, srv.Name)
		}
		seen[srv.Name] = true
		var dsn *mysql.Config
		switch {
		case p.unsetDSN[strings.Join([]string{"sources", s.Name, "servers", idx}, ".")]:
			// offline, and unknown: noted by expand
		case srv.DSN == "":
			p.addf(at("servers", idx, "dsn"), "for example dsn: \"${CRM_DB1_DSN}\"", "source %s: server %s has no dsn", s.Name, srv.Name)
			continue
		default:
			var err error
			if dsn, err = extract.ParseDSN(string(srv.DSN)); err != nil {
				p.addf(at("servers", idx, "dsn"), "user:pass@tcp(host:3306)/", "source %s: server %s: %v", s.Name, srv.Name, err)
			}
		}
		if srv.TLS == "false" {
			// tls: false says "no TLS" in so many words: it is off, as when
			// left out, never a CA file named "false".
			if dsn != nil && dsn.TLSConfig != "" {
				p.addf(at("servers", idx, "tls"), "remove tls= from the dsn, or tls: false", "source %s: server %s: tls is false here but set in the dsn", s.Name, srv.Name)
			}
			srv.TLS = ""
		}
		if srv.TLS != "" {
			written := srv.TLS
			switch srv.TLS {
			case "true", "skip-verify":
			default:
				if !filepath.IsAbs(srv.TLS) {
					srv.TLS = filepath.Join(filepath.Dir(p.path), srv.TLS)
				}
			}
			if _, err := extract.TLSConfig(srv.TLS); err != nil {
				msg := err.Error()
				var pe *os.PathError
				if errors.As(err, &pe) {
					msg = fmt.Sprintf("tls: CA bundle %s: %v", written, pe.Err)
				}
				p.addf(at("servers", idx, "tls"), "true, false, skip-verify or a PEM CA bundle file relative to the config file", "source %s: server %s: %s", s.Name, srv.Name, msg)
			}
			if dsn != nil && dsn.TLSConfig != "" {
				p.addf(at("servers", idx, "tls"), "remove tls= from the dsn", "source %s: server %s: tls is set both here and in the dsn", s.Name, srv.Name)
			}
		}
	}
	if s.Concurrency == 0 {
		s.Concurrency = 4
	}
	if s.Concurrency < 0 {
		p.addf(at("concurrency"), "", "source %s: concurrency must be at least 1", s.Name)
	}
	if s.MaxConnections == 0 {
		s.MaxConnections = s.Concurrency
	}
	if s.MaxConnections < 0 {
		p.addf(at("max_connections"), "", "source %s: max_connections must be at least 1", s.Name)
	}
	if s.QueryTimeout < 0 {
		p.addf(at("query_timeout"), "", "source %s: query_timeout must not be negative", s.Name)
	}
	if s.QueryTimeout > 0 && s.QueryTimeout < time.Millisecond {
		p.addf(at("query_timeout"), "for example 10m", "source %s: query_timeout %s is below the server's 1ms resolution", s.Name, s.QueryTimeout)
	}
	if s.TenantTimeout < 0 {
		p.addf(at("tenant_timeout"), "", "source %s: tenant_timeout must not be negative", s.Name)
	}
	if s.TenantTimeout > 0 && s.QueryTimeout > s.TenantTimeout {
		p.addf(at("query_timeout"), "query_timeout bounds one try, tenant_timeout all tries of a tenant", "source %s: query_timeout %s is longer than tenant_timeout %s", s.Name, s.QueryTimeout, s.TenantTimeout)
	}
	if s.Columns.Server == "" {
		s.Columns.Server = "server"
	}
	if s.Columns.Database == "" {
		s.Columns.Database = "database"
	}
	if s.Columns.Server == s.Columns.Database {
		p.addf(at("columns"), "", "source %s: the server and database columns need different names", s.Name)
	}
	t := s.Tenants
	sel := &s.Selector
	n := 0
	if t.Match != "" {
		n++
		re, err := regexp.Compile(t.Match)
		if err != nil {
			p.addf(at("tenants", "match"), "Go RE2 syntax", "source %s: tenants.match: bad regexp: %v", s.Name, err)
		}
		sel.Match = re
	}
	if t.Exclude != "" {
		re, err := regexp.Compile(t.Exclude)
		if err != nil {
			p.addf(at("tenants", "exclude"), "Go RE2 syntax", "source %s: tenants.exclude: bad regexp: %v", s.Name, err)
		}
		sel.Exclude = re
	}
	if len(t.List) > 0 {
		n++
		for i, entry := range t.List {
			server, db, ok := strings.Cut(entry, "/")
			if !ok {
				db = entry
			}
			if extract.IsSystemDatabase(db) {
				p.addf(at("tenants", "list", fmt.Sprint(i)), "list tenant databases only", "source %s: tenant %q: %s is a system schema, never a tenant", s.Name, entry, db)
			}
			if !ok {
				if len(s.Servers) != 1 {
					p.addf(at("tenants", "list", fmt.Sprint(i)), "write server/database", "source %s: tenant %q does not name its server and the source has %d servers", s.Name, entry, len(s.Servers))
					continue
				}
				sel.List = append(sel.List, extract.Tenant{Server: s.Servers[0].Name, Database: entry})
				continue
			}
			if !seen[server] {
				p.addf(at("tenants", "list", fmt.Sprint(i)), "", "source %s: tenant %q names unknown server %q", s.Name, entry, server)
			}
			if db == "" {
				p.addf(at("tenants", "list", fmt.Sprint(i)), "", "source %s: tenant %q has no database", s.Name, entry)
			}
			sel.List = append(sel.List, extract.Tenant{Server: server, Database: db})
		}
	}
	if r := t.Registry; r != nil {
		n++
		if !seen[r.Server] {
			p.addf(at("tenants", "registry", "server"), "", "source %s: registry server %q is not one of the source's servers", s.Name, r.Server)
		}
		q, err := extract.ParseQuery(r.Query)
		if err != nil {
			p.addf(at("tenants", "registry", "query"), "", "source %s: registry query: %v", s.Name, err)
		}
		sel.Registry = &extract.Registry{Server: r.Server, Query: q}
	}
	if n != 1 {
		p.addf(at("tenants"), "", "source %s: tenants needs exactly one of match, list or registry (found %d)", s.Name, n)
	}
}

func (p *parser) validateJob(c *Config, j *Job) {
	at := func(path ...string) int { return p.line(append([]string{"jobs", j.Name}, path...)...) }
	if !validName.MatchString(j.Name) {
		p.addf(at(), "letters, digits, _ and -", "job name %q is not a valid name", j.Name)
	}
	if j.Source == "" {
		p.addf(at(), "", "job %s: no source", j.Name)
	} else if _, ok := c.Sources[j.Source]; !ok {
		p.addf(at("source"), fmt.Sprintf("sources are: %s", strings.Join(slices.Sorted(maps.Keys(c.Sources)), ", ")), "job %s: unknown source %q", j.Name, j.Source)
	}
	j.Location = c.Location
	if j.Timezone != "" {
		loc, err := time.LoadLocation(j.Timezone)
		if err != nil {
			p.addf(at("timezone"), "use an IANA name such as Asia/Tokyo", "job %s: timezone %q: unknown time zone", j.Name, j.Timezone)
		} else {
			j.Location = loc
		}
	}
	if j.Query == "" {
		p.addf(at(), "", "job %s: no query file", j.Name)
	} else {
		path := j.Query
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(c.Path), path)
		}
		data, err := os.ReadFile(path)
		switch {
		case err != nil:
			p.addf(at("query"), "paths are relative to the config file's folder", "job %s: query file %s: %v", j.Name, j.Query, unwrapPathError(err))
		default:
			j.SQL = string(data)
			q, err := extract.ParseQuery(j.SQL)
			if err != nil {
				p.addf(at("query"), "", "job %s: query file %s: %v", j.Name, j.Query, err)
			} else if unknown := q.UnknownParams(Params); len(unknown) > 0 {
				p.addf(at("query"), "known parameters: :"+strings.Join(Params, ", :"), "job %s: query file %s uses unknown parameter(s) :%s", j.Name, j.Query, strings.Join(unknown, ", :"))
			}
			j.Statement = q
		}
	}
	if j.Schedule != "" {
		sched, err := cronParser.Parse(cronSpec(j))
		if err != nil {
			p.addf(at("schedule"), `five fields "min hour dom month dow", or @daily/@hourly/@every 1h`, "job %s: schedule %q: %v", j.Name, j.Schedule, err)
		}
		j.Cron = sched
	}
	switch j.Merge {
	case "":
		j.Merge = MergeUnion
	case MergeUnion, MergeAggregate:
	default:
		p.addf(at("merge"), "", "job %s: merge %q: want union or aggregate", j.Name, j.Merge)
	}
	a := j.Aggregate
	if j.Merge == MergeAggregate {
		if len(a.GroupBy) == 0 {
			p.addf(at("merge"), "list the columns to group by in group_by", "job %s: merge aggregate needs group_by", j.Name)
		}
		if len(a.Sum)+len(a.Min)+len(a.Max) == 0 && a.Count == "" {
			p.addf(at("merge"), "", "job %s: merge aggregate needs at least one of sum, min, max or count", j.Name)
		}
		switch {
		case a.MaxGroups < 0:
			p.addf(at("max_groups"), "", "job %s: max_groups must be at least 1", j.Name)
		case a.MaxGroups == 0:
			j.MaxGroups = DefaultMaxGroups
		}
		seen := map[string]string{}
		for _, list := range []struct {
			key  string
			cols []string
		}{{"group_by", a.GroupBy}, {"sum", a.Sum}, {"min", a.Min}, {"max", a.Max}, {"count", nonEmpty(a.Count)}} {
			for _, col := range list.cols {
				if prev, ok := seen[col]; ok {
					p.addf(at(list.key), "", "job %s: column %q is in both %s and %s", j.Name, col, prev, list.key)
				}
				seen[col] = list.key
			}
		}
	} else if len(a.GroupBy)+len(a.Sum)+len(a.Min)+len(a.Max) > 0 || a.Count != "" {
		p.addf(at("merge"), "set merge: aggregate", "job %s: group_by/sum/min/max/count need merge: aggregate", j.Name)
	}
	switch j.OnTenantError {
	case "":
		j.OnTenantError = OnErrorFail
	case OnErrorFail, OnErrorSkip:
	default:
		p.addf(at("on_tenant_error"), "", "job %s: on_tenant_error %q: want fail or skip", j.Name, j.OnTenantError)
	}
	if j.Output.To == "" {
		p.addf(at("output"), "s3://bucket/prefix, file:///abs/path or a relative folder", "job %s: output.to is missing", j.Name)
	} else if err := checkOutputURI(j.Output.To); err != nil {
		p.addf(at("output", "to"), "", "job %s: output.to: %v", j.Name, err)
	}
	if j.Output.Format == "" {
		j.Output.Format = schema.Parquet
	}
	if _, err := schema.ParseFormat(string(j.Output.Format)); err != nil {
		p.addf(at("output", "format"), "", "job %s: output.format: %v", j.Name, err)
	}
	if j.Output.FileSize == 0 {
		j.Output.FileSize = DefaultFileSize
	}
	if j.Output.FileRows < 0 {
		p.addf(at("output", "file_rows"), "0 means no cap", "job %s: output.file_rows must not be negative", j.Name)
	}
	if j.RunTimeout < 0 {
		p.addf(at("run_timeout"), "", "job %s: run_timeout must not be negative", j.Name)
	}
	p.validateAthena(c, j, at)
	p.validateQuickSight(c, j, at)
	p.validateMode(j, at)
}

// athenaName is what Athena accepts as a database, table or view name.
var athenaName = regexp.MustCompile(`^[a-z0-9_]{1,255}$`)

func (p *parser) validateAthena(c *Config, j *Job, at func(path ...string) int) {
	if j.Athena.Database == "" {
		j.Athena.Database = c.Athena.Database
	}
	if j.Athena.Database == "" {
		j.Athena.Database = DefaultAthenaDatabase
	}
	if j.Athena.Table == "" {
		// Athena names are lowercase and have no "-".
		j.Athena.Table = strings.ToLower(strings.ReplaceAll(j.Name, "-", "_"))
	}
	glueAt := at("athena", "glue")
	if j.Athena.FirstDate == "" {
		j.Athena.FirstDate = c.Athena.FirstDate
	}
	if j.Athena.FirstDate == "" {
		j.Athena.FirstDate = DefaultFirstDate
	}
	if d, err := time.ParseInLocation(time.DateOnly, j.Athena.FirstDate, j.Location); err != nil {
		p.addf(at("athena", "first_date"), "a date such as 2024-01-01", "job %s: athena.first_date %q is not yyyy-mm-dd", j.Name, j.Athena.FirstDate)
	} else {
		j.Athena.First = d
	}
	if j.Athena.Glue == nil {
		glueAt = p.line("athena", "glue")
		on := c.Athena.UsesGlue()
		j.Athena.Glue = &on
	}
	if j.Athena.UsesGlue() && !strings.HasPrefix(j.Output.To, "s3://") && j.Output.To != "" {
		p.addf(glueAt, "Glue tables read S3: set output.to to s3://bucket/prefix, or glue: false for this job",
			"job %s: athena.glue is on but output.to %q is not on s3://", j.Name, j.Output.To)
	}
	const hint = "Athena names use lowercase letters, digits and _"
	if !athenaName.MatchString(j.Athena.Database) {
		p.addf(at("athena", "database"), hint, "job %s: athena.database %q is not a valid Athena name", j.Name, j.Athena.Database)
	}
	if !athenaName.MatchString(j.Athena.Table) {
		p.addf(at("athena", "table"), hint, "job %s: athena.table %q is not a valid Athena name", j.Name, j.Athena.Table)
	}
	switch j.SchemaDrift {
	case "":
		j.SchemaDrift = DriftFail
	case DriftFail, DriftAllowAdd:
	default:
		p.addf(at("schema_drift"), "", "job %s: schema_drift %q: want fail or allow-add", j.Name, j.SchemaDrift)
	}
}

// accountID is an AWS account id.
var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// datasetID is what mallet accepts as a QuickSight dataset id: it goes in
// a URL path, so no slash, space or control character.
var datasetID = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// validateTop checks the top-level athena and quicksight keys.
func (p *parser) validateTop(c *Config) {
	const hint = "Athena names use lowercase letters, digits and _"
	if c.Athena.Database != "" && !athenaName.MatchString(c.Athena.Database) {
		p.addf(p.line("athena", "database"), hint, "athena.database %q is not a valid Athena name", c.Athena.Database)
	}
	if c.Athena.Table != "" {
		p.addf(p.line("athena", "table"), "set it under jobs.NAME.athena", "athena.table names one job's table and cannot be a default for every job")
	}
	q := c.QuickSight
	if q.AccountID != "" && !accountID.MatchString(q.AccountID) {
		p.addf(p.line("quicksight", "account_id"), `quote it: account_id: "123456789012"`, "quicksight.account_id %q is not a 12-digit AWS account id", q.AccountID)
	}
	if q.Wait < 0 {
		p.addf(p.line("quicksight", "wait"), "", "quicksight.wait must not be negative")
	}
}

func (p *parser) validateQuickSight(c *Config, j *Job, at func(path ...string) int) {
	ds := j.QuickSight.Datasets
	if len(ds) > 0 && c.QuickSight.AccountID == "" {
		p.addf(at("quicksight", "datasets"), `set quicksight: {account_id: "123456789012"} at the top level`, "job %s: quicksight.datasets need quicksight.account_id", j.Name)
	}
	seen := map[string]bool{}
	for i, id := range ds {
		switch {
		case !datasetID.MatchString(id):
			p.addf(at("quicksight", "datasets", fmt.Sprint(i)), "the dataset id from the dataset's ARN or the QuickSight API, not its name", "job %s: quicksight dataset id %q is not a dataset id", j.Name, id)
		case seen[id]:
			p.addf(at("quicksight", "datasets", fmt.Sprint(i)), "", "job %s: quicksight dataset %q listed twice", j.Name, id)
		}
		seen[id] = true
	}
}

// Params are the named parameters a query may use.
var Params = []string{"date", "window_start", "window_end", "window_start_utc", "window_end_utc", "server", "database", "cursor"}

// cronParser parses job schedules: five fields, or descriptors like @daily.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronSpec puts the job's time zone in front of its schedule, unless the
// schedule names one itself, so that "0 9 * * *" fires at 09:00 where the
// job's dates are counted.
func cronSpec(j *Job) string {
	if strings.HasPrefix(j.Schedule, "TZ=") || strings.HasPrefix(j.Schedule, "CRON_TZ=") {
		return j.Schedule
	}
	return "CRON_TZ=" + j.Location.String() + " " + j.Schedule
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*$`)

func checkOutputURI(to string) error {
	switch {
	case strings.HasPrefix(to, "s3://"):
		_, _, err := ParseS3URI(to)
		return err
	case strings.HasPrefix(to, "file://"):
		if !strings.HasPrefix(to, "file:///") {
			return fmt.Errorf("%q: a file URI needs an absolute path (file:///abs/path)", to)
		}
		return nil
	case strings.Contains(to, "://"):
		return fmt.Errorf("%q: unsupported scheme (want s3:// or file://)", to)
	}
	return nil
}

// ParseS3URI splits "s3://bucket/prefix" into its bucket and prefix (""
// for the bucket root). An error means uri is not of that form. It lives
// here, with the rest of output.to's syntax, so that checking a config
// needs no storage client.
func ParseS3URI(uri string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("s3 uri %q: want s3://bucket/prefix", uri)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" || strings.ContainsAny(bucket, "?#") {
		return "", "", fmt.Errorf("s3 uri %q: invalid bucket", uri)
	}
	return bucket, prefix, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// JobNames returns the job names in order.
func (c *Config) JobNames() []string { return slices.Sorted(maps.Keys(c.Jobs)) }
