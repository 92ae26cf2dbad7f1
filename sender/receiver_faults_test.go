package sender_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/sender"
)

// fault is what a misbehaving receiver does with one request, given the
// connection it hijacked after reading the request.
type fault func(c net.Conn, rw *bufio.ReadWriter)

var (
	// dropBeforeAnswer closes the connection without a word.
	dropBeforeAnswer fault = func(c net.Conn, _ *bufio.ReadWriter) { c.Close() }
	// resetBeforeAnswer aborts the connection: the client sees a reset.
	resetBeforeAnswer fault = func(c net.Conn, _ *bufio.ReadWriter) {
		raw := c.(*tls.Conn).NetConn().(*net.TCPConn) // under TLS: no close_notify
		raw.SetLinger(0)
		raw.Close()
	}
	// truncatedAnswer sends a status line and headers promising a body,
	// part of the body, and closes.
	truncatedAnswer fault = func(c net.Conn, rw *bufio.ReadWriter) {
		rw.WriteString("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\nabc")
		rw.Flush()
		c.Close()
	}
	// garbageAnswer answers with bytes that are not HTTP.
	garbageAnswer fault = func(c net.Conn, rw *bufio.ReadWriter) {
		rw.WriteString("\x00\x01 SSH-2.0-OpenSSH\r\n\r\n")
		rw.Flush()
		c.Close()
	}
)

// faultyReceiver is a TLS receiver that answers the first len(faults)
// requests with those faults, in order, and 204 after; it counts the
// requests and the distinct webhook-ids.
type faultyReceiver struct {
	srv    *httptest.Server
	faults []fault
	n      atomic.Int64
	mu     sync.Mutex
	ids    map[string]int
}

func newFaultyReceiver(t *testing.T, faults ...fault) *faultyReceiver {
	r := &faultyReceiver{faults: faults, ids: map[string]int{}}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		r.mu.Lock()
		r.ids[req.Header.Get("Webhook-Id")]++
		r.mu.Unlock()
		n := int(r.n.Add(1)) - 1
		if n >= len(r.faults) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		r.faults[n](c, rw)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *faultyReceiver) sender(t *testing.T) *sender.Sender {
	roots := x509.NewCertPool()
	roots.AddCert(r.srv.Certificate())
	s := &sender.Sender{
		TLS:           &tls.Config{RootCAs: roots},
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Retry:         sender.RetryPolicy{MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond, MaxAttempts: 5},
	}
	t.Cleanup(s.CloseIdleConnections)
	return s
}

// TestSendReceiverDropsConnections: a receiver that drops, resets,
// truncates or garbles its answers is retried, under the same webhook-id,
// until it answers; and when it never does, Send gives up with a
// retryable error that says what the connection did.
func TestSendReceiverDropsConnections(t *testing.T) {
	for name, tc := range map[string]struct {
		f    fault
		says string // what the error says the connection did
	}{
		"drop":      {dropBeforeAnswer, "network error: EOF"},
		"reset":     {resetBeforeAnswer, "connection reset by peer"},
		"truncated": {truncatedAnswer, "status 500"},
		"garbage":   {garbageAnswer, "malformed HTTP status"},
	} {
		f := tc.f
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newFaultyReceiver(t, f, f)
			s := r.sender(t)
			dest := sender.Destination{Name: "faulty", URL: r.srv.URL, Signer: newTestScheme()}
			res, err := s.Send(context.Background(), dest, sender.Message{ID: "msg_1", Body: []byte("{}")})
			if err != nil {
				t.Fatalf("Send after two faults: %v", err)
			}
			if res.Attempts != 3 || r.n.Load() != 3 {
				t.Errorf("%d attempts, %d requests; want 3 and 3", res.Attempts, r.n.Load())
			}
			if len(r.ids) != 1 || r.ids["msg_1"] != 3 {
				t.Errorf("webhook-ids received %v; want msg_1 three times", r.ids)
			}

			never := newFaultyReceiver(t, f, f, f, f, f, f)
			s = never.sender(t)
			dest.URL = never.srv.URL
			_, err = s.Send(context.Background(), dest, sender.Message{ID: "msg_2", Body: []byte("{}")})
			de := mustDeliveryError(t, err)
			if !de.Retryable || !errors.Is(err, sender.ErrGaveUp) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q (retryable %v); want a retryable ErrGaveUp saying %q", err, de.Retryable, tc.says)
			}
		})
	}
}

// TestSendReceiverStallsMidAnswer: a receiver that sends its status line
// and then stalls, never finishing its headers or its body, costs an
// attempt its AttemptTimeout, not the caller's patience.
func TestSendReceiverStallsMidAnswer(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	stall := func(part string) fault {
		return func(c net.Conn, rw *bufio.ReadWriter) {
			rw.WriteString(part)
			rw.Flush()
			<-release
			c.Close()
		}
	}
	for name, f := range map[string]fault{
		"in headers": stall("HTTP/1.1 204 No Content\r\nX-Slow: "),
		"in body":    stall("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\nabc"),
	} {
		t.Run(name, func(t *testing.T) {
			r := newFaultyReceiver(t, f)
			s := r.sender(t)
			s.AttemptTimeout = 200 * time.Millisecond
			dest := sender.Destination{Name: "stalling", URL: r.srv.URL, Signer: newTestScheme()}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := s.Send(ctx, dest, sender.Message{ID: "msg_1", Body: []byte("{}")})
			if err != nil || res.Attempts != 2 {
				t.Fatalf("Send past a stalled attempt: %+v, %v; want success on the second attempt", res, err)
			}
		})
	}
}

// TestSendReceiverErrorTextBounded: net/http quotes what a receiver sent
// in some of its errors, and a status line of 60 KB (within the 64 KiB the
// Sender reads of headers) made an error, and each log line of the
// attempt, of 240 KB. The network error's own text is now cut to 1 KiB, and
// errors.Is and errors.As still see the whole chain.
func TestSendReceiverErrorTextBounded(t *testing.T) {
	long := func(c net.Conn, rw *bufio.ReadWriter) {
		rw.WriteString("HTTP/1.1 2" + strings.Repeat("\x1b", 60000) + "\r\n\r\n")
		rw.Flush()
		c.Close()
	}
	r := newFaultyReceiver(t, long, long)
	s := r.sender(t)
	s.Retry.MaxAttempts = 2
	var logs strings.Builder
	s.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, err := s.Send(context.Background(), sender.Destination{Name: "long", URL: r.srv.URL}, sender.Message{ID: "msg_1"})
	if !errors.Is(err, sender.ErrNetwork) || !strings.Contains(err.Error(), "malformed HTTP status") {
		t.Fatalf("err = %.200v; want a network error about the status", err)
	}
	if n := len(err.Error()); n > 2<<10 {
		t.Errorf("the error's text is %d bytes", n)
	}
	for line := range strings.Lines(logs.String()) {
		if len(line) > 8<<10 {
			t.Errorf("a log line of %d bytes: %.200s", len(line), line)
		}
	}
}
