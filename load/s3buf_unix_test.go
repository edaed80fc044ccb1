//go:build unix

package load

import (
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// residentPages counts the pages of b in memory.
func residentPages(t *testing.T, b []byte) int {
	t.Helper()
	page := unix.Getpagesize()
	// mincore wants a page-aligned start.
	p := unsafe.Pointer(unsafe.SliceData(b))
	off := int(uintptr(p) % uintptr(page))
	aligned := unsafe.Slice((*byte)(unsafe.Add(p, -off)), len(b)+off)
	vec := make([]byte, (len(aligned)+page-1)/page)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(aligned))), uintptr(len(aligned)), uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	if errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// TestS3UploadBuffersOffHeap: part buffers are not Go heap, only the pages
// written are resident, and releasing gives them back.
func TestS3UploadBuffersOffHeap(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	bufs := make([][]byte, 4)
	for i := range bufs {
		bufs[i] = allocPart(5 << 20)
	}
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("heap grew by %d bytes for 20 MiB of part buffers, want less than 1 MiB", grew)
	}
	b := bufs[0]
	for i := range 100 << 10 { // touches the first 100 KiB only
		b[i] = 1
	}
	page := unix.Getpagesize()
	if n, want := residentPages(t, b), (100<<10)/page; n < want || n > want+1 {
		t.Errorf("after writing 100 KiB: got %d resident pages, want %d", n, want)
	}
	releasePart(b)
	if n := residentPages(t, b); n != 0 {
		t.Errorf("after release: got %d resident pages, want 0", n)
	}
	if b[0] != 0 {
		t.Errorf("after release: got byte %d, want 0", b[0])
	}
}
