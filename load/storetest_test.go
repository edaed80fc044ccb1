package load_test

import (
	"path/filepath"
	"testing"

	"github.com/mallet-etl/mallet/load"
	"github.com/mallet-etl/mallet/load/s3test"
	"github.com/mallet-etl/mallet/load/storetest"
)

func TestStoreDir(t *testing.T) {
	storetest.Run(t, storetest.Suite{
		New:       func(t *testing.T) load.Store { return newDir(t) },
		Pending:   load.Pending,
		Interrupt: load.Interrupt,
	})
}

func TestStoreS3(t *testing.T) {
	storetest.Run(t, storetest.Suite{
		New:       func(t *testing.T) load.Store { s, _ := newS3(t); return s },
		Pending:   load.Pending,
		Interrupt: load.Interrupt,
	})
}

func newDir(t *testing.T) *load.Dir {
	t.Helper()
	d, err := load.NewDir(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newS3 starts a fake S3 for t and returns a store on it with 5 MiB parts,
// configured through the environment as in production.
func newS3(t *testing.T) (*load.S3, *s3test.Server) {
	t.Helper()
	srv, err := s3test.NewServer("mallet-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	s3test.Setenv(t, srv.URL)
	s, err := load.NewS3(t.Context(), "mallet-test", "base/prefix", load.S3Options{PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return s, srv
}
