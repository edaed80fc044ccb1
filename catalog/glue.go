package catalog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/mallet-etl/mallet/athena"
)

// Errors of Sync that no retry mends: they need a person, and their
// message says what to do.
var (
	// ErrIncompatible: the catalog's table differs from mallet's
	// definition in a way mallet never changes on its own: a column
	// dropped, retyped, renamed or moved, other partition keys, or a view
	// where the table should be.
	ErrIncompatible = errors.New("the catalog table needs a person")
	// ErrView: a CSV job's typed view is missing or lacks columns. Athena
	// views are created by running SQL in Athena, which Glue cannot do.
	ErrView = errors.New("the typed view needs a person")
)

// Table types in the Glue Data Catalog.
const (
	externalTable = "EXTERNAL_TABLE"
	virtualView   = "VIRTUAL_VIEW"
)

// updateAttempts bounds the read-compare-write rounds of one Sync when
// other writers change the table in between.
const updateAttempts = 3

// Glue keeps tables of the Glue Data Catalog of its credentials' account.
type Glue struct {
	client *glue.Client
}

// NewGlue returns a Glue over the SDK's default chain; region, when not
// empty, overrides the chain's region. It does not contact AWS; an error
// means the SDK config could not be loaded or names no region.
func NewGlue(ctx context.Context, region string) (*Glue, error) {
	cfg, err := loadAWS(ctx, region)
	if err != nil {
		return nil, fmt.Errorf("glue: %w", err)
	}
	return &Glue{client: glue.NewFromConfig(cfg)}, nil
}

// Synced says what Sync did.
type Synced struct {
	Database string
	Table    string // the external table (for CSV the raw table)
	// DatabaseCreated: the database did not exist and was created.
	DatabaseCreated bool
	// Action is "unchanged", "created" or "updated".
	Action string
	// Changes lists what an update changed, one item per difference.
	Changes []string
	// View is the typed view a CSV job's table has ("" for Parquet),
	// checked to exist with the definition's columns.
	View string
}

// Actions of Synced.
const (
	Unchanged = "unchanged"
	Created   = "created"
	Updated   = "updated"
)

// String sums up s in one line.
func (s Synced) String() string {
	msg := fmt.Sprintf("glue table %s.%s %s", s.Database, s.Table, s.Action)
	if len(s.Changes) > 0 {
		msg += ": " + strings.Join(s.Changes, "; ")
	}
	if s.DatabaseCreated {
		msg += " (database created)"
	}
	if s.View != "" {
		msg += fmt.Sprintf("; view %s.%s current", s.Database, s.View)
	}
	return msg
}

// Sync makes the Glue table of t exactly what `mallet athena ddl` defines
// (athena.Define): it creates the database and the table when missing,
// updates the table only when something differs, and for CSV checks that
// the typed view exists with every column. An update is conditional on the
// table's VersionId, so a concurrent writer's change is read again, not
// overwritten. Columns appended to the definition are added; a column is
// never dropped, retyped or moved (ErrIncompatible, with what to do).
// job names the job in the instructions of errors.
//
// Errors wrap ErrIncompatible, ErrView, athena.ErrSchema, or the SDK's
// error (access denied, throttling after the SDK's retries, unreachable
// endpoint).
func (g *Glue) Sync(ctx context.Context, job string, t athena.Table) (Synced, error) {
	def, view, err := athena.Define(t)
	if err != nil {
		return Synced{}, err
	}
	s := Synced{Database: def.Database, Table: def.Name}
	if err := g.syncTable(ctx, job, def, &s); err != nil {
		return s, err
	}
	if view != nil {
		if err := g.checkView(ctx, job, *view); err != nil {
			return s, err
		}
		s.View = view.Name
	}
	return s, nil
}

