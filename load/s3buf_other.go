//go:build !unix

package load

// allocPart returns a buffer of size bytes on the heap (no anonymous
// mappings here).
func allocPart(size int) []byte { return make([]byte, size) }

// releasePart does nothing: a heap buffer's pages are the runtime's.
func releasePart([]byte) {}
