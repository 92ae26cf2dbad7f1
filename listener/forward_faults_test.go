package listener_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

func sourcedCEHeader() http.Header {
	return http.Header{"Content-Type": {listener.ContentTypeCloudEventsForTest}}
}

// TestForwardKeysOnSource: two distinct CloudEvents (same id and type,
// different source: CloudEvents 1.0 makes source and id unique together)
// forwarded through a Queue over a bbolt file are both acknowledged and
// both stored. (Their delivery ids were the same, and the second event
// was silently lost.)
func TestForwardKeysOnSource(t *testing.T) {
	_, st, _, l := forwarding(t, "job:*")
	h := &listener.HTTPHandler{Dispatcher: l}
	for _, src := range []string{"https://tenant-a.example/jobs", "https://tenant-b.example/jobs"} {
		body := fmt.Sprintf(`{"specversion":"1.0","id":"1","type":"job:ready","source":%q,"data":{"src":%q}}`, src, src)
		if w := post(h, sourcedCEHeader(), body); w.Code != http.StatusNoContent {
			t.Fatalf("%s: status %d %s", src, w.Code, w.Body)
		}
	}
	s, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Pending != 2 {
		t.Fatalf("two distinct acknowledged events (different CloudEvents sources) left %d pending deliveries, want 2", s.Pending)
	}
}

// TestDedupeKeysOnSource: the same with WithDedupe: the second source's
// event is handled, not skipped as a duplicate.
func TestDedupeKeysOnSource(t *testing.T) {
	var mu sync.Mutex
	var got []string
	l := listener.New(listener.WithDedupe(time.Minute, 100))
	mustOn(t, l, "job:*", func(ctx context.Context, ev *listener.Event) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev.Context["source"])
		return nil
	})
	h := &listener.HTTPHandler{Dispatcher: l}
	for _, src := range []string{"/a", "/b"} {
		body := fmt.Sprintf(`{"specversion":"1.0","id":"1","type":"job:ready","source":%q}`, src)
		if w := post(h, sourcedCEHeader(), body); w.Code != http.StatusNoContent {
			t.Fatalf("status %d", w.Code)
		}
	}
	if len(got) != 2 {
		t.Fatalf("handler ran for sources %q, want both /a and /b", got)
	}
}

// TestValidEventForwardedDurably: an event that Event.Validate accepts is
// forwarded through a Queue as through a Sender. (An id holding a byte
// that is not UTF-8, which a custom Source may deliver, passed Validate
// and was then refused for good by the outbox; Validate now refuses it.)
func TestValidEventForwardedDurably(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	dest := rcv.Destination(nil)
	ev := &listener.Event{ID: "evt_\xff1", Topic: "job:ready"}
	if err := ev.Validate(); err != nil {
		return // refused at intake, consistently for every handler: fine
	}
	q := &outbox.Queue{Outbox: outbox.NewMemory(), Destinations: []sender.Destination{dest}}
	l := listener.New()
	mustOn(t, l, "job:*", listener.Forward(q, dest))
	err := l.Dispatch(context.Background(), ev)
	if err != nil {
		t.Fatalf("a valid event is refused by the durable Forward (permanent=%v): %v", listener.IsPermanent(err), err)
	}
}

var _ = errors.New
var _ = strings.Repeat

// TestEnvelopeNotHTMLEscaped: an event the HTTP intake accepts (6 MiB of
// '<', '>' and '&', under a configured 8 MiB MaxBodyBytes) is forwarded
// through a Queue. (Event.MarshalJSON HTML-escaped each to six bytes, the
// envelope passed the outbox's 32 MiB limit, and the event was refused for
// good.)
func TestEnvelopeNotHTMLEscaped(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	dest := rcv.Destination(nil)
	q := &outbox.Queue{Outbox: outbox.NewMemory(), Destinations: []sender.Destination{dest}}
	l := listener.New()
	mustOn(t, l, "job:*", listener.Forward(q, dest))
	h := &listener.HTTPHandler{Dispatcher: l, MaxBodyBytes: 8 << 20}
	body := `{"id":"evt_big","topic":"job:ready","payload":{"html":"` + strings.Repeat("<", 6<<20) + `"}}`
	if w := post(h, jsonHeader(), body); w.Code != http.StatusNoContent {
		t.Fatalf("a %d-byte event accepted by the intake is refused by Forward: status %d %s", len(body), w.Code, w.Body)
	}
}

// forwarding returns a receiver, a bbolt outbox, a Queue over it sending to
// the receiver, and a listener that forwards the events of pattern there.
func forwarding(t *testing.T, pattern string) (*sendertest.Receiver, outbox.Store, *outbox.Queue, *listener.Listener) {
	t.Helper()
	rcv := sendertest.NewReceiver(t, nil)
	dest := rcv.Destination(nil)
	st := openBolt(t)
	q := &outbox.Queue{Outbox: st, Sender: rcv.Sender(), Destinations: []sender.Destination{dest}, Poll: 10 * time.Millisecond}
	l := listener.New()
	mustOn(t, l, pattern, listener.Forward(q, dest))
	return rcv, st, q, l
}