func (g *Glue) syncTable(ctx context.Context, job string, def athena.TableDef, s *Synced) error {
	name := def.Database + "." + def.Name
	for attempt := 1; ; attempt++ {
		cur, err := g.getTable(ctx, def.Database, def.Name)
		if err != nil && apiCode(err) != "EntityNotFoundException" {
			return fmt.Errorf("glue: get table %s: %w", name, err)
		}
		if err != nil {
			created, err := g.ensureDatabase(ctx, def.Database)
			if err != nil {
				return err
			}
			s.DatabaseCreated = s.DatabaseCreated || created
			_, err = g.client.CreateTable(ctx, &glue.CreateTableInput{
				DatabaseName: aws.String(def.Database),
				TableInput:   tableInput(def, nil),
			})
			if apiCode(err) == "AlreadyExistsException" && attempt < updateAttempts {
				continue // created meanwhile by another run: compare with it
			}
			if err != nil {
				return fmt.Errorf("glue: create table %s: %w", name, err)
			}
			s.Action = Created
			return nil
		}
		changes, err := diff(job, def, cur)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			s.Action = Unchanged
			return nil
		}
		_, err = g.client.UpdateTable(ctx, &glue.UpdateTableInput{
			DatabaseName: aws.String(def.Database),
			TableInput:   tableInput(def, cur),
			VersionId:    cur.VersionId,
		})
		switch apiCode(err) {
		case "ConcurrentModificationException", "VersionMismatchException":
			if attempt < updateAttempts {
				continue // changed since it was read: read it again
			}
		case "":
			s.Action, s.Changes = Updated, changes
			return nil
		}
		return fmt.Errorf("glue: update table %s (version %s): %w", name, aws.ToString(cur.VersionId), err)
	}
}

func (g *Glue) getTable(ctx context.Context, db, name string) (*types.Table, error) {
	out, err := g.client.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String(db), Name: aws.String(name)})
	if err != nil {
		return nil, err
	}
	if out.Table == nil {
		return nil, fmt.Errorf("glue: get table %s.%s: the answer holds no table", db, name)
	}
	return out.Table, nil
}

// ensureDatabase creates the database unless it exists, and reports
// whether it created it.
func (g *Glue) ensureDatabase(ctx context.Context, db string) (bool, error) {
	_, err := g.client.GetDatabase(ctx, &glue.GetDatabaseInput{Name: aws.String(db)})
	if err == nil {
		return false, nil
	}
	if apiCode(err) != "EntityNotFoundException" {
		return false, fmt.Errorf("glue: get database %s: %w", db, err)
	}
	_, err = g.client.CreateDatabase(ctx, &glue.CreateDatabaseInput{DatabaseInput: &types.DatabaseInput{
		Name:        aws.String(db),
		Description: aws.String("Athena tables of mallet jobs"),
	}})
	if apiCode(err) == "AlreadyExistsException" {
		return false, nil // created meanwhile by another run
	}
	if err != nil {
		return false, fmt.Errorf("glue: create database %s: %w", db, err)
	}
	return true, nil
}

