package listener_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/stalltest"
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
	t.Cleanup(srv.Close) // after the stalled clients leave: Close waits for their requests

	// 64 clients promise a body of the limit and send half of it.
	leave := stalltest.Open(t, srv.Listener.Addr().String(), 64, limit)
	var retry string
	post := func() int {
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"id":"e1","topic":"a:b"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		retry = resp.Header.Get("Retry-After")
		return resp.StatusCode
	}
	if code := stalltest.Until(post, http.StatusServiceUnavailable); code != http.StatusServiceUnavailable || retry == "" {
		t.Fatalf("with 64 bodies of the limit held: %d (Retry-After %q), want 503 with Retry-After", code, retry)
	}
	leave()
	if code := stalltest.Until(post, http.StatusNoContent); code != http.StatusNoContent {
		t.Fatalf("once the stalled clients left: %d, want 204", code)
	}
}
