package sender_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/version"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

func TestSendSuccess(t *testing.T) {
	scheme := newTestScheme()
	rcv := sendertest.NewReceiver(t, scheme, sendertest.Respond(func(int) (int, http.Header, []byte) {
		return http.StatusAccepted, nil, []byte("thanks")
	}))
	s := rcv.Sender()
	dest := rcv.Destination(scheme)
	dest.URL += "/hooks?token=abc"
	dest.Headers = http.Header{"x-tenant": {"t1"}, "User-Agent": {"spoof"}, "Webhook-Id": {"spoof"}}
	body := []byte(`{"hello":"world"}`)

	res, err := s.Send(context.Background(), dest, sender.Message{Body: body, Topic: "job:ready"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := uuid.Parse(res.ID)
	if err != nil || id.Version() != 7 {
		t.Fatalf("id %q is not a UUIDv7 (%v)", res.ID, err)
	}
	if res.Attempts != 1 || res.Status != http.StatusAccepted || string(res.Body) != "thanks" || res.Latency <= 0 {
		t.Fatalf("result = %+v", res)
	}
	ds := rcv.Deliveries()
	if len(ds) != 1 {
		t.Fatalf("%d deliveries, want 1", len(ds))
	}
	d := ds[0]
	if d.Err != nil || d.ID != res.ID || d.Verified.ID != res.ID || !bytes.Equal(d.Body, body) {
		t.Fatalf("delivery = %+v", d)
	}
	for k, want := range map[string]string{
		"User-Agent":   "herald/" + version.Version,
		"Content-Type": "application/json",
		"X-Tenant":     "t1",
		"Webhook-Id":   res.ID,
	} {
		if got := d.Header.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if d.Header.Get("Idempotency-Key") != "" {
		t.Error("Idempotency-Key sent on the wire")
	}

	// A caller-given id and content type are kept.
	res, err = s.Send(context.Background(), dest, sender.Message{ID: "msg_1", Body: body, ContentType: "text/plain"})
	if err != nil || res.ID != "msg_1" {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	d = rcv.Deliveries()[1]
	if d.ID != "msg_1" || d.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("delivery = %+v", d)
	}
}

func TestSendRetriesWithFreshSignatures(t *testing.T) {
	scheme := newTestScheme()
	rcv := sendertest.NewReceiver(t, scheme, sendertest.FailFirst(2, http.StatusServiceUnavailable))
	s := rcv.Sender()
	var log attempts
	s.OnAttempt = log.hook
	res, err := s.Send(context.Background(), rcv.Destination(scheme), sender.Message{Body: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 3 || res.Status != 200 {
		t.Fatalf("result = %+v", res)
	}
	ds := rcv.Deliveries()
	sigs := map[string]bool{}
	for i, d := range ds {
		if d.Err != nil || d.ID != res.ID {
			t.Fatalf("delivery %d: id %q err %v, want id %q", i+1, d.ID, d.Err, res.ID)
		}
		sigs[d.Header.Get("X-Test-Signature")] = true
	}
	if len(ds) != 3 || len(sigs) != 3 {
		t.Fatalf("%d deliveries with %d distinct signatures, want 3 and 3", len(ds), len(sigs))
	}
	at := log.get()
	if len(at) != 3 || !at[0].Retry || !at[1].Retry || at[2].Retry || at[2].Err != nil ||
		!errors.Is(at[0].Err, sender.ErrServer) || at[0].Status != 503 || at[1].Number != 2 {
		t.Fatalf("attempts = %+v", at)
	}
}

func TestSendFailures(t *testing.T) {
	tests := []struct {
		name      string
		opts      []sendertest.Option
		policy    sender.RetryPolicy
		want      []error
		status    int
		attempts  int
		retryable bool
	}{
		{"400 not retried", []sendertest.Option{sendertest.FailFirst(100, 400)}, sender.RetryPolicy{}, []error{sender.ErrRejected}, 400, 1, false},
		{"401 not retried", []sendertest.Option{sendertest.FailFirst(100, 401)}, sender.RetryPolicy{}, []error{sender.ErrRejected}, 401, 1, false},
		{"410 gone", []sendertest.Option{sendertest.Gone()}, sender.RetryPolicy{}, []error{sender.ErrGone}, 410, 1, false},
		{"501 not retried", []sendertest.Option{sendertest.FailFirst(100, 501)}, sender.RetryPolicy{}, []error{sender.ErrServer}, 501, 1, false},
		{"503 exhausted", []sendertest.Option{sendertest.FailFirst(100, 503)}, sender.RetryPolicy{MaxAttempts: 3}, []error{sender.ErrServer, sender.ErrGaveUp}, 503, 3, true},
		{"408 exhausted", []sendertest.Option{sendertest.FailFirst(100, 408)}, sender.RetryPolicy{MaxAttempts: 2}, []error{sender.ErrRateLimited, sender.ErrGaveUp}, 408, 2, true},
		{"425 exhausted", []sendertest.Option{sendertest.FailFirst(100, 425)}, sender.RetryPolicy{MaxAttempts: 2}, []error{sender.ErrRateLimited, sender.ErrGaveUp}, 425, 2, true},
		{"MaxElapsed stops retries", []sendertest.Option{sendertest.FailFirst(100, 500)},
			sender.RetryPolicy{MinWait: time.Hour, MaxElapsed: time.Minute}, []error{sender.ErrServer, sender.ErrGaveUp}, 500, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			scheme := newTestScheme()
			rcv := sendertest.NewReceiver(t, scheme, tt.opts...)
			s := rcv.Sender()
			if tt.policy != (sender.RetryPolicy{}) {
				if tt.policy.MinWait == 0 {
					tt.policy.MinWait = time.Millisecond
				}
				s.Retry = tt.policy
			}
			res, err := s.Send(context.Background(), rcv.Destination(scheme), sender.Message{Body: []byte("x")})
			de := mustDeliveryError(t, err)
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not match %v", err, w)
				}
			}
			if de.Retryable != tt.retryable ||
				res.Status != tt.status || res.Attempts != tt.attempts || len(rcv.Deliveries()) != tt.attempts {
				t.Errorf("error %+v, result %+v, %d received; want status %d, %d attempts, retryable %v",
					de, res, len(rcv.Deliveries()), tt.status, tt.attempts, tt.retryable)
			}
		})
	}
}

func TestSendRedirectNotFollowed(t *testing.T) {
	scheme := newTestScheme()
	var rcv *sendertest.Receiver
	rcv = sendertest.NewReceiver(t, scheme, sendertest.Respond(func(int) (int, http.Header, []byte) {
		return http.StatusTemporaryRedirect, http.Header{"Location": {rcv.URL() + "/elsewhere?sig=secret"}}, nil
	}))
	res, err := rcv.Sender().Send(context.Background(), rcv.Destination(scheme), sender.Message{Body: []byte("x")})
	de := mustDeliveryError(t, err)
	if !errors.Is(err, sender.ErrRejected) || de.Retryable || res.Status != 307 || len(rcv.Deliveries()) != 1 {
		t.Fatalf("err %v (%+v), %d received; want ErrRejected (redirect refused) after 1 request", err, de, len(rcv.Deliveries()))
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("error quotes the Location: %v", err)
	}
}

func TestSendAttemptTimeout(t *testing.T) {
	scheme := newTestScheme()
	rcv := sendertest.NewReceiver(t, scheme, sendertest.Delay(time.Minute))
	s := rcv.Sender()
	s.AttemptTimeout = 50 * time.Millisecond
	s.Retry.MaxAttempts = 2
	res, err := s.Send(context.Background(), rcv.Destination(scheme), sender.Message{Body: []byte("x")})
	de := mustDeliveryError(t, err)
	if !errors.Is(err, sender.ErrTimeout) || !errors.Is(err, sender.ErrGaveUp) || !de.Retryable || res.Attempts != 2 {
		t.Fatalf("err %v, result %+v; want a retryable ErrTimeout after 2 attempts", err, res)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an attempt timeout must not look like the caller's deadline: %v", err)
	}
	if _, err := rcv.WaitFor(2, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestSendCancelDuringWait(t *testing.T) {
	scheme := newTestScheme()
	rcv := sendertest.NewReceiver(t, scheme, sendertest.FailFirst(100, http.StatusServiceUnavailable))
	s := rcv.Sender()
	s.Retry = sender.RetryPolicy{MinWait: time.Hour, MaxWait: time.Hour, MaxElapsed: 24 * time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log attempts
	s.OnAttempt = func(a sender.Attempt) {
		log.hook(a)
		if a.Retry {
			cancel() // cancel as the hour-long wait begins
		}
	}
	res, err := s.Send(ctx, rcv.Destination(scheme), sender.Message{Body: []byte("x")})
	de := mustDeliveryError(t, err)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, sender.ErrServer) || !de.Retryable {
		t.Fatalf("err = %v; want context.Canceled with the last cause", err)
	}
	if res.Attempts != 1 || len(rcv.Deliveries()) != 1 {
		t.Fatalf("%d attempts, %d received; want 1", res.Attempts, len(rcv.Deliveries()))
	}
	if at := log.get(); len(at) != 1 || at[0].Wait != time.Hour {
		t.Fatalf("attempts = %+v", at)
	}
}

func TestSendCallerDeadlineDuringAttempt(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil, sendertest.Delay(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res, err := rcv.Sender().Send(ctx, rcv.Destination(nil), sender.Message{})
	de := mustDeliveryError(t, err)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sender.ErrTimeout) || !de.Retryable || res.Attempts != 1 {
		t.Fatalf("err = %v after %d attempts; want the caller's deadline, not an attempt timeout", err, res.Attempts)
	}
}

func TestSendDeadlineShorterThanWait(t *testing.T) {
	scheme := newTestScheme()
	rcv := sendertest.NewReceiver(t, scheme, sendertest.FailFirst(100, 500))
	s := rcv.Sender()
	s.Retry = sender.RetryPolicy{MinWait: time.Hour, MaxWait: time.Hour, MaxElapsed: 24 * time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.Send(ctx, rcv.Destination(scheme), sender.Message{Body: []byte("x")})
	if !errors.Is(err, sender.ErrGaveUp) || !errors.Is(err, sender.ErrServer) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want ErrGaveUp at once instead of waiting past the deadline", err)
	}
}

func TestSendRetryAfter(t *testing.T) {
	tests := []struct {
		name          string
		value         func() string
		maxWait       time.Duration
		atLeast, most time.Duration
	}{
		{"seconds honoured", func() string { return "1" }, 5 * time.Second, time.Second, time.Second},
		{"date honoured", func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }, 5 * time.Second, time.Millisecond, 2 * time.Second},
		{"seconds capped", func() string { return "3600" }, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond},
		{"date capped", func() string { return time.Now().Add(time.Hour).UTC().Format(http.TimeFormat) }, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			scheme := newTestScheme()
			rcv := sendertest.NewReceiver(t, scheme, sendertest.Respond(func(n int) (int, http.Header, []byte) {
				if n == 1 {
					return 429, http.Header{"Retry-After": {tt.value()}}, nil
				}
				return 0, nil, nil
			}))
			s := rcv.Sender()
			s.Retry.MaxWait = tt.maxWait
			var log attempts
			s.OnAttempt = log.hook
			res, err := s.Send(context.Background(), rcv.Destination(scheme), sender.Message{Body: []byte("x")})
			if err != nil || res.Attempts != 2 {
				t.Fatalf("Send = %+v, %v", res, err)
			}
			at := log.get()
			if !errors.Is(at[0].Err, sender.ErrRateLimited) || at[0].Wait < tt.atLeast || at[0].Wait > tt.most {
				t.Fatalf("first attempt %+v; want a wait within [%s, %s]", at[0], tt.atLeast, tt.most)
			}
		})
	}
}

func TestSendHTTPRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	s := &sender.Sender{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	dest := sender.Destination{URL: srv.URL + "/hook?key=hunter2"}
	res, err := s.Send(context.Background(), dest, sender.Message{})
	de := mustDeliveryError(t, err)
	if !errors.Is(err, sender.ErrInsecureURL) || de.Retryable || res.Attempts != 0 {
		t.Fatalf("err = %v, result %+v; want ErrInsecureURL before any attempt", err, res)
	}
	if !strings.Contains(err.Error(), "AllowHTTP") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error text %q should name AllowHTTP and hide the query", err)
	}
	if err := s.Validate(dest); !errors.Is(err, sender.ErrInsecureURL) {
		t.Fatalf("Validate = %v", err)
	}

	s2 := &sender.Sender{AllowHTTP: true, AllowNetworks: s.AllowNetworks}
	if _, err := s2.Send(context.Background(), dest, sender.Message{}); err != nil {
		t.Fatalf("with AllowHTTP: %v", err)
	}
}

func TestSendBadURLs(t *testing.T) {
	s := &sender.Sender{}
	for _, raw := range []string{"", "ftp://example.com/x", "https:///nohost", "https://exa mple.com/?secret=hunter2", "::", "https://[::1/x?secret=hunter2"} {
		_, err := s.Send(context.Background(), sender.Destination{URL: raw}, sender.Message{})
		if !errors.Is(err, sender.ErrInvalidURL) || strings.Contains(fmt.Sprint(err), "hunter2") {
			t.Errorf("Send(%q) = %v; want ErrInvalidURL without the query", raw, err)
		}
	}
	// A host that is not UTF-8 was sent to another host (each bad byte
	// became U+FFFD, and the name xn--zn7c), and a port past 65535 failed
	// only at the first attempt, which Validate let through: both are now
	// refused before any attempt, by Send and by Validate. The resolver
	// fails every lookup, so a Send that gets as far as one fails with
	// ErrNetwork, not ErrInvalidURL.
	s = &sender.Sender{LookupNetIP: func(context.Context, string, string) ([]netip.Addr, error) {
		return nil, errors.New("no lookups in this test")
	}}
	for _, raw := range []string{"https://\xff.example.com/", "https://ex\xc3ample.com/", "https://example.com:99999/", "https://example.com:0/", "https://[2001:db8::1]:65536/"} {
		res, err := s.Send(context.Background(), sender.Destination{URL: raw}, sender.Message{})
		if !errors.Is(err, sender.ErrInvalidURL) || res.Attempts != 0 {
			t.Errorf("Send(%q) = %d attempts, %v; want ErrInvalidURL before any attempt", raw, res.Attempts, err)
		}
		if err := s.Validate(sender.Destination{URL: raw}); !errors.Is(err, sender.ErrInvalidURL) {
			t.Errorf("Validate(%q) = %v; want ErrInvalidURL", raw, err)
		}
	}
	// A nil context is treated as Background rather than panicking.
	if _, err := s.Send(nil, sender.Destination{URL: "https://10.1.2.3/"}, sender.Message{}); !errors.Is(err, sender.ErrBlockedAddr) {
		t.Errorf("nil ctx: %v", err)
	}
}

func TestSendInvalidMessage(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	s := rcv.Sender()
	for _, m := range []sender.Message{
		{ID: "has space"},
		{ID: "line\nbreak"},
		{ID: strings.Repeat("x", 257)},
		{ID: "ok", ContentType: "text/plain\r\nX-Injected: 1"},
	} {
		res, err := s.Send(context.Background(), rcv.Destination(nil), m)
		if !errors.Is(err, sender.ErrInvalidMessage) || res.Attempts != 0 {
			t.Errorf("Send(%q, %q) = %v after %d attempts; want ErrInvalidMessage before any", m.ID, m.ContentType, err, res.Attempts)
		}
	}
	// A destination header net/http cannot send is refused before any
	// attempt, not retried as a network error, and never quoted.
	for _, h := range []http.Header{
		{"X-Tenant": {"acme\r\nX-Injected: hunter2"}},
		{"Bad Name": {"hunter2"}},
	} {
		dest := rcv.Destination(nil)
		dest.Headers = h
		res, err := s.Send(context.Background(), dest, sender.Message{})
		if !errors.Is(err, sender.ErrInvalidMessage) || res.Attempts != 0 || strings.Contains(fmt.Sprint(err), "hunter2") {
			t.Errorf("Send with headers %q = %v after %d attempts; want ErrInvalidMessage before any, value unquoted", h, err, res.Attempts)
		}
	}
	if len(rcv.Deliveries()) != 0 {
		t.Fatalf("%d requests reached the receiver", len(rcv.Deliveries()))
	}
}

// TestSendRefusesConnectionHeaders: a Destination.Headers entry that
// belongs to the connection (Connection, Upgrade, Transfer-Encoding, TE)
// is refused before any attempt. Over HTTP/2 net/http cannot send it, so
// every attempt failed as a retryable network error, and an outbox kept
// retrying a delivery that could never go out.
func TestSendRefusesConnectionHeaders(t *testing.T) {
	var reached atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	s := trustingSender(srv)
	for _, h := range []http.Header{
		{"Upgrade": {"websocket"}},
		{"connection": {"upgrade"}},
		{"Transfer-Encoding": {"gzip"}},
		{"TE": {"gzip"}},
	} {
		res, err := s.Send(context.Background(), sender.Destination{URL: srv.URL, Headers: h}, sender.Message{Body: []byte(`{}`)})
		if !errors.Is(err, sender.ErrInvalidMessage) || res.Attempts != 0 || mustDeliveryError(t, err).Retryable {
			t.Errorf("Send with headers %v = %v after %d attempts; want ErrInvalidMessage before any, not retryable", h, err, res.Attempts)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("%d requests reached the receiver", n)
	}
	// Headers of the message itself still go out over HTTP/2.
	if _, err := s.Send(context.Background(), sender.Destination{URL: srv.URL, Headers: http.Header{"X-Tenant": {"acme"}}}, sender.Message{Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
}

func TestSendCertificateErrorNotRetried(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	s := &sender.Sender{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Retry: sender.RetryPolicy{MinWait: time.Millisecond}}
	res, err := s.Send(context.Background(), rcv.Destination(nil), sender.Message{})
	de := mustDeliveryError(t, err)
	if !errors.Is(err, sender.ErrNetwork) || !de.Retryable || res.Attempts != 1 {
		t.Fatalf("err = %v, result %+v; want one attempt, a retryable ErrNetwork (for an outbox's schedule)", err, res)
	}
}

// maxResponseBody is the documented bound on Result.Body: 64 KiB.
const maxResponseBody = 64 << 10

func TestSendResponseBodyBounded(t *testing.T) {
	big := bytes.Repeat([]byte("a"), maxResponseBody+1000)
	rcv := sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
		return 400, nil, big
	}))
	res, err := rcv.Sender().Send(context.Background(), rcv.Destination(nil), sender.Message{})
	if !errors.Is(err, sender.ErrRejected) || len(res.Body) != maxResponseBody {
		t.Fatalf("err %v, %d body bytes; want ErrRejected and %d", err, len(res.Body), maxResponseBody)
	}
}

// A receiver answering with megabytes of headers costs an attempt no more
// than 64 KiB of them: the attempt fails, retryable, as a network error.
func TestSendResponseHeadersBounded(t *testing.T) {
	h := http.Header{}
	for i := range 100 {
		h.Set(fmt.Sprintf("X-Pad-%d", i), strings.Repeat("p", 1000))
	}
	rcv := sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
		return 200, h, nil
	}))
	s := rcv.Sender()
	s.Retry.MaxAttempts = 1
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := s.Send(context.Background(), rcv.Destination(nil), sender.Message{})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, sender.ErrNetwork) || !strings.Contains(err.Error(), "header") {
		t.Fatalf("err = %v; want a network error about the headers", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("the attempt allocated %d bytes for 100 KB of headers", n)
	}
}

