package gluetest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestRefusesWhatGlueRefuses checks that the fake does not accept requests
// real Glue would refuse, so a client passing against it speaks Glue's
// protocol.
func TestRefusesWhatGlueRefuses(t *testing.T) {
	s, err := NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const signed = "AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/glue/aws4_request, SignedHeaders=host, Signature=0"
	tests := []struct {
		name, method, ctype, target, auth, body string
		status                                  int
		code                                    string
	}{
		{"served", "POST", "application/x-amz-json-1.1", "AWSGlue.GetDatabase", signed, `{"Name":"x"}`, 400, "EntityNotFoundException"},
		{"json 1.0 content type", "POST", "application/x-amz-json-1.0", "AWSGlue.GetDatabase", signed, `{}`, 400, "SerializationException"},
		{"other service's target", "POST", "application/x-amz-json-1.1", "AmazonAthena.GetDatabase", signed, `{}`, 400, "UnknownOperationException"},
		{"signed for s3", "POST", "application/x-amz-json-1.1", "AWSGlue.GetDatabase", strings.Replace(signed, "/glue/", "/s3/", 1), `{}`, 400, "IncompleteSignatureException"},
		{"GET", "GET", "application/x-amz-json-1.1", "AWSGlue.GetDatabase", signed, ``, 400, "UnknownOperationException"},
		{"not served", "POST", "application/x-amz-json-1.1", "AWSGlue.DeleteTable", signed, `{}`, 400, "UnknownOperationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, s.URL+"/", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.ctype)
			req.Header.Set("X-Amz-Target", tt.target)
			req.Header.Set("Authorization", tt.auth)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || body["__type"] != tt.code {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, body["__type"], tt.status, tt.code)
			}
		})
	}
}
