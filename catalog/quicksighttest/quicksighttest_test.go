package quicksighttest

import (
	"net/http"
	"strings"
	"testing"
)

// TestRefusesWhatQuickSightRefuses checks that the fake does not accept
// requests real QuickSight would refuse.
func TestRefusesWhatQuickSightRefuses(t *testing.T) {
	s, err := NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.AddDataset("123456789012", "ds", Outcome{})
	const signed = "AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/quicksight/aws4_request, SignedHeaders=host, Signature=0"
	path := "/accounts/123456789012/data-sets/ds/ingestions/"
	tests := []struct {
		name, method, path, auth string
		status                   int
		code                     string
	}{
		{"created", "PUT", path + "mallet-1", signed, 201, ""},
		{"exists", "PUT", path + "mallet-1", signed, 409, "ResourceExistsException"},
		{"bad id", "PUT", path + "mallet.1", signed, 400, "InvalidParameterValueException"},
		{"bad account", "PUT", "/accounts/1234/data-sets/ds/ingestions/mallet-2", signed, 400, "InvalidParameterValueException"},
		{"unknown dataset", "PUT", "/accounts/123456789012/data-sets/nope/ingestions/mallet-2", signed, 404, "ResourceNotFoundException"},
		{"signed for glue", "PUT", path + "mallet-2", strings.Replace(signed, "/quicksight/", "/glue/", 1), 400, "IncompleteSignatureException"},
		{"other path", "PUT", "/accounts/123456789012/data-sets/ds", signed, 400, "UnknownOperationException"},
		{"describe unknown", "GET", path + "mallet-9", signed, 404, "ResourceNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, s.URL+tt.path, strings.NewReader(`{"IngestionType":"FULL_REFRESH"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", tt.auth)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			code, _, _ := strings.Cut(resp.Header.Get("X-Amzn-ErrorType"), ":")
			if resp.StatusCode != tt.status || code != tt.code {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, code, tt.status, tt.code)
			}
		})
	}
}
