package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductionDeps checks that libraries only tests use stay out of the
// production binary (-tags nodemo): the JSON Schema validator checks the
// shipped configs, never a run.
func TestProductionDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "nodemo", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list found %d packages, want the binary's whole import graph", len(deps))
	}
	for _, d := range deps {
		for _, testOnly := range []string{"github.com/santhosh-tekuri/jsonschema", "github.com/johannesboyne/gofakes3", "github.com/dolthub/go-mysql-server"} {
			if strings.HasPrefix(d, testOnly) {
				t.Errorf("the production binary imports %s", d)
			}
		}
	}
}
