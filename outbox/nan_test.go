package outbox_test

import (
	"errors"
	"math"
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
