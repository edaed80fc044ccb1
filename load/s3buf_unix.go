//go:build unix

package load

import "golang.org/x/sys/unix"

// allocPart returns a buffer of size bytes outside Go's heap: an anonymous
// private mapping, whose pages the system provides as they are first
// written. It is never unmapped (a request that failed may still be reading
// it), only reused or released. If the mapping fails, the heap will do.
func allocPart(size int) []byte {
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return make([]byte, size)
	}
	return b
}

// releasePart gives an idle buffer's pages back to the system; the buffer
// stays usable and reads as zeros. A heap buffer is left alone.
func releasePart(b []byte) {
	_ = unix.Madvise(b, unix.MADV_DONTNEED) // EINVAL for a heap buffer: nothing to give back
}
