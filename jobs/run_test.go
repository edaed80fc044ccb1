package jobs_test

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/schema"
)

var runDate = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// readOutput reads every file of a run into text rows: NULL as nil,
// timestamps from Parquet at millisecond precision.
func readOutput(t *testing.T, res *jobs.Result, open func(key string) []byte) (header []string, rows [][]*string) {
	t.Helper()
	for _, o := range res.Objects {
		data := open(o.Key)
		h, r := decodeFile(t, o.Key, data)
		if header == nil {
			header = h
		} else if strings.Join(h, ",") != strings.Join(header, ",") {
			t.Fatalf("%s: header %v differs from %v", o.Key, h, header)
		}
		if int64(len(r)) != o.Rows {
			t.Errorf("%s: got %d rows, the result says %d", o.Key, len(r), o.Rows)
		}
		rows = append(rows, r...)
	}
	return header, rows
}

func decodeFile(t *testing.T, key string, data []byte) ([]string, [][]*string) {
	t.Helper()
	switch {
	case strings.HasSuffix(key, ".parquet"):
		s, _, err := load.ReadParquetSchema(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		var rows [][]*string
		err = load.ReadParquetRows(bytes.NewReader(data), int64(len(data)), func(row []any) error {
			out := make([]*string, len(row))
			for i, v := range row {
				out[i] = parquetText(s[i], v)
			}
			rows = append(rows, out)
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return s.Names(), rows
	case strings.HasSuffix(key, ".csv.gz"), strings.HasSuffix(key, ".csv"):
		var r io.Reader = bytes.NewReader(data)
		if strings.HasSuffix(key, ".gz") {
			gz, err := gzipReader(r)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			r = gz
		}
		recs, err := csv.NewReader(r).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		var rows [][]*string
		for _, rec := range recs[1:] {
			out := make([]*string, len(rec))
			for i := range rec {
				if rec[i] != "" {
					out[i] = &rec[i]
				}
			}
			rows = append(rows, out)
		}
		return recs[0], rows
	}
	t.Fatalf("%s: unknown format", key)
	return nil, nil
}

func parquetText(c schema.Column, v any) *string {
	var s string
	switch v := v.(type) {
	case nil:
		return nil
	case int32:
		s = strconv.FormatInt(int64(v), 10)
	case int64:
		s = strconv.FormatInt(v, 10)
	case float32:
		s = strconv.FormatFloat(float64(v), 'g', -1, 32)
	case float64:
		s = strconv.FormatFloat(v, 'g', -1, 64)
	case time.Time:
		if c.Kind == schema.Date {
			s = v.Format(time.DateOnly)
		} else {
			s = v.Format("2006-01-02 15:04:05.000")
		}
	case []byte:
		s = string(v)
	case string:
		s = v
	default:
		s = fmt.Sprint(v)
	}
	return &s
}

// msText cuts MySQL DATETIME text to milliseconds, as Parquet keeps it.
func msText(v *string) *string {
	if v == nil {
		return nil
	}
	tm, err := time.Parse("2006-01-02 15:04:05.999999", *v)
	if err != nil {
		return v
	}
	s := tm.Format("2006-01-02 15:04:05.000")
	return &s
}

func str(v *string) string {
	if v == nil {
		return "NULL"
	}
	return strconv.Quote(*v)
}

func rowText(r []*string) string {
	parts := make([]string, len(r))
	for i, v := range r {
		parts[i] = str(v)
	}
	return strings.Join(parts, ",")
}

func dirOpener(t *testing.T, root string) func(string) []byte {
	return func(key string) []byte {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
}

// TestUnion runs the per-mail job over three registry tenants, to Parquet,
// CSV and csv.gz, and compares every value with what MariaDB returns for the
// same query in each tenant.
func TestUnion(t *testing.T) {
	t.Parallel()
	f := sharedFleet(t, 3)
	out := t.TempDir()
	cfg := writeConfig(t, f.configText(`
  mail_parquet:
    source: crm
    query: {{queries}}/mail_send_counts.sql
    output: {to: "{{out}}", format: parquet}
  mail_csv:
    source: crm
    query: {{queries}}/mail_send_counts.sql
    output: {to: "{{out}}", format: csv}
  mail_csvgz:
    source: crm
    query: {{queries}}/mail_send_counts.sql
    output: {to: "{{out}}", format: csv.gz}
`, out))
	sqlText := cfg.Jobs["mail_parquet"].SQL
	params := jobs.Params(time.Date(2026, 11, 25, 0, 0, 0, 0, cfg.Jobs["mail_parquet"].Location))
	registry := f.query(t, f.prefix+"registry", "SELECT `database`, MIN(hostname), MIN(client_name) FROM cl_mapping GROUP BY `database`", nil)
	attrs := map[string][]*string{}
	for _, r := range registry {
		attrs[*r[0]] = r[1:]
	}
	for _, job := range []string{"mail_parquet", "mail_csv", "mail_csvgz"} {
		t.Run(job, func(t *testing.T) {
			res, err := jobs.Run(t.Context(), cfg, job, jobs.Options{Date: runDate})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if got, want := len(res.Tenants), 3; got != want {
				t.Fatalf("got %d tenants, want %d (crmx_other must not match)", got, want)
			}
			header, rows := readOutput(t, res, dirOpener(t, out))
			wantHeader := []string{"server", "database", "hostname", "client_name", "mail_request_id", "from_address", "subject",
				"reservation_time", "created_at", "sent_day", "sent_count", "bounced_count", "total_cost", "all_target_count"}
			if got, want := strings.Join(header, ","), strings.Join(wantHeader, ","); got != want {
				t.Fatalf("header = %s, want %s", got, want)
			}
			var want [][]*string
			for _, db := range f.tenants {
				server, name := "db1", db
				for _, r := range f.query(t, db, sqlText, params) {
					row := append([]*string{&server, &name}, attrs[db]...)
					row = append(row, r...)
					want = append(want, row)
				}
			}
			if len(want) == 0 {
				t.Fatal("the sample data has no rows for the run date")
			}
			compareRows(t, res, rows, want, strings.HasSuffix(job, "parquet"))
			if got, want := res.Rows, int64(len(want)); got != want {
				t.Errorf("res.Rows = %d, want %d", got, want)
			}
		})
	}
}

// compareRows compares output rows with expected ones value by value; for
// Parquet, timestamps compare at millisecond precision. Parts hold tenants
// in order, but concurrent workers pack different tenants, so rows are
// compared tenant by tenant (the first two columns), each tenant's rows in
// the order the tenant returned them.
func compareRows(t *testing.T, res *jobs.Result, got, want [][]*string, parquet bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	byTenant := func(a, b []*string) int {
		return cmp.Or(strings.Compare(str(a[0]), str(b[0])), strings.Compare(str(a[1]), str(b[1])))
	}
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortStableFunc(got, byTenant)
	slices.SortStableFunc(want, byTenant)
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("row %d: got %d values, want %d", i, len(got[i]), len(want[i]))
		}
		for j := range want[i] {
			w := want[i][j]
			if parquet && res.Schema[j].Kind == schema.Timestamp {
				w = msText(w)
			}
			if !parquet && w != nil {
				// encoding/csv turns CRLF inside a quoted field into LF.
				s := strings.ReplaceAll(*w, "\r\n", "\n")
				w = &s
			}
			if str(got[i][j]) != str(w) {
				t.Errorf("row %d column %s: got %s, want %s", i, res.Schema[j].Name, str(got[i][j]), str(w))
			}
		}
	}
}

// TestAggregate sums per-day sends and cost over all tenants and compares
// with MariaDB's own GROUP BY over the union of the tenants' results.
func TestAggregate(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 3)
	out := t.TempDir()
	cfg := writeConfig(t, f.configText(`
  totals:
    source: crm_all
    query: {{queries}}/mail_send_totals.sql
    merge: aggregate
    group_by: [day, result]
    sum: [sends, cost]
    count: tenants
    output: {to: "{{out}}", format: csv}
`, out))
	// wider dates than one day, so several groups come from several tenants
	res, err := jobs.Run(t.Context(), cfg, "totals", jobs.Options{Date: runDate})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got, want := len(res.Objects), 1; got != want {
		t.Fatalf("got %d objects, want %d", got, want)
	}
	header, rows := readOutput(t, res, dirOpener(t, out))
	if got, want := strings.Join(header, ","), "day,result,sends,cost,tenants"; got != want {
		t.Fatalf("header = %s, want %s", got, want)
	}
	scratch := f.prefix + "registry"
	params := jobs.Params(time.Date(2026, 11, 25, 0, 0, 0, 0, cfg.Jobs["totals"].Location))
	q := cfg.Jobs["totals"].SQL
	f.exec(t, scratch, "CREATE TABLE res (day DATE, result VARCHAR(16), sends BIGINT, cost DECIMAL(34,2))")
	for _, db := range f.tenants {
		for _, r := range f.query(t, db, q, params) {
			f.exec(t, scratch, "INSERT INTO res VALUES (?, ?, ?, ?)", *r[0], *r[1], *r[2], *r[3])
		}
	}
	want := f.query(t, scratch, "SELECT day, result, SUM(sends), SUM(cost), COUNT(*) FROM res GROUP BY day, result ORDER BY day, result", nil)
	sort.SliceStable(want, func(i, j int) bool { return rowText(want[i]) < rowText(want[j]) })
	if len(want) < 2 {
		t.Fatalf("only %d groups: the sample data is too thin for this test", len(want))
	}
	compareRows(t, res, rows, want, false)
}

// TestAggregateMaxGroups checks that the bound on groups in memory fails
// the run with an error naming it, publishing nothing.
func TestAggregateMaxGroups(t *testing.T) {
	t.Parallel()
	f := sharedFleet(t, 2)
	out := t.TempDir()
	cfg := writeConfig(t, f.configText(`
  totals:
    source: crm_all
    query: {{queries}}/mail_send_totals.sql
    merge: aggregate
    group_by: [day, result]
    sum: [sends]
    max_groups: 1
    output: {to: "{{out}}", format: csv}
`, out))
	res, err := jobs.Run(t.Context(), cfg, "totals", jobs.Options{Date: runDate})
	if !errors.Is(err, jobs.ErrFailed) {
		t.Fatalf("got %v, want ErrFailed", err)
	}
	if !strings.Contains(err.Error(), "max_groups") {
		t.Errorf("error %q does not name max_groups", err)
	}
	if len(res.Objects) != 0 {
		t.Errorf("published %d objects, want none", len(res.Objects))
	}
}

func (f *fleet) exec(t *testing.T, database, query string, args ...any) {
	t.Helper()
	conn := f.conn(t, database)
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("exec %s: %v", query, err)
	}
}

