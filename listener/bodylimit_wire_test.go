package listener_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/listener"
)

// wireLimit is the body limit of the servers of TestBodyLimitOnTheWire.
const wireLimit = 64

// rawExchange writes req on a fresh connection to addr and reads the first
// answer; it never waits more than 10 s, so a server that waits for a body
// it was promised fails the test instead of hanging it.
func rawExchange(t *testing.T, addr, req string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0 // the server closed the connection without an answer
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestBodyLimitOnTheWire speaks HTTP/1.1 by hand to auth.Middleware and to
// listener.HTTPHandler, each with a 64-byte limit and a verifier, as a
// client that lies about its body would: a Content-Length over the limit
// with the body never sent (refused at once, not waited for), one under
// it followed by more bytes, chunked bodies over the limit, a chunk longer
// than it says, Content-Length beside chunked, and malformed lengths. No
// handler ever runs on more than the limit, or on a body that is not the
// one signed.
func TestBodyLimitOnTheWire(t *testing.T) {
	std, err := auth.NewStandard([]auth.Secret{auth.NewSecret([]byte("0123456789abcdef0123456789abcdef"))})
	if err != nil {
		t.Fatal(err)
	}
	var runs, biggest atomic.Int64
	record := func(n int) {
		runs.Add(1)
		for b := biggest.Load(); int64(n) > b && !biggest.CompareAndSwap(b, int64(n)); b = biggest.Load() {
		}
	}
	mw := httptest.NewServer(auth.Middleware(std, auth.WithMaxBodyBytes(wireLimit))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		record(len(b))
	})))
	defer mw.Close()
	l := listener.New()
	mustOn(t, l, "**", func(_ context.Context, ev *listener.Event) error { record(len(ev.Payload)); return nil })
	lh := httptest.NewServer(&listener.HTTPHandler{Dispatcher: l, Verifier: std, MaxBodyBytes: wireLimit})
	defer lh.Close()

	small := `{"id":"e1","topic":"a:b"}`
	big := `{"id":"e2","topic":"a:b","payload":"` + strings.Repeat("x", 2*wireLimit) + `"}`
	head := func(body string) string {
		h := http.Header{"Content-Type": {"application/json"}}
		if err := std.Sign(h, auth.Message{ID: "msg_" + strconv.Itoa(len(body)), Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		b.WriteString("POST /events HTTP/1.1\r\nHost: herald.test\r\n")
		h.Write(&b)
		return b.String()
	}
	chunked := func(body string, chunk int) string {
		var b strings.Builder
		for len(body) > 0 {
			n := min(chunk, len(body))
			b.WriteString(strconv.FormatInt(int64(n), 16) + "\r\n" + body[:n] + "\r\n")
			body = body[n:]
		}
		return b.String() + "0\r\n\r\n"
	}
	tests := []struct {
		name string
		req  string
		ok   []int // acceptable statuses; 0: closed without an answer
	}{
		{"declared over the limit, never sent", head(big) + "Content-Length: 1000000\r\n\r\n" + big[:10], []int{413}},
		{"declared under the limit, more bytes follow", head(small) + "Content-Length: " + strconv.Itoa(len(small)) + "\r\n\r\n" + small + strings.Repeat("a", 4096), []int{200, 204}},
		{"declared short of the signed body", head(big) + "Content-Length: 20\r\n\r\n" + big, []int{401}},
		{"chunked over the limit", head(big) + "Transfer-Encoding: chunked\r\n\r\n" + chunked(big, 16), []int{413}},
		{"chunked over the limit in one chunk", head(big) + "Transfer-Encoding: chunked\r\n\r\n" + chunked(big, len(big)), []int{413}},
		{"chunk longer than it says", head(big) + "Transfer-Encoding: chunked\r\n\r\n10\r\n" + big + "\r\n0\r\n\r\n", []int{400, 401, 413, 0}},
		{"Content-Length beside chunked", head(big) + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(big, 16), []int{400, 413, 0}},
		{"negative Content-Length", head(small) + "Content-Length: -1\r\n\r\n" + small, []int{400, 0}},
		{"two Content-Lengths", head(small) + "Content-Length: 5\r\nContent-Length: 500\r\n\r\n" + small, []int{400, 0}},
		{"Content-Length past int64", head(small) + "Content-Length: 99999999999999999999\r\n\r\n" + small, []int{400, 413, 0}},
	}
	for _, srv := range []struct{ name, addr string }{{"auth.Middleware", mw.Listener.Addr().String()}, {"listener.HTTPHandler", lh.Listener.Addr().String()}} {
		for _, tt := range tests {
			before := runs.Load()
			got := rawExchange(t, srv.addr, tt.req)
			ok := false
			for _, s := range tt.ok {
				ok = ok || got == s
			}
			if !ok {
				t.Errorf("%s, %s: status %d, want one of %v", srv.name, tt.name, got, tt.ok)
			}
			if ran := runs.Load() - before; got < 300 && got != 0 && ran != 1 || (got >= 300 || got == 0) && ran != 0 {
				t.Errorf("%s, %s: status %d, the handler ran %d times", srv.name, tt.name, got, ran)
			}
		}
	}
	if b := biggest.Load(); b > wireLimit {
		t.Fatalf("a handler saw %d bytes, over the %d-byte limit", b, wireLimit)
	}
}
