package extract

import (
	"errors"
	"strings"
	"testing"
)

// TestDiscoverRefusesPerTenant gives a tenant list that names system
// schemas and an impossible name beside real tenants: each is refused on
// its own, naming it, and the others are still tenants.
func TestDiscoverRefusesPerTenant(t *testing.T) {
	srv, err := Open("db1", "u:p@tcp(127.0.0.1:1)/", Options{}) // never connects: a list needs no server
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	list := []Tenant{
		{Server: "db1", Database: "crm_t2"},
		{Server: "db1", Database: "mysql"},
		{Server: "db1", Database: "INFORMATION_SCHEMA"},
		{Server: "db1", Database: "performance_schema"},
		{Server: "db1", Database: "sys"},
		{Server: "db1", Database: "trailing "},
		{Server: "db1", Database: "crm_t1"},
	}
	got, err := Discover(t.Context(), []*Server{srv}, Selector{List: list})
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	var names []string
	for _, tn := range got.List {
		names = append(names, tn.Database)
	}
	if got, want := strings.Join(names, ","), "crm_t1,crm_t2"; got != want {
		t.Errorf("tenants %s, want %s", got, want)
	}
	want := []struct {
		db     string
		system bool
	}{{"INFORMATION_SCHEMA", true}, {"mysql", true}, {"performance_schema", true}, {"sys", true}, {"trailing ", false}}
	if len(got.Refused) != len(want) {
		t.Fatalf("refused %+v, want %d", got.Refused, len(want))
	}
	for i, w := range want {
		r := got.Refused[i]
		if r.Tenant.Database != w.db || !strings.Contains(r.Err.Error(), "db1/") && w.system {
			t.Errorf("refused[%d] = %s: %v, want %s named", i, r.Tenant, r.Err, w.db)
		}
		if got := errors.Is(r.Err, ErrSystemDatabase); got != w.system {
			t.Errorf("refused %s: errors.Is(ErrSystemDatabase) = %v, want %v (%v)", w.db, got, w.system, r.Err)
		}
	}
}
