package boltstore_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestOldRecordsOutsideTheTextRule: a delivery stored by an earlier build,
// whose topic, event id and content type hold characters the text rule
// now refuses (a bidi override, a line separator, a C1 control), is still
// delivered from the file; the rule refuses new input only.
func TestOldRecordsOutsideTheTextRule(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	s, _ := open(t)
	now := time.Now()
	old := outbox.Delivery{ID: "old-1", Destination: "sendertest", Topic: "job:re\u202eady", EventID: "evt\u2028x",
		ContentType: "application/json; x=\u0085", Body: []byte(`{}`), Created: now, Due: now}
	if err := s.Put(ctx, old); err != nil {
		t.Fatalf("Put of an earlier build's delivery: %v", err)
	}
	q := &outbox.Queue{Outbox: s, Sender: rcv.Sender(), Destinations: []sender.Destination{rcv.Destination(nil)}, Poll: 5 * time.Millisecond}
	if _, err := q.Enqueue(ctx, "sendertest", sender.Message{ID: "new-1", Topic: old.Topic, Body: []byte(`{}`)}); err == nil {
		t.Fatal("Enqueue took a topic the rule refuses: this test proves nothing")
	}
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 10*time.Second, "the old delivery", func() bool {
		st, _ := s.Stats(ctx)
		return st.Pending == 0
	})
	if ds := rcv.Deliveries(); len(ds) != 1 || ds[0].ID != "old-1" || ds[0].Status != http.StatusOK {
		t.Fatalf("deliveries %+v, want old-1 delivered", ds)
	}
}
