package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mallet-etl/mallet/load/s3test"
)

// TestS3UploadBuffersBound runs more big uploads at once than the buffers
// have parts for: every upload completes whole, and the buffers in use never
// exceed the limit.
func TestS3UploadBuffersBound(t *testing.T) {
	tests := []struct {
		name    string
		parts   int // the budget, in parts
		uploads int
		conc    int // parts in flight per upload
	}{
		{"one part for four uploads", 1, 4, 2},
		{"three parts for six uploads", 3, 6, 2},
		{"enough for all", 12, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bufs := NewUploadBuffers(testPartSize, tt.parts)
			s, srv := newTestS3(t, S3Options{PartSize: testPartSize, Concurrency: tt.conc, Buffers: bufs})
			data := randomBytes(11 << 20) // three parts
			var wg sync.WaitGroup
			errs := make([]error, tt.uploads)
			for i := range tt.uploads {
				wg.Go(func() {
					// Not a bytes.Reader: a stream, like an encoder's.
					_, errs[i] = s.Put(t.Context(), fmt.Sprintf("big/%d", i), io.MultiReader(bytes.NewReader(data)))
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("upload %d: %v", i, err)
				}
				if got, _ := get(t, s, fmt.Sprintf("big/%d", i)); !bytes.Equal(got, data) {
					t.Errorf("upload %d: got %d bytes back, want the %d put", i, len(got), len(data))
				}
			}
			if got, want := srv.Requests("UploadPart"), 3*tt.uploads; got != want {
				t.Errorf("UploadPart requests: got %d, want %d", got, want)
			}
			bufs.mu.Lock()
			defer bufs.mu.Unlock()
			// At most the limit, and at most what the uploads can use.
			if most := min(tt.parts, tt.uploads*(tt.conc+1)); bufs.peak > most || bufs.peak == 0 {
				t.Errorf("peak buffers: got %d, want 1 to %d", bufs.peak, most)
			}
			if bufs.held != 0 || len(bufs.free) > tt.parts {
				t.Errorf("after the uploads: got %d buffers held, %d kept, want none and at most %d", bufs.held, len(bufs.free), tt.parts)
			}
			for i, buf := range bufs.free {
				if n := residentPages(t, buf); n != 0 {
					t.Errorf("idle buffer %d: got %d resident pages, want 0", i, n)
				}
			}
		})
	}
}

// blockingReader gives n bytes, then blocks until release is closed, then
// ends.
type blockingReader struct {
	r       io.Reader
	release chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		<-b.release
	}
	return n, err
}

// TestS3UploadBuffersWait: an upload waiting for a buffer gives up when its
// context is done, leaving nothing behind; bytes already in memory and
// smaller than a part do not wait.
func TestS3UploadBuffersWait(t *testing.T) {
	bufs := NewUploadBuffers(testPartSize, 1)
	s, _ := newTestS3(t, S3Options{Buffers: bufs})
	release := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := s.Put(t.Context(), "holder", &blockingReader{r: bytes.NewReader([]byte("slow")), release: release})
		first <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		bufs.mu.Lock()
		held := bufs.held
		bufs.mu.Unlock()
		if held > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first upload never took a buffer")
		}
		time.Sleep(time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := s.Put(ctx, "waiter", io.MultiReader(bytes.NewReader([]byte("stream"))))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Put waiting for a buffer: got %v, want %v", err, context.DeadlineExceeded)
	}
	if _, err := s.Put(t.Context(), "manifest", bytes.NewReader([]byte("in memory"))); err != nil {
		t.Errorf("Put of a small bytes.Reader while the buffers are taken: %v", err)
	}

	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	objects, pending := listKeys(t, s, ""), Pending(t, s)
	if fmt.Sprint(objects) != "[holder manifest]" || len(pending) != 0 {
		t.Errorf("objects %q, pending %q; want [holder manifest] and none", objects, pending)
	}
}

func TestS3UploadBuffersOptions(t *testing.T) {
	s3test.Setenv(t, "http://127.0.0.1:1")
	own := NewUploadBuffers(6<<20, 2)
	tests := []struct {
		name     string
		o        S3Options
		want     *UploadBuffers // nil: a pool of the store's own
		wantPart int
		wantErr  string
	}{
		{"default", S3Options{}, DefaultUploadBuffers, 5 << 20, ""},
		{"default part size", S3Options{PartSize: 5 << 20}, DefaultUploadBuffers, 5 << 20, ""},
		{"given", S3Options{Buffers: own}, own, 6 << 20, ""},
		{"given, same part size", S3Options{Buffers: own, PartSize: 6 << 20}, own, 6 << 20, ""},
		{"another part size", S3Options{PartSize: 8 << 20, Concurrency: 3}, nil, 8 << 20, ""},
		{"part size not the buffers'", S3Options{Buffers: own, PartSize: 5 << 20}, nil, 0, "differs from the upload buffers'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewS3(t.Context(), "b", "", tt.o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && s.buffers != tt.want || tt.want == nil && (s.buffers == DefaultUploadBuffers || s.buffers.parts != tt.o.Concurrency+1) {
				t.Errorf("buffers: got %p (%d parts), want %p", s.buffers, s.buffers.parts, tt.want)
			}
			if got := s.buffers.PartSize(); got != tt.wantPart {
				t.Errorf("part size: got %d, want %d", got, tt.wantPart)
			}
		})
	}
}
