package demo

import (
	"database/sql"
	"fmt"
	"testing"

	_ "github.com/go-sql-driver/mysql"
)

// The engine must load the sample exactly as MySQL and MariaDB do: these are
// the row counts testdata/sample/README.md lists, measured on MariaDB. One
// tenant keeps the test quick under -race; TestDemoSubprocess in
// cmd/mallet compares three with MariaDB.
func TestLoadMatchesSample(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the sample into the embedded engine for many seconds: not in -short")
	}
	s, err := Start(t.Context(), Options{Tenants: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("loaded in %s", s.Load)
	db, err := sql.Open("mysql", s.DSN()+"?time_zone=%27%2B00%3A00%27")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	want := map[string][6]int{
		"crm_t001": {20, 209, 482, 31, 308, 203},
	}
	tables := []string{"accounts", "logins", "access_logs", "mail_requests", "mail_send_logs", "support_searches"}
	for dbName, counts := range want {
		for i, table := range tables {
			t.Run(dbName+"/"+table, func(t *testing.T) {
				var got int
				if err := db.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM %s.%s", dbName, table)).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != counts[i] {
					t.Errorf("got %d rows, want %d", got, counts[i])
				}
			})
		}
	}

	t.Run("registry", func(t *testing.T) {
		var n int
		var first string
		if err := db.QueryRow("SELECT COUNT(*), MIN(`database`) FROM crm_registry.cl_mapping").Scan(&n, &first); err != nil {
			t.Fatal(err)
		}
		if n != 1 || first != "crm_t001" {
			t.Errorf("got %d rows starting at %q, want 1 starting at crm_t001", n, first)
		}
	})

	// Written as 2026-11-25 15:00:00 JST: the UTC instant is 06:00.
	t.Run("timestamp is UTC", func(t *testing.T) {
		var got string
		if err := db.QueryRow("SELECT CAST(created_at AS CHAR) FROM crm_t001.mail_requests WHERE id = 10999").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != "2026-11-25 06:00:00" {
			t.Errorf("got %s, want 2026-11-25 06:00:00", got)
		}
	})
}