// TestTenantDown runs over two good tenants, one on a server that refuses
// connections and one whose database was dropped, under both policies.
func TestTenantDown(t *testing.T) {
	t.Parallel()
	f := sharedFleet(t, 2)
	for _, policy := range []string{"fail", "skip"} {
		t.Run(policy, func(t *testing.T) {
			out := t.TempDir()
			text := f.configText(fmt.Sprintf(`
  logins:
    source: listed
    query: {{queries}}/daily_logins.sql
    on_tenant_error: %s
    output: {to: "{{out}}", format: csv}
`, policy), out)
			text = strings.Replace(text, "jobs:\n", fmt.Sprintf(`  listed:
    servers:
      - name: db1
        dsn: %q
      - name: down
        dsn: "root@tcp(127.0.0.1:1)/"
    tenants:
      list: [db1/%s, db1/%s, down/%s, db1/%sdropped]
jobs:
`, dsnOf(), f.tenants[0], f.tenants[1], f.tenants[0], f.prefix), 1)
			cfg := writeConfig(t, text)
			res, err := jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: runDate, Retries: -1})
			// Under fail, the first failure cancels the tenants still
			// running (or not started): they are cancelled or not run,
			// never counted as failed.
			if got := res.Failed; got < 1 || got > 2 || (policy == "skip" && got != 2) {
				t.Errorf("failed tenants = %d, want 2 (1 or 2 under fail)", got)
			}
			if got := res.Count(jobs.TenantFailed); got != res.Failed {
				t.Errorf("tenants with status failed: %d, Failed %d", got, res.Failed)
			}
			for _, tr := range res.Tenants {
				bad := tr.Server == "down" || strings.HasSuffix(tr.Database, "dropped")
				want := []string{jobs.TenantOK}
				switch {
				case bad && policy == "skip":
					want = []string{jobs.TenantFailed}
				case bad:
					want = []string{jobs.TenantFailed, jobs.TenantCancelled, jobs.TenantNotRun}
				case policy == "fail":
					want = []string{jobs.TenantOK, jobs.TenantCancelled, jobs.TenantNotRun}
				}
				if !slices.Contains(want, tr.Status) {
					t.Errorf("tenant %s/%s: status %q, want one of %q", tr.Server, tr.Database, tr.Status, want)
				}
				if bad && tr.Err == nil {
					t.Errorf("tenant %s/%s did not fail", tr.Server, tr.Database)
				}
				if bad && !strings.Contains(tr.Error, tr.Database) {
					t.Errorf("tenant error %q does not name the database", tr.Error)
				}
			}
			files, _ := filepath.Glob(filepath.Join(out, "logins", "data", "dt=2026-11-25", "*", "*", "*"))
			switch policy {
			case "fail":
				if !errors.Is(err, jobs.ErrFailed) {
					t.Fatalf("got %v, want ErrFailed", err)
				}
				if len(files) != 0 {
					t.Errorf("files published after a failed run: %v", files)
				}
			case "skip":
				if !errors.Is(err, jobs.ErrPartial) {
					t.Fatalf("got %v, want ErrPartial", err)
				}
				_, rows := readOutput(t, res, dirOpener(t, out))
				params := jobs.Params(time.Date(2026, 11, 25, 0, 0, 0, 0, cfg.Jobs["logins"].Location))
				want := len(f.query(t, f.tenants[0], cfg.Jobs["logins"].SQL, params)) + len(f.query(t, f.tenants[1], cfg.Jobs["logins"].SQL, params))
				if len(rows) != want || want == 0 {
					t.Errorf("published %d rows, want the good tenants' %d", len(rows), want)
				}
			}
			symlinks, _ := filepath.Glob(filepath.Join(out, "logins", "symlinks", "dt=2026-11-25", "*"))
			if got := len(symlinks); (policy == "fail") != (got == 0) {
				t.Errorf("policy %s: symlink manifests %v", policy, symlinks)
			}
			runs, _ := filepath.Glob(filepath.Join(out, "logins", "_mallet", "runs", "*", "*", "*"))
			if got, want := len(runs), len(symlinks); got != want {
				t.Errorf("got run manifests %v, want %d (one per published run, none for a failed one)", runs, want)
			}
		})
	}
}