func TestSendConcurrent(t *testing.T) {
	scheme := newTestScheme()
	// The first ten requests fail, whichever deliveries they belong to; with
	// more attempts than that, every delivery must still succeed.
	rcv := sendertest.NewReceiver(t, scheme, sendertest.Respond(func(n int) (int, http.Header, []byte) {
		if n <= 10 {
			return 502, nil, nil
		}
		return 0, nil, nil
	}))
	s := rcv.Sender()
	s.Retry.MaxAttempts = 12
	const n = 40
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			res, err := s.Send(context.Background(), rcv.Destination(scheme), sender.Message{Body: fmt.Appendf(nil, `{"i":%d}`, i)})
			ids[i], errs[i] = res.ID, err
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("send %d: %v", i, errs[i])
		}
		seen[ids[i]] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct ids, want %d", len(seen), n)
	}
	for i, d := range rcv.Deliveries() {
		if d.Err != nil {
			t.Fatalf("delivery %d failed verification: %v", i+1, d.Err)
		}
	}
}

// kmsDown is a Signer whose key store cannot be reached.
type kmsDown struct{ err error }

func (k kmsDown) Sign(http.Header, auth.Message) error {
	return fmt.Errorf("auth: standard-v1a: key kms-1: the key's signer failed: %w", k.err)
}

