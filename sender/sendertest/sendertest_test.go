package sendertest_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// client is a plain HTTP client that trusts rcv.
func client(rcv *sendertest.Receiver) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: rcv.RootCAs()}}}
}

// retryAfter answers the first n requests 429 with a Retry-After of value.
func retryAfter(n int, value string) sendertest.Option {
	return sendertest.Respond(func(i int) (int, http.Header, []byte) {
		if i <= n {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {value}}, nil
		}
		return 0, nil, nil
	})
}

func post(t *testing.T, rcv *sendertest.Receiver, body string, h http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rcv.URL()+"/hook", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := client(rcv).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

func TestReceiverUnsigned(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	if !strings.HasPrefix(rcv.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s", rcv.URL())
	}
	resp := post(t, rcv, "one", http.Header{"Webhook-Id": {"a"}})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	post(t, rcv, "two", nil)
	ds, err := rcv.WaitFor(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(rcv.Deliveries()) != 2 || ds[0].ID != "a" || string(ds[0].Body) != "one" || ds[0].Status != 200 ||
		string(ds[1].Body) != "two" || ds[0].Err != nil {
		t.Fatalf("deliveries %+v", ds)
	}
	// Deliveries returns a copy.
	ds[0].ID = "changed"
	if rcv.Deliveries()[0].ID != "a" {
		t.Fatal("Deliveries shares its slice")
	}
}

func TestReceiverWaitForTimeout(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	post(t, rcv, "x", nil)
	ds, err := rcv.WaitFor(2, 20*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "timed out") || len(ds) != 1 {
		t.Fatalf("WaitFor = %d deliveries, %v; want 1 and a time-out", len(ds), err)
	}
}

func TestReceiverVerifies(t *testing.T) {
	sec := auth.NewSecret([]byte("0123456789abcdef0123456789abcdef"))
	std, err := auth.NewStandard([]auth.Secret{sec})
	if err != nil {
		t.Fatal(err)
	}
	rcv := sendertest.NewReceiver(t, std, sendertest.FailFirst(100, 500)) // scripts apply to verified requests only
	resp := post(t, rcv, "{}", nil)
	ds := rcv.Deliveries()
	if resp.StatusCode != http.StatusUnauthorized || len(ds) != 1 || !errors.Is(ds[0].Err, auth.ErrNoSignature) || ds[0].Status != 401 {
		t.Fatalf("status %d, deliveries %+v; want 401 with ErrNoSignature", resp.StatusCode, ds)
	}

	h := http.Header{}
	if err := std.Sign(h, auth.Message{ID: "msg_1", Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	resp = post(t, rcv, "{}", h)
	d := rcv.Deliveries()[1]
	if resp.StatusCode != 500 || d.Err != nil || d.Verified.Scheme != "standard" || d.Verified.ID != "msg_1" {
		t.Fatalf("status %d, delivery %+v", resp.StatusCode, d)
	}
	post(t, rcv, "{tampered}", h)
	if d := rcv.Deliveries()[2]; !errors.Is(d.Err, auth.ErrBadSignature) {
		t.Fatalf("tampered body: %+v", d)
	}
}

func TestReceiverScripts(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil,
		retryAfter(1, "7"),
		sendertest.FailFirst(2, 503),
		sendertest.Respond(func(n int) (int, http.Header, []byte) {
			if n == 3 {
				return 201, http.Header{"x-n": {"3"}}, []byte("made")
			}
			return 0, nil, nil
		}),
	)
	want := []struct {
		status int
		header string
		body   string
	}{{429, "7", ""}, {503, "", ""}, {201, "3", "made"}, {200, "", ""}}
	for i, w := range want {
		resp := post(t, rcv, "x", nil)
		b, _ := io.ReadAll(resp.Body)
		got := resp.Header.Get("Retry-After") + resp.Header.Get("X-N")
		if resp.StatusCode != w.status || got != w.header || string(b) != w.body {
			t.Errorf("request %d: %d %q %q; want %d %q %q", i+1, resp.StatusCode, got, b, w.status, w.header, w.body)
		}
	}
	if ds := rcv.Deliveries(); ds[0].Status != 429 || ds[2].Status != 201 {
		t.Errorf("recorded statuses %d, %d", ds[0].Status, ds[2].Status)
	}

	gone := sendertest.NewReceiver(t, nil, sendertest.Gone())
	if resp := post(t, gone, "x", nil); resp.StatusCode != 410 {
		t.Errorf("Gone answered %d", resp.StatusCode)
	}
}

func TestReceiverDelayEndsWhenClientLeaves(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil, sendertest.Delay(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rcv.URL(), strings.NewReader("x"))
	go func() {
		if _, err := rcv.WaitFor(1, time.Minute); err == nil {
			cancel()
		}
	}()
	if _, err := client(rcv).Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
	cancel()
	rcv.Close() // returns only once the delayed handler has given up
}

func TestReceiverSender(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil, sendertest.FailFirst(1, 502))
	s := rcv.Sender()
	res, err := s.Send(context.Background(), rcv.Destination(nil), sender.Message{Body: []byte("{}")})
	if err != nil || res.Attempts != 2 {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	if ds := rcv.Deliveries(); len(ds) != 2 || ds[0].ID != res.ID || ds[1].ID != res.ID {
		t.Fatalf("deliveries %+v", ds)
	}
}
