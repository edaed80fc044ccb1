package s3test

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestStart(t *testing.T) {
	url := Start(t, "bkt")
	if got := os.Getenv("AWS_ENDPOINT_URL_S3"); got != url {
		t.Errorf("AWS_ENDPOINT_URL_S3 = %q, want %q", got, url)
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("url %q is not plain HTTP on 127.0.0.1", url)
	}
	resp, err := http.Head(url + "/bkt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD bucket: %s, want 200", resp.Status)
	}
}

func TestServerRequests(t *testing.T) {
	s, err := NewServer("bkt")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		method, path string
		header       string
		want         string
	}{
		{"PUT", "/bkt/a/b.csv", "", "PutObject"},
		{"PUT", "/bkt/c.csv", "X-Amz-Copy-Source", "CopyObject"},
		{"HEAD", "/bkt/a/b.csv", "", "HeadObject"},
		{"GET", "/bkt?list-type=2", "", "ListObjects"},
		{"POST", "/bkt/k?uploads", "", "CreateMultipartUpload"},
		{"GET", "/bkt?uploads", "", "ListMultipartUploads"},
		{"PUT", "/bkt/k?partNumber=1&uploadId=1", "", "UploadPart"},
		{"DELETE", "/bkt/k?uploadId=1", "", "AbortMultipartUpload"},
	} {
		req, err := http.NewRequest(tc.method, s.URL+tc.path, strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		if tc.header != "" {
			req.Header.Set(tc.header, "/bkt/a/b.csv")
		}
		before := s.Requests(tc.want)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := s.Requests(tc.want) - before; got != 1 {
			t.Errorf("%s %s counted %d times as %s, want once", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestStartServer(t *testing.T) {
	url, stop, err := StartServer("bkt")
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if _, err := http.Head(url + "/bkt"); err == nil {
		t.Error("server still answers after stop")
	}
}
