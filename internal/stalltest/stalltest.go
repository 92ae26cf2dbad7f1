// Package stalltest plays the clients that promise a request body and
// stall half way through it, as one holding a server's memory would, for
// the tests of the bound on bodies held at once (auth.Middleware and
// listener.HTTPHandler).
package stalltest

import (
	"bufio"
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
//
// Each request asks for 100 Continue, and its half body goes only once the
// server, having made room for the body, starts reading it. So Open returns
// once the server holds all n, and fails t if it refuses one: a request the
// test sends next cannot take the room of a stalled one still on its way,
// which would leave that room to every later request.
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
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if err := stall(c, length); err != nil {
			t.Fatalf("stalled request %d of %d: %v", i+1, n, err)
		}
	}
	return closeAll
}

// stall sends on c a request promising a body of length bytes, and half
// of that body once the server asks for it with 100 Continue.
func stall(c net.Conn, length int) error {
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", length)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		return fmt.Errorf("the server answered %q, not 100 Continue", strings.TrimSpace(line))
	}
	_, err = c.Write([]byte(strings.Repeat("x", length/2)))
	return err
}

// Until calls probe every 10 ms until it answers want or 10 seconds have
// passed, and returns its last answer.
func Until(probe func() int, want int) int {
	deadline := time.Now().Add(10 * time.Second)
	got := probe()
	for got != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		got = probe()
	}
	return got
}