// tableInput is def as Glue's TableInput: what Athena's CREATE EXTERNAL
// TABLE stores (table type EXTERNAL_TABLE and the EXTERNAL parameter
// included). Given the current table, it keeps what mallet does not
// define, so an update changes only mallet's fields: description, owner,
// retention, column comments, and table and SerDe parameters of other
// writers (Athena's transient_lastDdlTime, a person's comment), except
// projection settings, which are all mallet's.
func tableInput(def athena.TableDef, cur *types.Table) *types.TableInput {
	params := map[string]string{}
	serdeParams := map[string]string{}
	comments := map[string]*string{}
	in := &types.TableInput{
		Name:       aws.String(def.Name),
		TableType:  aws.String(externalTable),
		Parameters: params,
	}
	sd := &types.StorageDescriptor{
		Location:     aws.String(def.Location),
		InputFormat:  aws.String(def.InputFormat),
		OutputFormat: aws.String(def.OutputFormat),
		SerdeInfo:    &types.SerDeInfo{SerializationLibrary: aws.String(def.SerDe), Parameters: serdeParams},
	}
	if cur != nil {
		in.Description, in.Owner, in.Retention = cur.Description, cur.Owner, cur.Retention
		for k, v := range cur.Parameters {
			if !strings.HasPrefix(k, "projection.") {
				params[k] = v
			}
		}
		for _, c := range cur.PartitionKeys {
			comments[strings.ToLower(aws.ToString(c.Name))] = c.Comment
		}
		if csd := cur.StorageDescriptor; csd != nil {
			sd.Compressed, sd.NumberOfBuckets, sd.StoredAsSubDirectories = csd.Compressed, csd.NumberOfBuckets, csd.StoredAsSubDirectories
			sd.BucketColumns, sd.SortColumns, sd.Parameters = csd.BucketColumns, csd.SortColumns, csd.Parameters
			for _, c := range csd.Columns {
				comments[strings.ToLower(aws.ToString(c.Name))] = c.Comment
			}
			if si := csd.SerdeInfo; si != nil {
				sd.SerdeInfo.Name = si.Name
				maps.Copy(serdeParams, si.Parameters)
			}
		}
	}
	in.PartitionKeys = columns(def.PartitionKeys, comments)
	sd.Columns = columns(def.Columns, comments)
	for _, p := range def.Properties {
		params[p.Key] = p.Value
	}
	params["EXTERNAL"] = "TRUE"
	for _, p := range def.SerDeParams {
		serdeParams[p.Key] = p.Value
	}
	in.StorageDescriptor = sd
	return in
}

func columns(cols []athena.Column, comments map[string]*string) []types.Column {
	out := make([]types.Column, len(cols))
	for i, c := range cols {
		out[i] = types.Column{Name: aws.String(c.Name), Type: aws.String(c.Type), Comment: comments[c.Name]}
	}
	return out
}

