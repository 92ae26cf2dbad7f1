// Package stalltest plays the clients that promise a request body and
// stall half way through it, as one holding a server's memory would, for
// the tests of the bound on bodies held at once (auth.Middleware and
// listener.HTTPHandler).
package stalltest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// Open dials addr n times and sends on each connection a POST whose
// Content-Length is length, followed by half of that body, and returns a
// function that closes them all (also called when t ends, before the
// cleanups registered earlier: register the server's Close with
// t.Cleanup before calling Open, since an httptest.Server's Close waits
// for the requests these connections hold open).
func Open(t testing.TB, addr string, n, length int) (closeAll func()) {
	t.Helper()
	var conns []net.Conn
	closeAll = func() {
		for _, c := range conns {
			c.Close()
		}
		conns = nil
	}
	t.Cleanup(closeAll)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", length, strings.Repeat("x", length/2))
	}
	return closeAll
}

// Until calls probe every 10 ms until it answers want or 10 seconds have
// passed, and returns its last answer: the stalled requests take their
// room as their headers reach the server, a moment after Open returns.
func Until(probe func() int, want int) int {
	deadline := time.Now().Add(10 * time.Second)
	got := probe()
	for got != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		got = probe()
	}
	return got
}
