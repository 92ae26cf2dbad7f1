package sender_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestSendRefusesNamesThatDoNotShowAsThemselves: a Destination.Name,
// which shows in logs, errors, metric labels and spans, that holds a
// control character (C0 or C1), a line separator or a bidi control is
// refused with ErrInvalidMessage before any attempt, and the error does
// not repeat it. (Send took any name, and wrote it raw into its errors
// and log lines.)
func TestSendRefusesNamesThatDoNotShowAsThemselves(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	s := rcv.Sender()
	for _, name := range []string{"acme\nlevel=ERROR", "acme\u0085", "acme\u2028x", "acme\u202egnp", "\u2066acme", "acme\xff"} {
		dest := rcv.Destination(nil)
		dest.Name = name
		res, err := s.Send(context.Background(), dest, sender.Message{Body: []byte(`{}`)})
		if !errors.Is(err, sender.ErrInvalidMessage) || res.Attempts != 0 {
			t.Errorf("Send to %+q = %v after %d attempts; want ErrInvalidMessage before any", name, err, res.Attempts)
		}
		if err != nil && strings.Contains(err.Error(), name) {
			t.Errorf("Send to %+q: error %+q repeats the name", name, err)
		}
	}
	if n := len(rcv.Deliveries()); n != 0 {
		t.Fatalf("%d requests reached the receiver", n)
	}
	dest := rcv.Destination(nil)
	dest.Name = "café \U0001F469\u200d\U0001F4BB"
	if _, err := s.Send(context.Background(), dest, sender.Message{Body: []byte(`{}`)}); err != nil {
		t.Fatalf("Send to a name of printable UTF-8: %v", err)
	}
}
