package listener_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/sender"
)

// TestPartitionKeySigned: behind a Verifier, the partition key comes from
// the signed body, native envelope or structured CloudEvent; a key changed
// after signing fails verification, and a malformed key is refused.
func TestPartitionKeySigned(t *testing.T) {
	in := newSignedIntake(t)
	native := `{"id":"evt_1","topic":"order:paid","partitionKey":"order-7"}`
	if code, reply := in.post(t, in.sign(t, "application/json", "msg_1", native), native); code != http.StatusNoContent {
		t.Fatalf("native envelope: %d %q", code, reply)
	}
	structured := `{"specversion":"1.0","id":"evt_2","type":"order:shipped","source":"/orders","partitionkey":"order-7"}`
	if code, reply := in.post(t, in.sign(t, listener.ContentTypeCloudEventsForTest, "msg_2", structured), structured); code != http.StatusNoContent {
		t.Fatalf("structured CloudEvent: %d %q", code, reply)
	}
	hdr := in.sign(t, "application/json", "msg_3", `{"id":"evt_3","topic":"order:paid","partitionKey":"order-8"}`)
	if code, _ := in.post(t, hdr, `{"id":"evt_3","topic":"order:paid","partitionKey":"order-9"}`); code != http.StatusUnauthorized {
		t.Errorf("a key changed after signing: %d, want 401", code)
	}
	bad := `{"id":"evt_4","topic":"order:paid","partitionKey":"a\u0001b"}`
	if code, reply := in.post(t, in.sign(t, "application/json", "msg_4", bad), bad); code != http.StatusBadRequest || !strings.Contains(reply, "partition key") {
		t.Errorf("a key with a control character: %d %q, want 400 about the partition key", code, reply)
	}
	got := in.events()
	if len(got) != 2 || got[0].PartitionKey != "order-7" || got[1].PartitionKey != "order-7" {
		t.Fatalf("handler saw %+v, want two events of key order-7", got)
	}
}

// TestPartitionKeyBinary: without a Verifier, a binary-mode CloudEvent
// gives its key in the ce-partitionkey header.
func TestPartitionKeyBinary(t *testing.T) {
	c := newCapture(t)
	h := ceHeader()
	h.Set("Ce-Partitionkey", "wb%2F1")
	if w := post(&listener.HTTPHandler{Dispatcher: c.l}, h, `{"n":1}`); w.Code != http.StatusNoContent {
		t.Fatalf("binary mode: %d %s", w.Code, w.Body)
	}
	if c.last == nil || c.last.PartitionKey != "wb/1" || c.last.Context["partitionkey"] != "wb/1" {
		t.Fatalf("event %+v, want key wb/1", c.last)
	}
}

// TestPartitionKeyEnvelope: the native envelope keeps the key across
// MarshalJSON and UnmarshalJSON, and an event without one encodes as
// before keys existed.
func TestPartitionKeyEnvelope(t *testing.T) {
	ev := listener.Event{ID: "e1", Topic: "a:b", PartitionKey: "k"}
	b, err := ev.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var back listener.Event
	if err := back.UnmarshalJSON(b); err != nil || back.PartitionKey != "k" {
		t.Fatalf("round trip of %s: %+v, %v", b, back, err)
	}
	ev.PartitionKey = ""
	if b, _ := ev.MarshalJSON(); string(b) != `{"id":"e1","topic":"a:b"}` {
		t.Errorf("without a key: %s", b)
	}
	if err := back.UnmarshalJSON([]byte(`{"id":"e1","topic":"a:b","partitionKey":"x","partitionKey":"y"}`)); err == nil {
		t.Error("a repeated partitionKey decoded")
	}
}

// keyRecorder is a Deliverer that records the messages it is given.
type keyRecorder struct{ msgs []sender.Message }

func (r *keyRecorder) Deliver(_ context.Context, _ []sender.Destination, msgs []sender.Message) error {
	r.msgs = append(r.msgs, msgs...)
	return nil
}

// TestForwardPartitionKey: Forward passes the event's key on with every
// message.
func TestForwardPartitionKey(t *testing.T) {
	var r keyRecorder
	h := listener.Forward(&r, sender.Destination{Name: "a"}, sender.Destination{Name: "b"})
	if err := h(context.Background(), &listener.Event{ID: "e1", Topic: "order:paid", PartitionKey: "order-7"}); err != nil {
		t.Fatal(err)
	}
	if len(r.msgs) != 2 || r.msgs[0].PartitionKey != "order-7" || r.msgs[1].PartitionKey != "order-7" {
		t.Fatalf("forwarded %+v, want two messages of key order-7", r.msgs)
	}
}
