package jobs

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mallet-etl/mallet/athena"
	"github.com/mallet-etl/mallet/catalog"
	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/extract"
	"github.com/mallet-etl/mallet/publish"
	"github.com/mallet-etl/mallet/schema"
)

// AthenaDDLKey is where `mallet athena ddl --write` stores a job's DDL,
// next to its data.
func AthenaDDLKey(job string) string { return job + "/_mallet/athena.sql" }

// AthenaTable describes the Athena table of a job's output. The columns are
// the newest committed run's; before the first run they are the query's,
// read with LIMIT 0 from the source's first tenant. The first projected date
// is the job's athena.first_date. from
// says where the columns came from, for the operator.
func AthenaTable(ctx context.Context, cfg *config.Config, name string) (t athena.Table, from string, err error) {
	job, ok := cfg.Jobs[name]
	if !ok {
		return t, "", fmt.Errorf("athena: unknown job %q (jobs: %s)", name, strings.Join(cfg.JobNames(), ", "))
	}
	st, err := OpenStore(ctx, job.Output.To, cfg.S3)
	if err != nil {
		return t, "", fmt.Errorf("athena %s: output %s: %w", name, job.Output.To, err)
	}
	return athenaTable(ctx, cfg, job, st)
}

// athenaTable is AthenaTable over the job's store st.
func athenaTable(ctx context.Context, cfg *config.Config, job *config.Job, st Store) (t athena.Table, from string, err error) {
	name := job.Name
	t = athena.Table{
		Database: job.Athena.Database,
		Name:     job.Athena.Table,
		Location: st.URI(publish.SymlinksPrefix(name)),
		Format:   job.Output.Format,
	}
	// The range starts at the job's athena.first_date, before which runs
	// are refused (checkDates): no partition mallet publishes is outside
	// it, whatever was published when the table was made.
	t.FirstDate = job.Athena.FirstDate
	latest, err := publish.LatestRun(ctx, st, name)
	if err != nil {
		return t, "", fmt.Errorf("athena %s: %w", name, err)
	}
	if latest != nil && latest.Schema != nil {
		t.Schema = latest.Schema
		from = fmt.Sprintf("run %s of %s (%s)", latest.RunID, latest.Date, st.URI(latest.Key))
	}
	if t.Schema == nil {
		s, tenant, err := ProbeSchema(ctx, cfg, name)
		if err != nil {
			return t, "", fmt.Errorf("athena %s: no published run, and the query's columns could not be read: %w", name, err)
		}
		t.Schema = s
		from = "the query's columns in " + tenant + " (no run published yet)"
	}
	return t, from, nil
}

// NewGlue returns the Glue client for a config's jobs: in s3.region when
// set (the catalog of the bucket's region), else the SDK's default region.
func NewGlue(ctx context.Context, cfg *config.Config) (*catalog.Glue, error) {
	return catalog.NewGlue(ctx, cfg.S3.Region)
}

// SyncGlue makes the job's table in the Glue Data Catalog what
// `mallet athena ddl` prints (AthenaTable): see catalog.Glue.Sync. st is
// the job's store, nil to open output.to.
func SyncGlue(ctx context.Context, cfg *config.Config, name string, g *catalog.Glue, st Store) (catalog.Synced, error) {
	job, ok := cfg.Jobs[name]
	if !ok {
		return catalog.Synced{}, fmt.Errorf("athena sync: unknown job %q (jobs: %s)", name, strings.Join(cfg.JobNames(), ", "))
	}
	if !strings.HasPrefix(job.Output.To, "s3://") {
		return catalog.Synced{}, fmt.Errorf("athena sync %s: output.to %s is not on s3://, and Glue tables read S3", name, job.Output.To)
	}
	if st == nil {
		var err error
		if st, err = OpenStore(ctx, job.Output.To, cfg.S3); err != nil {
			return catalog.Synced{}, fmt.Errorf("athena sync %s: output %s: %w", name, job.Output.To, err)
		}
	}
	t, _, err := athenaTable(ctx, cfg, job, st)
	if err != nil {
		return catalog.Synced{}, err
	}
	s, err := g.Sync(ctx, name, t)
	if err != nil {
		return s, fmt.Errorf("athena sync %s: %w", name, err)
	}
	return s, nil
}

// ProbeSchema returns the columns a run of the job would write, reading
// only the query's column metadata (LIMIT 0) from the first tenant of the
// source, with the tenant and registry columns in front and merge:
// aggregate applied. tenant names the tenant asked.
func ProbeSchema(ctx context.Context, cfg *config.Config, name string) (s schema.Schema, tenant string, err error) {
	job := cfg.Jobs[name]
	src := cfg.Sources[job.Source]
	q := job.Statement
	servers, err := openServers(src)
	if err != nil {
		return nil, "", err
	}
	defer closeServers(servers)
	tenants, err := extract.Discover(ctx, servers, src.Selector)
	if err != nil {
		return nil, "", err
	}
	if len(tenants.List) == 0 {
		if len(tenants.Refused) > 0 {
			return nil, "", fmt.Errorf("no tenant database to ask in the source %s: %w", src.Name, tenants.Refused[0].Err)
		}
		return nil, "", fmt.Errorf("no tenant database matches the source %s", src.Name)
	}
	tn := tenants.List[0]
	tenant = tn.Server + "/" + tn.Database
	// Every parameter a query may use is bound, whatever the mode: the
	// probe reads no row, so any value of the right type does. :cursor
	// gets the value a first incremental run binds.
	params := Params(time.Now().In(job.Location))
	params["server"], params["database"] = tn.Server, tn.Database
	cursor, err := newTracker(job, "", nil).bind()
	if err != nil {
		return nil, tenant, err
	}
	params["cursor"] = cursor
	args, err := q.Args(params)
	if err != nil {
		return nil, tenant, err
	}
	var srv *extract.Server
	for _, sv := range servers {
		if sv.Name() == tn.Server {
			srv = sv
		}
	}
	cols, err := srv.Columns(ctx, tn.Database, q, args)
	if err != nil {
		return nil, tenant, fmt.Errorf("tenant %s: %w", tenant, err)
	}
	r := &run{cfg: cfg, job: job, src: src, attrs: tenants.Attrs}
	full, err := r.tenantSchema(cols)
	if err != nil {
		return nil, tenant, err
	}
	if job.Merge == config.MergeAggregate {
		agg, err := newAggregator(full, job.Aggregate)
		if err != nil {
			return nil, tenant, err
		}
		full = agg.out
	}
	return full, tenant, nil
}

// WriteAthenaDDL stores the DDL next to the job's data and returns its URI.
func WriteAthenaDDL(ctx context.Context, cfg *config.Config, name, ddl string) (string, error) {
	job := cfg.Jobs[name]
	st, err := OpenStore(ctx, job.Output.To, cfg.S3)
	if err != nil {
		return "", fmt.Errorf("athena %s: output %s: %w", name, job.Output.To, err)
	}
	key := AthenaDDLKey(name)
	if _, err := st.Put(ctx, key, bytes.NewReader([]byte(ddl))); err != nil {
		return "", fmt.Errorf("athena %s: write %s: %w", name, st.URI(key), err)
	}
	return st.URI(key), nil
}
