package outbox_test

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestQueueRefusesRateNotANumber: a destination Rate that is not a number
// (strconv.ParseFloat reads "NaN" from a configuration file) is refused,
// with an error that names the destination, rather than taken as a limit
// that admits no delivery: the destination's deliveries waited in the
// outbox for ever, without an error or a log line.
func TestQueueRefusesRateNotANumber(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	dest := rcv.Destination(nil)
	dest.Rate = math.NaN()
	q := &outbox.Queue{Outbox: outbox.NewMemory(), Sender: rcv.Sender(), Destinations: []sender.Destination{dest}, Poll: 10 * time.Millisecond}
	_, err := q.Enqueue(ctx, dest.Name, sender.Message{Body: []byte("{}")})
	if errors.Is(err, outbox.ErrInvalid) && strings.Contains(err.Error(), dest.Name) {
		return
	}
	if err == nil {
		queuetest.Run(t, q)
		_, werr := rcv.WaitFor(1, time.Second)
		t.Fatalf("Enqueue = nil, want ErrInvalid naming %q; after a second, the receiver got %d deliveries (%v)",
			dest.Name, len(rcv.Deliveries()), werr)
	}
	t.Fatalf("Enqueue = %v, want ErrInvalid naming %q", err, dest.Name)
}

// TestQueueRefusesJitterNotANumber: a Schedule.Jitter that is not a number
// is refused rather than turned into retry delays of minus 292 years: a
// failed delivery was retried at once, again and again, and dead-lettered
// within a second by a schedule that asked for an hour between attempts.
func TestQueueRefusesJitterNotANumber(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
		return http.StatusServiceUnavailable, nil, nil
	}))
	ob := outbox.NewMemory()
	q := &outbox.Queue{
		Outbox: ob, Sender: rcv.Sender(), Destinations: []sender.Destination{rcv.Destination(nil)},
		Schedule: outbox.Schedule{Delays: []time.Duration{0, time.Hour, time.Hour}, Jitter: math.NaN()},
		Poll:     10 * time.Millisecond,
	}
	q.Sender.Retry.MaxAttempts = 1
	_, err := q.Enqueue(ctx, "sendertest", sender.Message{Body: []byte("{}")})
	if errors.Is(err, outbox.ErrInvalid) && strings.Contains(err.Error(), "Jitter") {
		return
	}
	if err == nil {
		queuetest.Run(t, q)
		_, _ = rcv.WaitFor(3, time.Second)
		time.Sleep(50 * time.Millisecond)
		t.Fatalf("Enqueue = nil, want ErrInvalid about the Jitter; within a second of a schedule of hours, the receiver got %d attempts and the outbox holds %+v",
			len(rcv.Deliveries()), stats(t, ob))
	}
	t.Fatalf("Enqueue = %v, want ErrInvalid about the Jitter", err)
}
