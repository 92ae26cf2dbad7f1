package boltstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestQueueStoreClosedUnderIt: a store closed while its Queue runs (the
// stop order turned round, a Close deferred in the wrong function) can
// never be leased from again. Run must say so, returning an error that
// wraps outbox.ErrClosed, rather than go on failing quietly (a Queue logs
// no ErrClosed, which it takes for the end of a shutdown) and deliver
// nothing for as long as the process lives. A Shutdown after it returns
// nil.
func TestQueueStoreClosedUnderIt(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	s, path := open(t)
	q := &outbox.Queue{Outbox: s, Sender: rcv.Sender(), Destinations: []sender.Destination{rcv.Destination(nil)},
		Poll: 5 * time.Millisecond}
	ran := make(chan error, 1)
	go func() { ran <- q.Run(context.Background()) }()
	if _, err := q.Enqueue(ctx, "sendertest", sender.Message{ID: "before"}); err != nil {
		t.Fatal(err)
	}
	queuetest.WaitFor(t, 10*time.Second, "the delivery", func() bool {
		st, err := s.Stats(ctx)
		return err == nil && st.Pending == 0
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ran:
		if !errors.Is(err, outbox.ErrClosed) {
			t.Errorf("Run: %v, want an error wrapping ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10s after its store was closed")
	}
	if err := q.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown after Run returned: %v", err)
	}
	if _, err := q.Enqueue(ctx, "sendertest", sender.Message{ID: "after"}); !errors.Is(err, outbox.ErrClosed) {
		t.Errorf("Enqueue on the closed store: %v, want ErrClosed", err)
	}
	if n := len(rcv.Deliveries()); n != 1 {
		t.Errorf("%d requests, want the 1 delivery", n)
	}
	_ = openAt(t, path) // the file is whole, and free to open again
}
