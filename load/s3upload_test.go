package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
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
			bufs := NewUploadBuffers(int64(tt.parts) * testPartSize)
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
			if most := int64(min(tt.parts, tt.uploads*(tt.conc+1))) * testPartSize; bufs.peak > most || bufs.peak == 0 {
				t.Errorf("peak buffers: got %d bytes, want 1 to %d", bufs.peak, most)
			}
			if bufs.held != 0 || len(bufs.free) != 0 || bufs.kept != 0 {
				t.Errorf("after the uploads: got %d bytes held, %d buffers (%d bytes) kept, want none", bufs.held, len(bufs.free), bufs.kept)
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
	bufs := NewUploadBuffers(testPartSize)
	s, _ := newTestS3(t, S3Options{PartSize: testPartSize, Buffers: bufs})
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
	objects, pending := leftovers(t, s)
	if fmt.Sprint(objects) != "[holder manifest]" || len(pending) != 0 {
		t.Errorf("objects %q, pending %q; want [holder manifest] and none", objects, pending)
	}
}

func TestS3UploadBuffersSizes(t *testing.T) {
	// Kept buffers of another size make room for a new one, so kept and
	// held together stay within the limit.
	b := NewUploadBuffers(10)
	x, _ := b.get(t.Context(), 4)
	y, _ := b.get(t.Context(), 4)
	b.put(x) // kept: 4, held: 4
	z, err := b.get(t.Context(), 6)
	if err != nil {
		t.Fatal(err)
	}
	if b.held+b.kept > b.limit {
		t.Errorf("held %d + kept %d: got %d, want at most %d", b.held, b.kept, b.held+b.kept, b.limit)
	}
	b.put(y)
	b.put(z)
	if b.held != 0 || b.kept != 0 || len(b.free) != 0 {
		t.Errorf("idle: got held %d, kept %d in %d buffers, want none", b.held, b.kept, len(b.free))
	}
	if _, err := NewS3(t.Context(), "b", "", S3Options{PartSize: 8 << 20, Buffers: NewUploadBuffers(6 << 20)}); err == nil {
		t.Error("NewS3 with a part larger than the buffers: got no error")
	}
}