// TestSignerOutageIsRetryable: a Signer that cannot reach its key store
// (a network error, a timeout) fails the delivery with ErrSign, retryable
// later from an outbox; any other signing failure stays final.
func TestSignerOutageIsRetryable(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	s := rcv.Sender()
	for _, c := range []struct {
		err       error
		retryable bool
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{context.DeadlineExceeded, true},
		{auth.ErrBadKey, false},
	} {
		_, err := s.Send(context.Background(), rcv.Destination(kmsDown{c.err}), sender.Message{Body: []byte(`{}`)})
		if !errors.Is(err, sender.ErrSign) || !errors.Is(err, c.err) || mustDeliveryError(t, err).Retryable != c.retryable {
			t.Errorf("signer failing with %v: %v, want ErrSign, retryable %v", c.err, err, c.retryable)
		}
	}
}

// headerSetter is a Signer of a caller's that sets one header as given.
type headerSetter struct{ name, value string }

func (s headerSetter) Sign(h http.Header, _ auth.Message) error {
	h[s.name] = []string{s.value}
	return nil
}

// TestSignerUnsendableHeader: a Signer that set a header net/http will not
// send (a line break in its value, say a PEM, or a name that is not a
// token) failed every attempt as a retryable network error: Send made all
// its attempts, and an outbox would try for its whole schedule. It is now
// a signing failure, final, before any request.
func TestSignerUnsendableHeader(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	s := rcv.Sender()
	for _, sg := range []headerSetter{
		{"X-Signature", "abc\r\ndef"},
		{"X-Signature", "abc\x00"},
		{"X-Sig nature", "abc"},
		{"Transfer-Encoding", "chunked"},
	} {
		res, err := s.Send(context.Background(), rcv.Destination(sg), sender.Message{Body: []byte(`{}`)})
		if !errors.Is(err, sender.ErrSign) || mustDeliveryError(t, err).Retryable || res.Attempts > 1 {
			t.Errorf("signer setting %q: %d attempts, %v; want ErrSign, not retryable, no retry", sg.name, res.Attempts, err)
		}
	}
	if n := len(rcv.Deliveries()); n != 0 {
		t.Errorf("the receiver got %d requests", n)
	}
}

// TestSendDestinationIdempotencyKey: an Idempotency-Key that
// Destination.Headers sets is sent, as every header it sets is. (The
// sender marked requests replayable with an empty Idempotency-Key, which
// replaced the caller's: it never arrived.)
func TestSendDestinationIdempotencyKey(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	dest := rcv.Destination(nil)
	dest.Headers = http.Header{"Idempotency-Key": {"order-42"}}
	if _, err := rcv.Sender().Send(context.Background(), dest, sender.Message{Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if d := rcv.Deliveries(); len(d) != 1 || d[0].Header.Get("Idempotency-Key") != "order-42" {
		t.Fatalf("deliveries %+v; want one with Idempotency-Key order-42", d)
	}
}
