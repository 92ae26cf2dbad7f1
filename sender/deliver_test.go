package sender_test

import (
	"context"
	"errors"
	"testing"

	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestDeliverMismatchedLengths: Deliver given more destinations than
// messages (or fewer) failed with an error no sentinel matched, where the
// outbox Queue's Deliver wraps ErrInvalid; it now wraps ErrInvalidMessage,
// and sends nothing.
func TestDeliverMismatchedLengths(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	s := rcv.Sender()
	dest := rcv.Destination(nil)
	for _, c := range []struct {
		dests []sender.Destination
		msgs  []sender.Message
	}{
		{[]sender.Destination{dest}, nil},
		{nil, []sender.Message{{Body: []byte("{}")}}},
		{[]sender.Destination{dest, dest}, []sender.Message{{Body: []byte("{}")}}},
	} {
		if err := s.Deliver(context.Background(), c.dests, c.msgs); !errors.Is(err, sender.ErrInvalidMessage) {
			t.Errorf("Deliver of %d destinations, %d messages = %v, want ErrInvalidMessage", len(c.dests), len(c.msgs), err)
		}
	}
	if n := len(rcv.Deliveries()); n != 0 {
		t.Errorf("the receiver got %d requests", n)
	}
}
