package publish_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mallet-etl/mallet/publish"
	"github.com/mallet-etl/mallet/schema"
)

// quickSightDoc is a manifest as QuickSight documents the format
// (supported-manifest-file-format.html), for the CSV mallet writes: the
// only keys, with every setting a string.
const quickSightDoc = `{
  "fileLocations": [{"URIs": %s}],
  "globalUploadSettings": {"format": "CSV", "delimiter": ",", "textqualifier": "\"", "containsHeader": "true"}
}`

// sameJSON reports whether two JSON documents hold the same values.
func sameJSON(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("manifest is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(g, w)
}

// TestQuickSightManifests writes the manifests of three dates out of
// order: each date's manifest lists its files in QuickSight's format, and
// latest stays on the newest date.
func TestQuickSightManifests(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *testStore) {
		files := map[string][]string{}
		for _, d := range []string{"2026-11-24", "2026-11-26", "2026-11-25"} {
			files[d] = []string{st.URI("logins/data/dt=" + d + "/all/r/part-00000.csv"), st.URI("logins/data/dt=" + d + "/all/r/part-00001.csv")}
			if err := publish.WriteQuickSight(t.Context(), st, job, d, testSchema, files[d]); err != nil {
				t.Fatal(err)
			}
			uris, err := json.Marshal(files[d])
			if err != nil {
				t.Fatal(err)
			}
			if got := readKey(t, st, publish.QuickSightKey(job, d)); !sameJSON(t, got, fmt.Sprintf(quickSightDoc, uris)) {
				t.Errorf("dt=%s manifest:\n%s\nwant:\n%s", d, got, fmt.Sprintf(quickSightDoc, uris))
			}
		}
		uris, err := json.Marshal(files["2026-11-26"])
		if err != nil {
			t.Fatal(err)
		}
		if got := readKey(t, st, publish.QuickSightLatestKey(job)); !sameJSON(t, got, fmt.Sprintf(quickSightDoc, uris)) {
			t.Errorf("latest manifest:\n%s\nwant the 26th's", got)
		}
		if got, want := len(keys(t, st, publish.QuickSightPrefix(job))), 4; got != want {
			t.Errorf("got %d QuickSight manifests, want %d (3 dates and latest)", got, want)
		}
		// Over a limit, nothing is written.
		err = publish.WriteQuickSight(t.Context(), st, job, "2026-11-27", testSchema, make([]string, publish.QuickSightMaxFiles+1))
		if !errors.Is(err, publish.ErrQuickSightLimit) {
			t.Errorf("too many files: got %v, want ErrQuickSightLimit", err)
		}
		if got := len(keys(t, st, publish.QuickSightKey(job, "2026-11-27"))); got != 0 {
			t.Errorf("a manifest over the limit was written")
		}
	})
}

func TestQuickSightLimits(t *testing.T) {
	wide := make(schema.Schema, publish.QuickSightMaxColumns+1)
	for i := range wide {
		wide[i] = schema.Tenant(fmt.Sprintf("c%d", i))
	}
	long := schema.Schema{schema.Tenant(strings.Repeat("x", publish.QuickSightMaxColumnName+1))}
	tests := []struct {
		name  string
		s     schema.Schema
		files int
		want  string
	}{
		{"at the limits", schema.Schema{schema.Tenant(strings.Repeat("x", publish.QuickSightMaxColumnName))}, publish.QuickSightMaxFiles, ""},
		{"too many files", schema.Schema{schema.Tenant("a")}, publish.QuickSightMaxFiles + 1, "1001 files, QuickSight reads at most 1000 per manifest"},
		{"too many columns", wide, 1, "1001 columns, QuickSight reads at most 1000 per file"},
		{"long column name", long, 1, "128-character name, QuickSight allows 127"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := publish.CheckQuickSight(tt.s, tt.files)
			if tt.want == "" {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, publish.ErrQuickSightLimit) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want ErrQuickSightLimit containing %q", err, tt.want)
			}
		})
	}
}
