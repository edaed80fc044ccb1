package load

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"io/fs"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The storetest hooks for Dir and S3, for the suite run in package
// load_test: they look past the Store interface at what each store keeps
// while it writes.

// Pending returns, sorted, the target keys of s's temp files (Dir) or
// pending multipart uploads (S3).
func Pending(t *testing.T, s Store) []string {
	t.Helper()
	var pending []string
	switch s := s.(type) {
	case *Dir:
		err := filepath.WalkDir(s.root, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			rel, err := filepath.Rel(s.root, p)
			if err != nil {
				return err
			}
			if target, ok := tmpTarget(filepath.ToSlash(rel)); ok {
				pending = append(pending, target)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	case *S3:
		out, err := s.client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket)})
		if apiCode(err) == "NoSuchUpload" { // gofakes3: no upload ever
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range out.Uploads {
			pending = append(pending, strings.TrimPrefix(aws.ToString(u.Key), s.prefix))
		}
	default:
		t.Fatalf("Pending: unknown store %T", s)
	}
	slices.Sort(pending)
	return pending
}

// Interrupt leaves what a process killed mid-Put of key leaves: a temp
// file, or a multipart upload with one part.
func Interrupt(t *testing.T, s Store, key string) {
	t.Helper()
	switch s := s.(type) {
	case *Dir:
		p := s.path(key)
		if err := os.MkdirAll(filepath.Dir(p), dirPerm); err != nil {
			t.Fatal(err)
		}
		f, err := os.CreateTemp(filepath.Dir(p), tmpPrefix+filepath.Base(p)+".*")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("half"); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	case *S3:
		out, err := s.client.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: s.key(key),
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.client.UploadPart(t.Context(), &s3.UploadPartInput{
			Bucket: aws.String(s.bucket), Key: s.key(key), UploadId: out.UploadId,
			PartNumber: aws.Int32(1), Body: strings.NewReader("half"),
		})
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("Interrupt: unknown store %T", s)
	}
}
