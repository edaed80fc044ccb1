package demo

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/mallet-etl/mallet"
)

// Registry is the registry database; its cl_mapping names every tenant.
const Registry = "crm_registry"

// Database names the demo's tenant database number n (1-based).
func Database(n int) string { return fmt.Sprintf("crm_t%03d", n) }

// The sample SQL is written for MySQL 8 and MariaDB. The in-memory engine
// runs it with two differences that fixes below undo:
//
//   - TIMESTAMP columns are stored as written, not converted from the
//     session's time_zone to UTC. The data file writes them as JST, so after
//     loading they are moved back 9 hours to hold the UTC instant MySQL would
//     store (mail_requests.created_at, modified_at).
//   - A join between two CTEs whose integer key columns have different
//     inferred widths finds only some matches (support_searches lost all but
//     one row). Casting both sides to SIGNED restores every match.
//   - PLAN is a reserved word, so cl_mapping's column plan is quoted.
var rewrites = map[string][][2]string{
	"tenant_data.sql": {{"JOIN kw_all ON kw_all.i = q2.i", "JOIN kw_all ON CAST(kw_all.i AS SIGNED) = CAST(q2.i AS SIGNED)"}},
	"registry_schema.sql": {
		{"\n  plan        VARCHAR(32)", "\n  `plan`      VARCHAR(32)"},
		{"`database`, plan, created_at", "`database`, `plan`, created_at"},
	},
}

const timestampsToUTC = "UPDATE mail_requests SET created_at = created_at - INTERVAL 9 HOUR, modified_at = modified_at - INTERVAL 9 HOUR"

// load creates the tenant databases and the registry, several at once.
func (s *Server) load(ctx context.Context, n int) error {
	schema, err := script("tenant_schema.sql")
	if err != nil {
		return err
	}
	data, err := script("tenant_data.sql")
	if err != nil {
		return err
	}
	registry, err := script("registry_schema.sql")
	if err != nil {
		return err
	}
	db, err := s.open()
	if err != nil {
		return err
	}
	defer db.Close()

	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := 1; i <= n; i++ {
		name := Database(i)
		s.Databases = append(s.Databases, name)
		g.Go(func() error {
			stmts := append(append([]string{fmt.Sprintf("SET @tenant_no = %d", i)}, schema...), data...)
			stmts = append(stmts, timestampsToUTC)
			return run(ctx, db, name, stmts)
		})
	}
	g.Go(func() error {
		return run(ctx, db, Registry, append([]string{fmt.Sprintf("SET @tenant_count = %d", n)}, registry...))
	})
	return g.Wait()
}

// run creates database and runs stmts in it on one connection, so that
// session variables carry from one statement to the next.
func run(ctx context.Context, db *sql.DB, database string, stmts []string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("demo: connect: %w", err)
	}
	defer conn.Close()
	pre := []string{"CREATE DATABASE `" + database + "`", "USE `" + database + "`"}
	for _, q := range append(pre, stmts...) {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("demo: load %s: %.80s: %w", database, q, err)
		}
	}
	return nil
}

// script reads a file of testdata/sample as statements, with the engine's
// rewrites applied.
func script(name string) ([]string, error) {
	b, err := mallet.Shipped.ReadFile("testdata/sample/" + name)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	text := string(b)
	for _, r := range rewrites[name] {
		if !strings.Contains(text, r[0]) {
			return nil, fmt.Errorf("demo: %s no longer contains %q: update demo/load.go", name, r[0])
		}
		text = strings.ReplaceAll(text, r[0], r[1])
	}
	return split(text), nil
}

// split cuts a SQL file into statements: a statement ends with a line whose
// last character is ';'. Lines that start with "--" are comments. This is
// enough for the sample files, which keep every ';' outside string literals
// at a line's end.
func split(text string) []string {
	var out []string
	var b strings.Builder
	for line := range strings.Lines(text) {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		b.WriteString(line)
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(b.String()), ";"))
			b.Reset()
		}
	}
	if t := strings.TrimSpace(b.String()); t != "" {
		out = append(out, t)
	}
	return out
}
