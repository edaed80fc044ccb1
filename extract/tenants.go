package extract

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Tenant is one tenant database on one server, with the attribute values a
// registry gave it (in the order of Tenants.Attrs, nil for NULL).
type Tenant struct {
	Server   string
	Database string
	Attrs    [][]byte
}

func (t Tenant) String() string { return t.Server + "/" + t.Database }

// Selector says which databases are tenants: Match over every server, an
// explicit List, or a Registry query. Exclude applies to all three.
type Selector struct {
	Match    *regexp.Regexp
	Exclude  *regexp.Regexp
	List     []Tenant
	Registry *Registry
}

// Registry is a query on one server whose rows name the tenants.
type Registry struct {
	Server string
	Query  *Query
}

// Tenants is the result of discovery.
type Tenants struct {
	// Attrs names the registry's attribute columns.
	Attrs []string
	// List is sorted by server, then database.
	List []Tenant
	// Failed holds servers that could not be listed, by name.
	Failed map[string]error
	// Refused holds what a list or a registry named that can never be a
	// tenant (a system schema, a name MySQL cannot have), sorted like
	// List. Each fails on its own; the others still run.
	Refused []Refused
}

// Refused is a database discovery will not treat as a tenant, and why.
type Refused struct {
	Tenant Tenant
	Err    error
}

// ErrSystemDatabase is wrapped by the refusal of a system schema (mysql,
// information_schema, performance_schema, sys) named as a tenant.
var ErrSystemDatabase = errors.New("a system schema, never a tenant")

// IsSystemDatabase reports whether name is one of the server's own schemas,
// which are never tenants. MySQL treats information_schema's name without
// regard to case, and a server with lower_case_table_names does so for
// all, so case is ignored.
func IsSystemDatabase(name string) bool { return systemDatabases[strings.ToLower(name)] }

// Discover resolves the selector against the servers. A server that cannot be
// listed under Match is reported in Failed and the others are still listed;
// a failing registry query is an error.
func Discover(ctx context.Context, servers []*Server, sel Selector) (*Tenants, error) {
	byName := map[string]*Server{}
	for _, s := range servers {
		byName[s.name] = s
	}
	out := &Tenants{Failed: map[string]error{}}
	switch {
	case sel.Registry != nil:
		srv, ok := byName[sel.Registry.Server]
		if !ok {
			return nil, fmt.Errorf("registry: unknown server %q", sel.Registry.Server)
		}
		attrs, list, err := srv.registry(ctx, sel.Registry.Query)
		if err != nil {
			return nil, err
		}
		for _, t := range list {
			if _, ok := byName[t.Server]; !ok {
				return nil, fmt.Errorf("registry: tenant %s names server %q, which the source does not have", t, t.Server)
			}
		}
		out.Attrs, out.List = attrs, list
	case sel.List != nil:
		out.List = append(out.List, sel.List...)
	default:
		for _, s := range servers {
			dbs, err := s.Databases(ctx)
			if err != nil {
				out.Failed[s.name] = err
				continue
			}
			for _, db := range dbs {
				if sel.Match.MatchString(db) {
					out.List = append(out.List, Tenant{Server: s.name, Database: db})
				}
			}
		}
	}
	kept := out.List[:0]
	seen := map[string]bool{}
	for _, t := range out.List {
		if sel.Exclude != nil && sel.Exclude.MatchString(t.Database) {
			continue
		}
		if seen[t.String()] {
			return nil, fmt.Errorf("tenant %s is listed twice", t)
		}
		seen[t.String()] = true
		// Refused per tenant, never for the whole run: one bad registry
		// row must not stop the other tenants.
		if IsSystemDatabase(t.Database) {
			out.Refused = append(out.Refused, Refused{t, fmt.Errorf("tenant %s: %s is %w: remove it from the tenant list or registry", t, t.Database, ErrSystemDatabase)})
			continue
		}
		if err := CheckDatabaseName(t.Database); err != nil {
			out.Refused = append(out.Refused, Refused{t, fmt.Errorf("tenant on server %s: %w", t.Server, err)})
			continue
		}
		kept = append(kept, t)
	}
	out.List = kept
	sortTenants(out.List, func(t Tenant) Tenant { return t })
	sortTenants(out.Refused, func(r Refused) Tenant { return r.Tenant })
	return out, nil
}

// sortTenants sorts by server, then database.
func sortTenants[T any](list []T, tenant func(T) Tenant) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := tenant(list[i]), tenant(list[j])
		if a.Server != b.Server {
			return a.Server < b.Server
		}
		return a.Database < b.Database
	})
}

// registry runs the registry query in a read-only transaction.
func (s *Server) registry(ctx context.Context, q *Query) ([]string, []Tenant, error) {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, fmt.Errorf("registry on server %s: %w", s.name, s.scrub(err))
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	rows, err := tx.QueryxContext(ctx, q.Text())
	if err != nil {
		return nil, nil, fmt.Errorf("registry on server %s: %w", s.name, s.scrub(err))
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, fmt.Errorf("registry on server %s: %w", s.name, err)
	}
	serverIdx, dbIdx := -1, -1
	var attrs []string
	var attrIdx []int
	for i, c := range cols {
		switch c {
		case "server":
			serverIdx = i
		case "database":
			dbIdx = i
		default:
			attrs = append(attrs, c)
			attrIdx = append(attrIdx, i)
		}
	}
	if serverIdx < 0 || dbIdx < 0 {
		return nil, nil, fmt.Errorf("registry on server %s: the query must return columns `server` and `database` (got %v)", s.name, cols)
	}
	var list []Tenant
	vals := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, fmt.Errorf("registry on server %s: %w", s.name, err)
		}
		t := Tenant{Server: string(vals[serverIdx]), Database: string(vals[dbIdx])}
		for _, i := range attrIdx {
			if vals[i] == nil {
				t.Attrs = append(t.Attrs, nil)
			} else {
				// Attributes are written as text columns, whatever the
				// registry's column type: keep them valid UTF-8.
				var buf []byte
				t.Attrs = append(t.Attrs, append([]byte{}, ValidUTF8(vals[i], &buf)...))
			}
		}
		list = append(list, t)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("registry on server %s: %w", s.name, s.scrub(err))
	}
	return attrs, list, nil
}
