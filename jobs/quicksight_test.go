package jobs_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/jobs"
	"github.com/mallet-etl/mallet/publish"
)

// checkQuickSightFormat checks a manifest against QuickSight's documented
// format (supported-manifest-file-format.html): a JSON object with exactly
// fileLocations (an array of objects holding URIs or URIPrefixes, arrays of
// strings) and globalUploadSettings (format, delimiter, textqualifier,
// containsHeader, all strings). It returns the URIs.
func checkQuickSightFormat(t *testing.T, data []byte) []string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("manifest is not a JSON object: %v", err)
	}
	if got, want := slices.Sorted(maps.Keys(doc)), []string{"fileLocations", "globalUploadSettings"}; !reflect.DeepEqual(got, want) {
		t.Errorf("top-level keys %v, want %v", got, want)
	}
	locs, ok := doc["fileLocations"].([]any)
	if !ok || len(locs) == 0 {
		t.Fatalf("fileLocations is %T %v, want a non-empty array", doc["fileLocations"], doc["fileLocations"])
	}
	var uris []string
	for _, l := range locs {
		m, ok := l.(map[string]any)
		if !ok {
			t.Fatalf("fileLocations entry is %T, want an object", l)
		}
		for k, v := range m {
			if k != "URIs" && k != "URIPrefixes" {
				t.Errorf("fileLocations entry has key %q, want URIs or URIPrefixes", k)
			}
			list, ok := v.([]any)
			if !ok {
				t.Fatalf("%s is %T, want an array", k, v)
			}
			for _, u := range list {
				s, ok := u.(string)
				if !ok {
					t.Fatalf("%s holds %T, want strings", k, u)
				}
				uris = append(uris, s)
			}
		}
	}
	settings, ok := doc["globalUploadSettings"].(map[string]any)
	if !ok {
		t.Fatalf("globalUploadSettings is %T, want an object", doc["globalUploadSettings"])
	}
	want := map[string]any{"format": "CSV", "delimiter": ",", "textqualifier": `"`, "containsHeader": "true"}
	if !reflect.DeepEqual(settings, want) {
		t.Errorf("globalUploadSettings %v, want %v", settings, want)
	}
	return uris
}

// TestQuickSightManifests runs a CSV job on three dates out of order and
// checks each date's manifest and latest: latest names the newest date's
// files, and only files that exist.
func TestQuickSightManifests(t *testing.T) {
	t.Parallel()
	f := sharedFleet(t, 2)
	out := t.TempDir()
	cfg := writeConfig(t, f.configText(`
  mail_csv:
    source: crm
    query: {{queries}}/mail_send_counts.sql
    output: {to: "{{out}}", format: csv.gz}
`, out))
	st := mustDir(t, out)
	read := func(key string) []byte {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	results := map[string]*jobs.Result{}
	// The 26th runs before the 25th: latest must stay on the 26th.
	for _, day := range []int{24, 26, 25} {
		date := time.Date(2026, 11, day, 0, 0, 0, 0, time.UTC)
		res, err := jobs.Run(t.Context(), cfg, "mail_csv", jobs.Options{Date: date})
		if err != nil {
			t.Fatalf("run %d: %v", day, err)
		}
		results[res.RunDate] = res
		uris := checkQuickSightFormat(t, read(publish.QuickSightKey("mail_csv", res.RunDate)))
		var want []string
		for _, o := range res.Objects {
			want = append(want, o.URI)
		}
		if len(want) == 0 {
			t.Fatalf("run %d wrote no files: the test needs rows", day)
		}
		if !reflect.DeepEqual(uris, want) {
			t.Errorf("dt=%s manifest URIs %v, want %v", res.RunDate, uris, want)
		}
	}
	latest := checkQuickSightFormat(t, read(publish.QuickSightLatestKey("mail_csv")))
	var want []string
	for _, o := range results["2026-11-26"].Objects {
		want = append(want, o.URI)
	}
	if !reflect.DeepEqual(latest, want) {
		t.Errorf("latest URIs %v, want the 26th's %v", latest, want)
	}
	for _, u := range latest {
		p := strings.TrimPrefix(u, "file://")
		if _, err := os.Stat(p); err != nil {
			t.Errorf("latest names %s: %v", u, err)
		}
	}
	objs, err := st.List(t.Context(), publish.QuickSightPrefix("mail_csv"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(objs), 4; got != want {
		t.Errorf("got %d QuickSight manifests, want %d (3 dates and latest)", got, want)
	}
}
