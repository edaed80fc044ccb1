package catalog_test

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/athena"
	"github.com/mallet-etl/mallet/catalog"
	"github.com/mallet-etl/mallet/catalog/gluetest"
	"github.com/mallet-etl/mallet/schema"
)

var cols = schema.Schema{
	schema.Tenant("server"),
	schema.Tenant("database"),
	schema.FromMySQL("day", "DATE", 0, 0),
	schema.FromMySQL("sends", "BIGINT", 0, 0),
	schema.FromMySQL("cost", "DECIMAL", 12, 2),
}

func table(f schema.Format, s schema.Schema) athena.Table {
	return athena.Table{
		Database:  "analytics",
		Name:      "mail_send_counts",
		Location:  "s3://analytics-bucket/crm/mail_send_counts/symlinks/",
		Format:    f,
		Schema:    s,
		FirstDate: "2026-11-01",
	}
}

func newGlue(t *testing.T) (*catalog.Glue, *gluetest.Server) {
	t.Helper()
	srv := gluetest.Start(t)
	g, err := catalog.NewGlue(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	return g, srv
}

// checkStored compares the fake's stored table with the definition `mallet
// athena ddl` prints, field by field, and with the literal values Athena
// needs, so a change on either side shows.
func checkStored(t *testing.T, srv *gluetest.Server, tb athena.Table) gluetest.Table {
	t.Helper()
	def, _, err := athena.Define(tb)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := srv.Table(def.Database, def.Name)
	if !ok {
		t.Fatalf("table %s.%s not stored", def.Database, def.Name)
	}
	if got.TableType != "EXTERNAL_TABLE" {
		t.Errorf("table type %q, want EXTERNAL_TABLE", got.TableType)
	}
	sd := got.StorageDescriptor
	if sd == nil || sd.SerdeInfo == nil {
		t.Fatalf("no storage descriptor or serde: %+v", got)
	}
	var gotCols, wantCols []string
	for _, c := range sd.Columns {
		gotCols = append(gotCols, c.Name+" "+c.Type)
	}
	for _, c := range def.Columns {
		wantCols = append(wantCols, c.Name+" "+c.Type)
	}
	if !slices.Equal(gotCols, wantCols) {
		t.Errorf("columns %q, want %q", gotCols, wantCols)
	}
	if len(got.PartitionKeys) != 1 || got.PartitionKeys[0].Name != "dt" || got.PartitionKeys[0].Type != "string" {
		t.Errorf("partition keys %+v, want dt string", got.PartitionKeys)
	}
	for _, f := range []struct{ name, got, want string }{
		{"location", sd.Location, tb.Location},
		{"input format", sd.InputFormat, "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"},
		{"output format", sd.OutputFormat, def.OutputFormat},
		{"serde", sd.SerdeInfo.SerializationLibrary, def.SerDe},
		{"projection.enabled", got.Parameters["projection.enabled"], "true"},
		{"projection.dt.range", got.Parameters["projection.dt.range"], tb.FirstDate + ",NOW+1DAYS"},
		{"storage.location.template", got.Parameters["storage.location.template"], tb.Location + "dt=${dt}/"},
		{"EXTERNAL", got.Parameters["EXTERNAL"], "TRUE"},
	} {
		if f.got != f.want {
			t.Errorf("%s %q, want %q", f.name, f.got, f.want)
		}
	}
	for _, p := range def.Properties {
		if got.Parameters[p.Key] != p.Value {
			t.Errorf("table property %s = %q, want %q", p.Key, got.Parameters[p.Key], p.Value)
		}
	}
	for _, p := range def.SerDeParams {
		if sd.SerdeInfo.Parameters[p.Key] != p.Value {
			t.Errorf("serde property %s = %q, want %q", p.Key, sd.SerdeInfo.Parameters[p.Key], p.Value)
		}
	}
	return got
}

func TestSyncCreatesThenLeavesAlone(t *testing.T) {
	for _, f := range []schema.Format{schema.Parquet, schema.CSVGzip} {
		t.Run(string(f), func(t *testing.T) {
			g, srv := newGlue(t)
			tb := table(f, cols)
			if f != schema.Parquet {
				// The view exists (made once by a person); the raw
				// table does not.
				srv.PutTable("analytics", view("mail_send_counts", "server", "database", "day", "sends", "cost", "dt"))
			}
			got, err := g.Sync(t.Context(), "mail_send_counts", tb)
			if err != nil {
				t.Fatal(err)
			}
			want := catalog.Synced{Database: "analytics", Table: "mail_send_counts", Action: catalog.Created}
			if f != schema.Parquet {
				want.Table, want.View = "mail_send_counts_raw", "mail_send_counts"
			} else {
				want.DatabaseCreated = true
			}
			if got.Database != want.Database || got.Table != want.Table || got.Action != want.Action || got.DatabaseCreated != want.DatabaseCreated || got.View != want.View {
				t.Errorf("got %+v, want %+v", got, want)
			}
			stored := checkStored(t, srv, tb)
			if f != schema.Parquet && stored.Parameters["skip.header.line.count"] != "1" {
				t.Errorf("csv table without skip.header.line.count: %v", stored.Parameters)
			}

			// An ordinary run: one read, no write, no new version.
			before := srv.AllCalls()
			got, err = g.Sync(t.Context(), "mail_send_counts", tb)
			if err != nil {
				t.Fatal(err)
			}
			if got.Action != catalog.Unchanged {
				t.Errorf("second sync: %s, want unchanged", got)
			}
			after := srv.AllCalls()
			wantCalls := 1
			if f != schema.Parquet {
				wantCalls = 2 // the raw table and the view
			}
			if d := after["GetTable"] - before["GetTable"]; d != wantCalls || sum(after)-sum(before) != wantCalls {
				t.Errorf("second sync made calls %v after %v, want %d GetTable only", after, before, wantCalls)
			}
			if again, _ := srv.Table("analytics", want.Table); again.VersionId != "1" {
				t.Errorf("version %s after an unchanged sync, want 1", again.VersionId)
			}
		})
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func view(name string, cols ...string) gluetest.Table {
	v := gluetest.Table{Name: name, TableType: "VIRTUAL_VIEW", ViewOriginalText: "/* Presto View: ... */",
		Parameters: map[string]string{"presto_view": "true"}, StorageDescriptor: &gluetest.StorageDescriptor{}}
	for _, c := range cols {
		v.StorageDescriptor.Columns = append(v.StorageDescriptor.Columns, gluetest.Column{Name: c, Type: "string"})
	}
	return v
}

func TestSyncCreatesOnlyTheTableWhenTheDatabaseExists(t *testing.T) {
	g, srv := newGlue(t)
	srv.PutTable("analytics", gluetest.Table{Name: "other"})
	got, err := g.Sync(t.Context(), "mail_send_counts", table(schema.Parquet, cols))
	if err != nil {
		t.Fatal(err)
	}
	if got.DatabaseCreated || got.Action != catalog.Created {
		t.Errorf("got %+v, want created in the existing database", got)
	}
	if n := srv.Calls("CreateDatabase"); n != 0 {
		t.Errorf("CreateDatabase called %d times, want 0", n)
	}
}

// TestSyncUpdates changes one thing at a time in the definition or in the
// catalog and checks that Sync updates the table (at its version) and
// keeps what is not mallet's.
func TestSyncUpdates(t *testing.T) {
	added := append(slices.Clone(cols), schema.FromMySQL("plan", "VARCHAR", 0, 0), schema.FromMySQL("opened_at", "DATETIME", 0, 0))
	tests := []struct {
		name   string
		change func(tb *athena.Table, stored *gluetest.Table)
		want   string // in Changes
	}{
		{"backfilled an older date", func(tb *athena.Table, _ *gluetest.Table) { tb.FirstDate = "2026-10-01" },
			`table property projection.dt.range "2026-11-01,NOW+1DAYS" → "2026-10-01,NOW+1DAYS"`},
		{"columns added (allow-add)", func(tb *athena.Table, _ *gluetest.Table) { tb.Schema = added },
			"columns added: plan, opened_at"},
		{"output moved", func(tb *athena.Table, _ *gluetest.Table) {
			tb.Location = "s3://other-bucket/crm/mail_send_counts/symlinks/"
		}, `location "s3://analytics-bucket/crm/mail_send_counts/symlinks/" → "s3://other-bucket/crm/mail_send_counts/symlinks/"`},
		{"projection turned off by hand", func(_ *athena.Table, st *gluetest.Table) { st.Parameters["projection.enabled"] = "false" },
			`table property projection.enabled "false" → "true"`},
		{"stale projection key", func(_ *athena.Table, st *gluetest.Table) { st.Parameters["projection.day.type"] = "date" },
			"table property projection.day.type removed"},
		{"input format by hand", func(_ *athena.Table, st *gluetest.Table) {
			st.StorageDescriptor.InputFormat = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
		}, `input format "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat" → "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, srv := newGlue(t)
			tb := table(schema.Parquet, cols)
			if _, err := g.Sync(t.Context(), "mail_send_counts", tb); err != nil {
				t.Fatal(err)
			}
			// A person documents the table: these must survive updates.
			stored, _ := srv.Table("analytics", "mail_send_counts")
			stored.Description = "sends per mail per day"
			stored.Parameters["comment"] = "owned by the CRM team"
			stored.StorageDescriptor.Columns[3].Comment = "mails sent"
			stored.StorageDescriptor.SerdeInfo.Parameters = map[string]string{"serialization.format": "1"}
			tt.change(&tb, &stored)
			srv.PutTable("analytics", stored)
			version := 2

			got, err := g.Sync(t.Context(), "mail_send_counts", tb)
			if err != nil {
				t.Fatal(err)
			}
			if got.Action != catalog.Updated || !slices.Contains(got.Changes, tt.want) {
				t.Errorf("got %s, want updated with %q", got, tt.want)
			}
			after := checkStored(t, srv, tb)
			if after.VersionId != "3" {
				t.Errorf("version %s, want %d+1", after.VersionId, version)
			}
			if after.Description != "sends per mail per day" || after.Parameters["comment"] != "owned by the CRM team" ||
				after.StorageDescriptor.Columns[3].Comment != "mails sent" ||
				after.StorageDescriptor.SerdeInfo.Parameters["serialization.format"] != "1" {
				t.Errorf("a person's description, comments or serde parameters were lost: %+v", after)
			}
			for k := range after.Parameters {
				if strings.HasPrefix(k, "projection.") && k != "projection.enabled" && !strings.HasPrefix(k, "projection.dt.") {
					t.Errorf("stale property %s kept", k)
				}
			}
			if n := srv.Calls("UpdateTable"); n != 1 {
				t.Errorf("UpdateTable called %d times, want 1", n)
			}
			// And the next run leaves it alone.
			if again, err := g.Sync(t.Context(), "mail_send_counts", tb); err != nil || again.Action != catalog.Unchanged {
				t.Errorf("next sync: %s, %v; want unchanged", again, err)
			}
		})
	}
}

func TestSyncNeverDropsOrRetypes(t *testing.T) {
	tests := []struct {
		name  string
		cols  schema.Schema // the definition; the catalog has cols
		alter func(st *gluetest.Table)
		want  []string
	}{
		{"column dropped from the query", cols[:4], nil, []string{"column(s) cost are not in mallet's definition"}},
		{"column retyped", append(slices.Clone(cols[:3]), schema.FromMySQL("sends", "VARCHAR", 0, 0), cols[4]), nil,
			[]string{`column "sends" is bigint, mallet's is string (retyped)`}},
		{"column moved", schema.Schema{cols[0], cols[1], cols[3], cols[2], cols[4]}, nil,
			[]string{`column 3 is "day", mallet's is "sends"`, `column 4 is "sends", mallet's is "day"`}},
		{"other partition key", cols, func(st *gluetest.Table) { st.PartitionKeys[0].Name = "day_partition" },
			[]string{"partition keys are (day_partition string), mallet's are (dt string)"}},
		{"a view in the table's place", cols, func(st *gluetest.Table) { st.TableType = "VIRTUAL_VIEW" },
			[]string{"it is a view", `DROP VIEW "analytics"."mail_send_counts"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, srv := newGlue(t)
			if _, err := g.Sync(t.Context(), "mail_send_counts", table(schema.Parquet, cols)); err != nil {
				t.Fatal(err)
			}
			if tt.alter != nil {
				st, _ := srv.Table("analytics", "mail_send_counts")
				tt.alter(&st)
				srv.PutTable("analytics", st)
			}
			before, _ := srv.Table("analytics", "mail_send_counts")
			_, err := g.Sync(t.Context(), "mail_send_counts", table(schema.Parquet, tt.cols))
			if !errors.Is(err, catalog.ErrIncompatible) {
				t.Fatalf("got %v, want ErrIncompatible", err)
			}
			for _, w := range append(tt.want, "mallet athena sync mail_send_counts") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "VIEW") && !strings.Contains(err.Error(), "DROP TABLE `analytics`.`mail_send_counts`") {
				t.Errorf("error %q does not say how to drop the table", err)
			}
			if n := srv.Calls("UpdateTable"); n != 0 {
				t.Errorf("UpdateTable called %d times, want 0", n)
			}
			if after, _ := srv.Table("analytics", "mail_send_counts"); after.VersionId != before.VersionId {
				t.Errorf("table changed from version %s to %s", before.VersionId, after.VersionId)
			}
		})
	}
}

// TestSyncConcurrentWriters makes another writer change the table between
// Sync's read and its write, or create it between Sync's read and its
// create: Sync must not overwrite the other change blindly, but read again
// and apply its own on top.
func TestSyncConcurrentWriters(t *testing.T) {
	g, srv := newGlue(t)
	tb := table(schema.Parquet, cols)

	// Create race: the table appears (as another shard's run made it)
	// after Sync found none.
	srv.Before("CreateTable", func(s *gluetest.Server) {
		s.PutTable("analytics", gluetest.Table{Name: "mail_send_counts", TableType: "EXTERNAL_TABLE",
			Parameters: map[string]string{"EXTERNAL": "TRUE"}, PartitionKeys: []gluetest.Column{{Name: "dt", Type: "string"}},
			StorageDescriptor: &gluetest.StorageDescriptor{Columns: []gluetest.Column{{Name: "server", Type: "string"}}}})
	})
	got, err := g.Sync(t.Context(), "mail_send_counts", tb)
	if err != nil {
		t.Fatal(err)
	}
	if got.Action != catalog.Updated {
		t.Errorf("after a create race: %s, want updated over the other writer's table", got)
	}
	if n := srv.Calls("CreateTable"); n != 1 {
		t.Errorf("CreateTable called %d times, want 1", n)
	}
	checkStored(t, srv, tb)

	// Update race: another writer updates between GetTable and
	// UpdateTable, so Sync's VersionId is stale.
	tb.FirstDate = "2026-10-15"
	srv.Before("UpdateTable", func(s *gluetest.Server) {
		st, _ := s.Table("analytics", "mail_send_counts")
		st.Parameters["comment"] = "written meanwhile"
		s.PutTable("analytics", st)
	})
	updates := srv.Calls("UpdateTable")
	got, err = g.Sync(t.Context(), "mail_send_counts", tb)
	if err != nil {
		t.Fatal(err)
	}
	if got.Action != catalog.Updated {
		t.Errorf("after an update race: %s, want updated", got)
	}
	if n := srv.Calls("UpdateTable") - updates; n != 2 {
		t.Errorf("UpdateTable called %d times, want 2 (one refused for its version)", n)
	}
	after := checkStored(t, srv, tb)
	if after.Parameters["comment"] != "written meanwhile" {
		t.Errorf("the other writer's change was overwritten: %v", after.Parameters)
	}

	// A writer that always wins: Sync gives up after its attempts.
	tb.FirstDate = "2026-10-01"
	var race func(s *gluetest.Server)
	race = func(s *gluetest.Server) {
		st, _ := s.Table("analytics", "mail_send_counts")
		s.PutTable("analytics", st)
		s.Before("UpdateTable", race)
	}
	srv.Before("UpdateTable", race)
	_, err = g.Sync(t.Context(), "mail_send_counts", tb)
	if err == nil || !strings.Contains(err.Error(), "ConcurrentModificationException") {
		t.Errorf("got %v, want the ConcurrentModificationException after the last attempt", err)
	}
}

func TestSyncFaults(t *testing.T) {
	catalog.FastRetries(t)
	tests := []struct {
		name    string
		op      string
		faults  []gluetest.Fault
		wantErr string // "" for success
		calls   int    // requests of op
	}{
		{"throttled twice", "GetTable", []gluetest.Fault{{Code: "ThrottlingException"}, {Code: "ThrottlingException"}}, "", 2 + 1},
		{"throttled past the retries", "GetTable", repeat(gluetest.Fault{Code: "ThrottlingException"}, 5), "ThrottlingException", 5},
		{"internal error once", "CreateTable", []gluetest.Fault{{Code: "InternalServiceException"}}, "", 2},
		{"answer lost", "CreateDatabase", []gluetest.Fault{{Drop: true}}, "", 2},
		{"access denied", "CreateDatabase", []gluetest.Fault{{Code: "AccessDeniedException"}}, "glue: create database analytics: operation error Glue: CreateDatabase", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, srv := newGlue(t)
			srv.Fail(tt.op, tt.faults...)
			_, err := g.Sync(t.Context(), "mail_send_counts", table(schema.Parquet, cols))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want success after the SDK's retries", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if n := srv.Calls(tt.op); n != tt.calls {
				t.Errorf("%s called %d times, want %d", tt.op, n, tt.calls)
			}
			if tt.wantErr == "" {
				checkStored(t, srv, table(schema.Parquet, cols))
			}
		})
	}
}

// repeat returns n copies of a fault, of either fake's kind.
func repeat[F any](f F, n int) []F {
	out := make([]F, n)
	for i := range out {
		out[i] = f
	}
	return out
}

func TestSyncDeadEndpoint(t *testing.T) {
	catalog.FastRetries(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	gluetest.Setenv(t, url)
	g, err := catalog.NewGlue(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = g.Sync(t.Context(), "mail_send_counts", table(schema.Parquet, cols))
	if err == nil || !strings.Contains(err.Error(), "glue: get table analytics.mail_send_counts") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("got %v, want a get table error saying the connection was refused", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestSyncCSVView(t *testing.T) {
	tests := []struct {
		name    string
		view    *gluetest.Table
		wantErr string
	}{
		{"missing", nil, "does not exist; Glue cannot create Athena views: run the CREATE OR REPLACE VIEW statement that mallet athena ddl mail_send_counts prints"},
		{"current", ptr(view("mail_send_counts", "server", "database", "day", "sends", "cost", "dt")), ""},
		{"lacks an added column", ptr(view("mail_send_counts", "server", "database", "day", "sends", "dt")), "it lacks column(s) cost"},
		{"a table, not a view", &gluetest.Table{Name: "mail_send_counts", TableType: "EXTERNAL_TABLE"}, "it is a EXTERNAL_TABLE, not a view"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, srv := newGlue(t)
			if tt.view != nil {
				srv.PutTable("analytics", *tt.view)
			}
			got, err := g.Sync(t.Context(), "mail_send_counts", table(schema.CSV, cols))
			if tt.wantErr == "" {
				if err != nil || got.View != "mail_send_counts" {
					t.Fatalf("got %+v, %v; want the view checked", got, err)
				}
				return
			}
			if !errors.Is(err, catalog.ErrView) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want ErrView saying %q", err, tt.wantErr)
			}
			// The raw table is in step all the same.
			if got.Action != catalog.Created {
				t.Errorf("raw table %s, want created", got)
			}
			checkStored(t, srv, table(schema.CSV, cols))
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestSyncedString(t *testing.T) {
	s := catalog.Synced{Database: "analytics", Table: "t_raw", Action: catalog.Updated, Changes: []string{"columns added: a"}, DatabaseCreated: true, View: "t"}
	want := "glue table analytics.t_raw updated: columns added: a (database created); view analytics.t current"
	if got := s.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
