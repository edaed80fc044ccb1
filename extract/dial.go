package extract

import (
	"bufio"
	"context"
	"errors"
	"net"
	"syscall"
)

// readBuffer is how much of the server's stream one read syscall takes.
// go-sql-driver reads its socket into a 4 KiB buffer, so a result set of
// small rows costs a read syscall per 4 KiB: about 150,000 for the
// benchmark's 2M rows, 5 % of a CSV run's CPU.
const readBuffer = 64 << 10

// dialBuffered dials as go-sql-driver does by default and reads the
// connection through a readBuffer: the driver's small reads are then
// served from memory. TLS, when configured, runs over it.
func dialBuffered(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer // TCP keep-alive on, as the driver sets it
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, readBuffer)}, nil
}

// bufferedConn is a net.Conn whose reads go through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// errStrayBytes fails the driver's liveness check of a connection whose
// buffer holds bytes nobody asked for.
var errStrayBytes = errors.New("unexpected bytes from the server")

// SyscallConn gives the driver the socket for its liveness check before
// it reuses a pooled connection: a peek for a close or stray bytes, which
// runs between commands, when the server has nothing to say. Stray bytes
// already in the buffer fail the check as they would on the socket, and
// the pool opens another connection.
func (c *bufferedConn) SyscallConn() (syscall.RawConn, error) {
	if c.r.Buffered() > 0 {
		return nil, errStrayBytes
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}
