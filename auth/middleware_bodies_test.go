package auth_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/stalltest"
)

// TestMiddlewareBodiesHeldAtOnceBounded: Middleware reads a body whole
// before verifying it, so unsigned clients that promise a body of the limit
// and stall held that much each, on as many connections as they opened. It
// now holds at most 64 bodies of its limit at once and answers a request
// beyond them 503 with Retry-After and ErrBusy before reading its body;
// the room comes back when the stalled clients leave.
func TestMiddlewareBodiesHeldAtOnceBounded(t *testing.T) {
	const limit = 1024
	std, err := auth.NewStandard([]auth.Secret{auth.NewSecret([]byte("0123456789abcdef0123456789abcdef"))})
	if err != nil {
		t.Fatal(err)
	}
	var busy atomic.Int32
	mw := auth.Middleware(std, auth.WithMaxBodyBytes(limit), auth.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, status int, err error) {
		if errors.Is(err, auth.ErrBusy) {
			busy.Add(1)
		}
		http.Error(w, auth.Reason(err), status)
	}))
	srv := httptest.NewServer(mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	t.Cleanup(srv.Close) // after the stalled clients leave: Close waits for their requests
	leave := stalltest.Open(t, srv.Listener.Addr().String(), 64, limit)
	var retry string
	post := func() int {
		body := `{"id":"e1"}`
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		if err := std.Sign(req.Header, auth.Message{ID: fmt.Sprint("msg_", time.Now().UnixNano()), Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		retry = resp.Header.Get("Retry-After")
		return resp.StatusCode
	}
	if code := stalltest.Until(post, http.StatusServiceUnavailable); code != http.StatusServiceUnavailable || retry == "" || busy.Load() == 0 {
		t.Fatalf("with 64 bodies of the limit held: %d (Retry-After %q, ErrBusy %d times), want 503 with Retry-After and ErrBusy", code, retry, busy.Load())
	}
	leave()
	if code := stalltest.Until(post, http.StatusOK); code != http.StatusOK {
		t.Fatalf("once the stalled clients left: %d, want 200", code)
	}
}
