package listener_test

import (
	"context"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// oneEvent is a source that dispatches one event, then waits for the end.
func oneEvent(ev *listener.Event) listener.Source {
	return listener.SourceFunc(func(ctx context.Context, d listener.Dispatcher) error {
		if err := d.Dispatch(ctx, ev); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	})
}

// TestShutdownRecipe follows the package doc's recipe on a real SIGTERM
// while a delivery is in flight (the receiver holds it for 400ms): the
// delivery finishes and is acknowledged, rather than given back. The
// second case is what the recipe avoids: a Queue run on the signal's
// context gives the same delivery back unfinished.
func TestShutdownRecipe(t *testing.T) {
	for _, tc := range []struct {
		name        string
		queueOnSig  bool
		wantPending int
		// delay is the receiver's answer time: short where the send
		// must finish, long where it must be cut short (a short one
		// could end before a loaded machine delivers the signal).
		delay time.Duration
	}{
		{"recipe finishes the delivery in flight", false, 0, 400 * time.Millisecond},
		{"Run on the signal context releases it", true, 1, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := sendertest.NewReceiver(t, nil, sendertest.Delay(tc.delay))
			dest := rcv.Destination(nil)
			st := openBolt(t)
			q := &outbox.Queue{Outbox: st, Sender: rcv.Sender(), Destinations: []sender.Destination{dest}}
			l := listener.New()
			mustOn(t, l, "job:*", listener.Forward(q, dest))

			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
			defer stop()
			queueCtx := context.Background()
			if tc.queueOnSig {
				queueCtx = ctx
			}
			ran := make(chan error, 1)
			go func() { ran <- q.Run(queueCtx) }()
			intake := make(chan error, 1)
			go func() { intake <- l.Run(ctx, oneEvent(&listener.Event{ID: "evt_1", Topic: "job:ready"})) }()

			if _, err := rcv.WaitFor(1, 5*time.Second); err != nil { // the delivery is in flight
				t.Fatal(err)
			}
			if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := <-intake; err != nil { // 1, 2: intake stopped, handlers drained
				t.Fatal(err)
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := q.Shutdown(sctx); err != nil { // 3: the queue
				t.Fatal(err)
			}
			<-ran
			s, err := st.Stats(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil { // 4: the store
				t.Fatal(err)
			}
			if s.Pending != tc.wantPending || s.Dead != 0 {
				t.Fatalf("after shutdown: %+v, want %d pending", s, tc.wantPending)
			}
			if n := len(rcv.Deliveries()); n != 1 {
				t.Fatalf("%d requests, want 1", n)
			}
		})
	}
}
