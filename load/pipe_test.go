package load

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
)

func TestPipe(t *testing.T) {
	for _, tc := range []struct {
		name          string
		chunk, chunks int
		size          int
	}{
		{"empty", 16, 2, 0},
		{"less than a chunk", 16, 2, 5},
		{"exact chunks", 16, 2, 64},
		{"many chunks", 7, 3, 10_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := make([]byte, tc.size)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range want {
				want[i] = byte(rng.IntN(256))
			}
			pr, pw := Pipe(tc.chunk, tc.chunks)
			go func() {
				b := want
				for len(b) > 0 {
					k := min(len(b), 1+rng.IntN(40))
					if _, err := pw.Write(b[:k]); err != nil {
						pw.CloseWithError(err)
						return
					}
					b = b[k:]
				}
				pw.Close()
			}()
			got, err := io.ReadAll(pr)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d, or different bytes", len(got), len(want))
			}
		})
	}
}

func TestPipeErrors(t *testing.T) {
	boom := errors.New("boom")
	t.Run("writer error reaches reader", func(t *testing.T) {
		pr, pw := Pipe(4, 2)
		pw.Write([]byte("abcdefgh"))
		pw.CloseWithError(boom)
		if _, err := io.ReadAll(pr); !errors.Is(err, boom) {
			t.Fatalf("got %v, want %v", err, boom)
		}
	})
	t.Run("reader error unblocks writer", func(t *testing.T) {
		pr, pw := Pipe(4, 2)
		done := make(chan error)
		go func() {
			_, err := pw.Write(make([]byte, 1000)) // more than fits
			done <- err
		}()
		pr.CloseWithError(boom)
		if err := <-done; !errors.Is(err, boom) {
			t.Fatalf("got %v, want %v", err, boom)
		}
	})
	t.Run("reader close without error", func(t *testing.T) {
		pr, pw := Pipe(4, 1)
		pr.Close()
		if _, err := pw.Write(make([]byte, 100)); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("got %v, want %v", err, io.ErrClosedPipe)
		}
	})
}

func TestPipeWriteTo(t *testing.T) {
	pr, pw := Pipe(5, 2)
	want := bytes.Repeat([]byte("0123456789"), 100)
	go func() {
		pw.Write(want)
		pw.Close()
	}()
	var got bytes.Buffer
	n, err := pr.WriteTo(&got)
	if err != nil || n != int64(len(want)) || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("got %d bytes, %v; want %d bytes, nil", n, err, len(want))
	}
}

// TestPipeAllocatesOnDemand: a stream smaller than a chunk allocates one
// chunk, not all of them.
func TestPipeAllocatesOnDemand(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	pr, pw := Pipe(1<<20, 8)
	go func() {
		pw.Write([]byte("small"))
		pw.Close()
	}()
	got, err := io.ReadAll(pr)
	if err != nil || string(got) != "small" {
		t.Fatalf("read %q, %v; want \"small\"", got, err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 2<<20 {
		t.Errorf("allocated %d bytes for a 5-byte stream through 8 chunks of 1 MiB, want at most 2 MiB", n)
	}
}
