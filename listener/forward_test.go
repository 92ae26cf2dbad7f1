package listener_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/listenertest"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

func newStandard(t *testing.T, key string) *auth.Scheme {
	t.Helper()
	s, err := auth.NewStandard([]auth.Secret{auth.NewSecret([]byte(key))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestForwardEndToEnd: a signed event arrives at the HTTP source, is
// verified, forwarded by Forward through a real Sender, and lands signed at
// a verifying TLS receiver; a redelivery keeps its webhook-id.
func TestForwardEndToEnd(t *testing.T) {
	inbound := newStandard(t, "inbound-secret-0123456789abcdef")
	outbound := newStandard(t, "outbound-secret-0123456789abcdef")
	rcv := sendertest.NewReceiver(t, outbound)
	dest := rcv.Destination(outbound)

	l := listener.New()
	mustOn(t, l, "job:*", listener.Forward(rcv.Sender(), dest))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() {
		runErr <- l.Run(ctx, &listener.HTTPServer{NetListener: ln, Handler: listener.HTTPHandler{Verifier: inbound}})
	}()
	url := "http://" + ln.Addr().String() + "/"
	body := `{"id":"evt_42","topic":"job:ready","context":{"tenant":"acme"},"payload":{"jobId":"j1"}}`
	send := func(msgID string) int {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if err := inbound.Sign(req.Header, auth.Message{ID: msgID, Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send("in_1"); code != http.StatusNoContent {
		t.Fatalf("first delivery: %d", code)
	}
	if code := send("in_2"); code != http.StatusNoContent { // the platform redelivers
		t.Fatalf("redelivery: %d", code)
	}
	// An unsigned request never reaches Forward.
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned: %d", resp.StatusCode)
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}

	ds := rcv.Deliveries()
	if len(ds) != 2 {
		t.Fatalf("receiver got %d deliveries, want 2", len(ds))
	}
	wantID := listener.DeliveryID(&listener.Event{ID: "evt_42", Topic: "job:ready"}, dest.Name)
	for _, d := range ds {
		if d.Err != nil {
			t.Fatalf("receiver could not verify: %v", d.Err)
		}
		if d.ID != wantID || d.Verified.ID != wantID {
			t.Fatalf("webhook-id %q, want %q", d.ID, wantID)
		}
		var got listener.Event
		if err := json.Unmarshal(d.Body, &got); err != nil {
			t.Fatalf("forwarded body is not an envelope: %v", err)
		}
		if got.ID != "evt_42" || got.Topic != "job:ready" || got.Context["tenant"] != "acme" || string(got.Payload) != `{"jobId":"j1"}` {
			t.Fatalf("forwarded %+v", got)
		}
	}
}

func TestForwardErrors(t *testing.T) {
	ev := listenertest.NewEvent(t, "job:ready", map[string]string{"jobId": "j1"})

	gone := sendertest.NewReceiver(t, nil, sendertest.Gone())
	err := listener.Forward(gone.Sender(), gone.Destination(nil))(context.Background(), ev)
	if !errors.Is(err, sender.ErrGone) || !listener.IsPermanent(err) {
		t.Fatalf("410: %v (permanent=%v)", err, listener.IsPermanent(err))
	}

	rejected := sendertest.NewReceiver(t, nil, sendertest.FailFirst(100, http.StatusUnprocessableEntity))
	err = listener.Forward(rejected.Sender(), rejected.Destination(nil))(context.Background(), ev)
	if !listener.IsPermanent(err) {
		t.Fatalf("422: %v should be permanent", err)
	}

	failing := sendertest.NewReceiver(t, nil, sendertest.FailFirst(100, http.StatusInternalServerError))
	s := failing.Sender()
	s.Retry.MaxAttempts = 2
	err = listener.Forward(s, failing.Destination(nil))(context.Background(), ev)
	if err == nil || listener.IsPermanent(err) {
		t.Fatalf("500: %v should be retryable", err)
	}

	// Through the HTTP source: 400 for the permanent failure, 500 for the
	// retryable one.
	for _, tc := range []struct {
		rcv  *sendertest.Receiver
		s    *sender.Sender
		want int
	}{{gone, gone.Sender(), http.StatusBadRequest}, {failing, s, http.StatusInternalServerError}} {
		l := listener.New()
		mustOn(t, l, "**", listener.Forward(tc.s, tc.rcv.Destination(nil)))
		if w := post(&listener.HTTPHandler{Dispatcher: l}, jsonHeader(), `{"id":"1","topic":"job:ready"}`); w.Code != tc.want {
			t.Errorf("status %d, want %d", w.Code, tc.want)
		}
	}
}

// failingSigner fails as a misconfigured signer does: not an outage of
// a key store, so the Sender reports it as not retryable.
type failingSigner struct{}

func (failingSigner) Sign(http.Header, auth.Message) error { return errors.New("no key loaded") }

// TestForwardConfigFaultsRetryable: through an in-process Sender, a
// destination whose configuration is at fault (a URL that is invalid, not
// https, or refused by the address guard; a Signer that fails) refuses
// the event retryably, so that the source keeps it until the
// configuration is fixed: 500 through the HTTP intake, not 400. So does
// an OAuth2 token URL that is not https. Nothing
// reaches the receiver, and the receiver's own refusal stays permanent.
func TestForwardConfigFaultsRetryable(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	ev := listenertest.NewEvent(t, "job:ready", map[string]string{"jobId": "j1"})
	guarded := &sender.Sender{Retry: sender.RetryPolicy{MaxAttempts: 1}} // loopback not allowed
	signed := rcv.Destination(failingSigner{})
	tokened := rcv.Destination(nil)
	tokened.OAuth2 = &sender.OAuth2{TokenURL: "http://127.0.0.1:1/token", ClientID: "c", ClientSecret: auth.NewSecret([]byte("client-secret-value"))}
	for _, tc := range []struct {
		name string
		s    *sender.Sender
		dest sender.Destination
		want error
	}{
		{"invalid URL", rcv.Sender(), sender.Destination{Name: "d", URL: "https://exa mple.com/hook"}, sender.ErrInvalidURL},
		{"not https", rcv.Sender(), sender.Destination{Name: "d", URL: "http://127.0.0.1:1/hook"}, sender.ErrInsecureURL},
		{"address refused", guarded, rcv.Destination(nil), sender.ErrBlockedAddr},
		{"signer fails", rcv.Sender(), signed, sender.ErrSign},
		{"token URL not https", rcv.Sender(), tokened, sender.ErrToken},
	} {
		err := listener.Forward(tc.s, tc.dest)(context.Background(), ev)
		if !errors.Is(err, tc.want) || listener.IsPermanent(err) {
			t.Errorf("%s: %v (permanent=%v), want a retryable error wrapping %v", tc.name, err, listener.IsPermanent(err), tc.want)
		}
		l := listener.New()
		mustOn(t, l, "**", listener.Forward(tc.s, tc.dest))
		if w := post(&listener.HTTPHandler{Dispatcher: l}, jsonHeader(), `{"id":"1","topic":"job:ready"}`); w.Code != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500", tc.name, w.Code)
		}
	}
	if n := len(rcv.Deliveries()); n != 0 {
		t.Fatalf("%d requests reached the receiver, want none", n)
	}
}

func TestForwardPayloadAndTopics(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	dest := rcv.Destination(nil)
	dest.Topics = []string{"job:*"}
	h := listener.ForwardPayload(rcv.Sender(), dest)
	ev := listenertest.NewEvent(t, "job:ready", map[string]string{"jobId": "j1"})
	if err := h(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if err := h(context.Background(), listenertest.NewEvent(t, "records:created", nil)); err != nil {
		t.Fatal(err)
	}
	ds, err := rcv.WaitFor(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(rcv.Deliveries()) != 1 || string(ds[0].Body) != `{"jobId":"j1"}` {
		t.Fatalf("deliveries %d, body %s", len(rcv.Deliveries()), ds[0].Body)
	}
}

// TestForwardDestinationHeadersFaultRetryable: a destination whose own
// settings cannot be sent (a header value with a line break, a header of
// the connection, a client certificate without its key) is a fault of the
// configuration, as a bad URL is: Forward's delivery ids and content type
// are always valid, so the Sender's ErrInvalidMessage can only be the
// destination's. The event is refused retryably (500 at the intake), so
// that the source keeps it until the configuration is fixed.
func TestForwardDestinationHeadersFaultRetryable(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	ev := listenertest.NewEvent(t, "job:ready", map[string]string{"jobId": "j1"})
	broken := rcv.Destination(nil)
	broken.Headers = http.Header{"X-Tenant": {"acme\r\nX-Admin: 1"}}
	conn := rcv.Destination(nil)
	conn.Headers = http.Header{"Connection": {"close"}}
	for name, dest := range map[string]sender.Destination{"line break": broken, "connection header": conn} {
		err := listener.Forward(rcv.Sender(), dest)(context.Background(), ev)
		if !errors.Is(err, sender.ErrInvalidMessage) || listener.IsPermanent(err) {
			t.Errorf("%s: %v (permanent=%v), want a retryable error wrapping ErrInvalidMessage", name, err, listener.IsPermanent(err))
		}
		l := listener.New()
		mustOn(t, l, "**", listener.Forward(rcv.Sender(), dest))
		if w := post(&listener.HTTPHandler{Dispatcher: l}, jsonHeader(), `{"id":"1","topic":"job:ready"}`); w.Code != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500", name, w.Code)
		}
	}
	if n := len(rcv.Deliveries()); n != 0 {
		t.Fatalf("%d requests reached the receiver, want none", n)
	}
}
