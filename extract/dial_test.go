package extract

import (
	"io"
	"net"
	"testing"
)

// TestBufferedConnStrayBytes: the driver's liveness check of a pooled
// connection fails while the read buffer holds bytes nobody asked for,
// and passes once they are read.
func TestBufferedConnStrayBytes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("ab"))
		_, _ = io.Copy(io.Discard, c) // until the client closes
	}()
	c, err := dialBuffered(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	sc := c.(*bufferedConn)
	for sc.r.Buffered() == 0 { // "b" may come in a read of its own
		if _, err := sc.r.Peek(1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sc.SyscallConn(); err != errStrayBytes {
		t.Errorf("with a byte in the buffer: got %v, want %v", err, errStrayBytes)
	}
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'b' {
		t.Fatalf("read %q, %v; want b", b, err)
	}
	if _, err := sc.SyscallConn(); err != nil {
		t.Errorf("with the buffer empty: got %v, want the socket", err)
	}
}
