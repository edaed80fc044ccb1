// Package awstest points the AWS SDK at a fake service on loopback, for the
// test servers of S3, Glue and QuickSight: one list of the variables to set,
// so that a variable that would override the endpoint or the credentials
// cannot be forgotten in one of them. It also holds what the Glue and
// QuickSight fakes share: their loopback server, and the counting of calls
// and the faults queued for them (Ops).
package awstest

import (
	"strings"
	"testing"
)

// Env returns, as "KEY=value", the environment that points the AWS SDK's
// client for service (the suffix of its endpoint variable: "S3", "GLUE",
// "QUICKSIGHT") at url: AWS_ENDPOINT_URL_<service>, dummy credentials, a
// region, and blanks for the variables that would override them.
func Env(service, url string) []string {
	return []string{
		"AWS_ENDPOINT_URL_" + service + "=" + url,
		"AWS_ACCESS_KEY_ID=mallettest",
		"AWS_SECRET_ACCESS_KEY=mallettest",
		"AWS_SESSION_TOKEN=",
		"AWS_REGION=us-east-1",
		"AWS_PROFILE=",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=",
	}
}

// Setenv sets Env(service, url) for the rest of t. Like t.Setenv, it
// cannot be used in parallel tests.
func Setenv(t testing.TB, service, url string) {
	t.Helper()
	for _, kv := range Env(service, url) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}
