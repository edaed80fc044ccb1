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
		New: func(t *testing.T) load.Store {
			d, err := load.NewDir(filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		Pending:   load.Pending,
		Interrupt: load.Interrupt,
	})
}

func TestStoreS3(t *testing.T) {
	storetest.Run(t, storetest.Suite{
		New: func(t *testing.T) load.Store {
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
			return s
		},
		Pending:   load.Pending,
		Interrupt: load.Interrupt,
	})
}
