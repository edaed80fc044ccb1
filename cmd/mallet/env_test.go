package main

import (
	"os"
	"strings"
)

// cleanEnv is the environment without the variables the demo sets or a
// developer may have set, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "MALLET_OUTPUT", "MALLET_CONFIG", "CRM_DB1_DSN", "MALLET_PROGRESS_INTERVAL":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}
