package auth_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
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

// TestMiddlewareDeclaredLengthAtInt64Max: with no practical limit
// (WithMaxBodyBytes(math.MaxInt64)), a client that declares a
// Content-Length of 2⁶³-1 and sends one byte made readBody size its
// buffer from the declared length plus one, which wraps negative: the
// handler panicked and the connection closed without an answer. It gets
// 400 now, as any body cut short does.
func TestMiddlewareDeclaredLengthAtInt64Max(t *testing.T) {
	_, srv := unlimitedServer(t)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\nx", int64(math.MaxInt64))
	_ = c.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer (the handler panicked?): %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
}

// TestMiddlewareNoPracticalLimitTakesLargeBodies: with
// WithMaxBodyBytes(math.MaxInt64), the room for the bodies held at once
// was computed from the limit in KiB rounded up, which overflowed: it came
// to 64 KiB, and every request declaring a body over that was refused 503
// (ErrBusy), with no other request in flight. A signed 100 KiB body is
// verified now.
func TestMiddlewareNoPracticalLimitTakesLargeBodies(t *testing.T) {
	std, srv := unlimitedServer(t)
	body := `{"pad":"` + strings.Repeat("x", 100<<10) + `"}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
	if err := std.Sign(req.Header, auth.Message{ID: "msg_large", Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a signed 100 KiB body, alone: status %d, want 200", resp.StatusCode)
	}
}

// unlimitedServer serves a Standard Webhooks Middleware with no practical
// body limit (WithMaxBodyBytes(math.MaxInt64)) until t ends, and returns
// its scheme, to sign with.
func unlimitedServer(t *testing.T) (*auth.Scheme, *httptest.Server) {
	t.Helper()
	std, err := auth.NewStandard([]auth.Secret{auth.NewSecret([]byte("0123456789abcdef0123456789abcdef"))})
	if err != nil {
		t.Fatal(err)
	}
	mw := auth.Middleware(std, auth.WithMaxBodyBytes(math.MaxInt64))
	srv := httptest.NewServer(mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	t.Cleanup(srv.Close)
	return std, srv
}