// diff compares the current table with def. It returns what an update
// would change, one item each, or an error wrapping ErrIncompatible that
// lists every difference mallet does not change itself.
func diff(job string, def athena.TableDef, cur *types.Table) ([]string, error) {
	name := def.Database + "." + def.Name
	if aws.ToString(cur.TableType) == virtualView {
		return nil, fmt.Errorf("glue table %s: %w: it is a view, not the external table mallet defines (drop it in Athena: DROP VIEW %s.%s; then run mallet athena sync %s)",
			name, ErrIncompatible, athena.QuoteView(def.Database), athena.QuoteView(def.Name), job)
	}
	sd := cur.StorageDescriptor
	if sd == nil {
		sd = &types.StorageDescriptor{}
	}
	var changes, probs []string
	if got := aws.ToString(cur.TableType); got != externalTable {
		changes = append(changes, fmt.Sprintf("table type %q → %s", got, externalTable))
	}
	if !sameColumns(cur.PartitionKeys, def.PartitionKeys) {
		probs = append(probs, fmt.Sprintf("partition keys are %s, mallet's are %s", spell(cur.PartitionKeys), spellDef(def.PartitionKeys)))
	}
	var added []string
	for i, want := range def.Columns {
		if i >= len(sd.Columns) {
			added = append(added, want.Name)
			continue
		}
		got := sd.Columns[i]
		switch {
		case !strings.EqualFold(aws.ToString(got.Name), want.Name):
			probs = append(probs, fmt.Sprintf("column %d is %q, mallet's is %q (renamed or moved)", i+1, aws.ToString(got.Name), want.Name))
		case normType(aws.ToString(got.Type)) != normType(want.Type):
			probs = append(probs, fmt.Sprintf("column %q is %s, mallet's is %s (retyped)", want.Name, aws.ToString(got.Type), want.Type))
		}
	}
	if n := len(def.Columns); len(sd.Columns) > n {
		var extra []string
		for _, c := range sd.Columns[n:] {
			extra = append(extra, aws.ToString(c.Name))
		}
		probs = append(probs, fmt.Sprintf("column(s) %s are not in mallet's definition (dropped from the query)", strings.Join(extra, ", ")))
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("glue table %s: %w: %s; mallet never drops, retypes or moves a column. If the change is intended: drop the table in Athena (DROP TABLE %s.%s; the table is external, the data stays), then run mallet athena sync %s",
			name, ErrIncompatible, strings.Join(probs, "; "), athena.QuoteDDL(def.Database), athena.QuoteDDL(def.Name), job)
	}
	if len(added) > 0 {
		changes = append(changes, "columns added: "+strings.Join(added, ", "))
	}
	field := func(what, got, want string) {
		if got != want {
			changes = append(changes, fmt.Sprintf("%s %q → %q", what, got, want))
		}
	}
	field("location", aws.ToString(sd.Location), def.Location)
	field("input format", aws.ToString(sd.InputFormat), def.InputFormat)
	field("output format", aws.ToString(sd.OutputFormat), def.OutputFormat)
	var serde *types.SerDeInfo
	if serde = sd.SerdeInfo; serde == nil {
		serde = &types.SerDeInfo{}
	}
	field("serde", aws.ToString(serde.SerializationLibrary), def.SerDe)
	for _, p := range def.SerDeParams {
		field("serde property "+p.Key, serde.Parameters[p.Key], p.Value)
	}
	want := map[string]string{"EXTERNAL": "TRUE"}
	for _, p := range def.Properties {
		want[p.Key] = p.Value
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got, ok := cur.Parameters[k]; !ok || got != want[k] {
			field("table property "+k, got, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cur.Parameters)) {
		if _, ok := want[k]; !ok && strings.HasPrefix(k, "projection.") {
			changes = append(changes, "table property "+k+" removed")
		}
	}
	return changes, nil
}

func sameColumns(got []types.Column, want []athena.Column) bool {
	if len(got) != len(want) {
		return false
	}
	for i, c := range got {
		if !strings.EqualFold(aws.ToString(c.Name), want[i].Name) || normType(aws.ToString(c.Type)) != normType(want[i].Type) {
			return false
		}
	}
	return true
}

// normType spells a Hive type the way the catalog may echo it: lowercase,
// without spaces ("DECIMAL(12, 2)" is decimal(12,2)).
func normType(t string) string { return strings.ToLower(strings.ReplaceAll(t, " ", "")) }

func spell(cols []types.Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = aws.ToString(c.Name) + " " + aws.ToString(c.Type)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func spellDef(cols []athena.Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.Name + " " + c.Type
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// checkView checks that a CSV job's typed view exists with the view
// definition's columns. It does not create or replace the view: an Athena
// view is SQL that Athena stores in its own encoding, which Glue's API
// does not produce.
func (g *Glue) checkView(ctx context.Context, job string, v athena.ViewDef) error {
	name := v.Database + "." + v.Name
	todo := fmt.Sprintf("run the CREATE OR REPLACE VIEW statement that mallet athena ddl %s prints, in Athena", job)
	cur, err := g.getTable(ctx, v.Database, v.Name)
	if apiCode(err) == "EntityNotFoundException" {
		return fmt.Errorf("glue view %s: %w: it does not exist; Glue cannot create Athena views: %s", name, ErrView, todo)
	}
	if err != nil {
		return fmt.Errorf("glue: get view %s: %w", name, err)
	}
	if got := aws.ToString(cur.TableType); got != virtualView {
		return fmt.Errorf("glue view %s: %w: it is a %s, not a view (drop it in Athena, then %s)", name, ErrView, got, todo)
	}
	var have []string
	if sd := cur.StorageDescriptor; sd != nil {
		for _, c := range sd.Columns {
			have = append(have, strings.ToLower(aws.ToString(c.Name)))
		}
	}
	for _, c := range cur.PartitionKeys {
		have = append(have, strings.ToLower(aws.ToString(c.Name)))
	}
	if slices.Equal(have, v.Columns) {
		return nil
	}
	var missing []string
	for _, c := range v.Columns {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	what := "its columns differ from the definition's"
	if len(missing) > 0 {
		what = "it lacks column(s) " + strings.Join(missing, ", ")
	}
	return fmt.Errorf("glue view %s: %w: %s: %s", name, ErrView, what, todo)
}
