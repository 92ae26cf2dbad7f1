package listener_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
)

// TestBodiesHeldAtOnceBounded: every request's body is read into memory
// before it can be verified, so clients that each send most of a body of
// MaxBodyBytes and stall held that much each, for as many connections as
// they open (10,000 stalled 1 MiB bodies, 10 GiB). An HTTPHandler holds at
// most 64 bodies of its MaxBodyBytes at once: a request beyond that is
// answered 503 with Retry-After before its body is read, so that its
// sender retries, and the room comes back when the stalled ones end.
func TestBodiesHeldAtOnceBounded(t *testing.T) {
	const limit = 1024
	l := listener.New()
	mustOn(t, l, "**", func(context.Context, *listener.Event) error { return nil })
	srv := httptest.NewServer(&listener.HTTPHandler{Dispatcher: l, MaxBodyBytes: limit})
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	// 64 clients promise a body of the limit and send half of it.
	var stalled []net.Conn
	defer func() {
		for _, c := range stalled {
			c.Close()
		}
	}()
	for i := range 64 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, c)
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"id\":\"s%d\",\"topic\":\"a:b\",\"payload\":\"%s", limit, i, strings.Repeat("x", limit/2))
	}
	post := func() (int, string) {
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"id":"e1","topic":"a:b"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	// The stalled requests take their room as their headers arrive:
	// until then a small event goes through.
	deadline := time.Now().Add(10 * time.Second)
	code, retry := post()
	for code != http.StatusServiceUnavailable && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		code, retry = post()
	}
	if code != http.StatusServiceUnavailable || retry == "" {
		t.Fatalf("with 64 bodies of the limit held: %d (Retry-After %q), want 503 with Retry-After", code, retry)
	}
	for _, c := range stalled {
		c.Close()
	}
	stalled = nil
	for code != http.StatusNoContent && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		code, _ = post()
	}
	if code != http.StatusNoContent {
		t.Fatalf("once the stalled clients left: %d, want 204", code)
	}
}