// TestShardCountChange checks that a partition published with one shard
// count refuses a run with another (Athena would read both sets of
// manifests), and stays as it was.
func TestShardCountChange(t *testing.T) {
	t.Parallel()
	f := sharedFleet(t, 3)
	out := t.TempDir()
	cfg := writeConfig(t, f.configText(`
  logins:
    source: crm_all
    query: {{queries}}/daily_logins.sql
    output: {to: "{{out}}", format: csv}
`, out))
	if _, err := jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: runDate}); err != nil {
		t.Fatalf("unsharded run: %v", err)
	}
	manifest := filepath.Join(out, "logins", "symlinks", "dt=2026-11-25", "manifest")
	before, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	_, err = jobs.Run(t.Context(), cfg, "logins", jobs.Options{Date: runDate, Shard: jobs.Shard{K: 1, N: 2}})
	if !errors.Is(err, jobs.ErrFailed) || !strings.Contains(err.Error(), "published with 1 shard(s), this run has 2") {
		t.Fatalf("sharded run over an unsharded partition: got %v, want ErrFailed naming the shard counts", err)
	}
	after, err := os.ReadFile(manifest)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the partition's manifest changed (err %v)", err)
	}
	extra, _ := filepath.Glob(filepath.Join(out, "logins", "symlinks", "dt=2026-11-25", "manifest-*"))
	if len(extra) != 0 {
		t.Errorf("sharded manifests written: %v", extra)
	}
}
