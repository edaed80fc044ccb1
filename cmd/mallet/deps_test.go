package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// notInProduction are module paths the production binary (-tags nodemo)
// must not carry: the demo's embedded MySQL server and its logger, the test
// suite's S3 fake and pseudo-terminal, and the JSON Schema validator that
// checks the shipped configs (never a run). Each would add code, start-up
// work and attack surface to every ECS task for nothing.
var notInProduction = []string{
	"github.com/dolthub/",
	"github.com/johannesboyne/gofakes3",
	"github.com/creack/pty",
	"github.com/sirupsen/logrus",
	"github.com/santhosh-tekuri/jsonschema",
}

// TestProductionBinaryDeps reads the modules linked into the built binaries
// (go version -m): the nodemo one holds none of notInProduction, and the
// full one holds the demo's server, which shows the check sees what it
// looks for.
func TestProductionBinaryDeps(t *testing.T) {
	for _, tc := range []struct {
		tags string
		want bool // go-mysql-server linked in
	}{
		{"nodemo", false},
		{"", true},
	} {
		t.Run("tags="+tc.tags, func(t *testing.T) {
			bin := malletBinary(t, tc.tags)
			out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
			if err != nil {
				t.Fatalf("go version -m: %v\n%s", err, out)
			}
			mods := linkedModules(string(out))
			if len(mods) < 10 {
				t.Fatalf("go version -m lists %d modules, want the AWS SDK, the driver and more:\n%s", len(mods), out)
			}
			if got := hasPrefix(mods, "github.com/dolthub/go-mysql-server"); got != tc.want {
				t.Errorf("go-mysql-server linked: %v, want %v", got, tc.want)
			}
			if tc.tags != "nodemo" {
				return
			}
			for _, m := range mods {
				if hasPrefix([]string{m}, notInProduction...) {
					t.Errorf("the production binary links %s", m)
				}
			}
		})
	}
}

// TestProductionPackageDeps is the fast loop's version of the check, over
// the packages `go build -tags nodemo` would compile into the binary; it
// also keeps out mallet's own test helpers (internal/testdb, load/s3test,
// the store suite, the Glue and QuickSight fakes: every package of the
// module whose name ends in "test").
func TestProductionPackageDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "nodemo", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	pkgs := strings.Fields(string(out))
	if !hasPrefix(pkgs, "github.com/aws/aws-sdk-go-v2/service/s3") {
		t.Fatalf("go list -deps lacks the S3 client, so it did not list the binary's packages:\n%s", out)
	}
	for _, p := range pkgs {
		mine := strings.HasPrefix(p, "github.com/mallet-etl/mallet/")
		if hasPrefix([]string{p}, notInProduction...) || mine && strings.HasSuffix(p, "test") {
			t.Errorf("the production binary compiles in %s", p)
		}
	}
}

// linkedModules returns the module paths of go version -m's dep and =>
// lines.
func linkedModules(out string) []string {
	var mods []string
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "dep" || f[0] == "=>") {
			mods = append(mods, f[1])
		}
	}
	return mods
}

// hasPrefix reports whether some element of list starts with one of the
// prefixes.
func hasPrefix(list []string, prefixes ...string) bool {
	return slices.ContainsFunc(list, func(s string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(s, p) })
	})
}
