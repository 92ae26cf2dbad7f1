package outbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

// twoDestinations returns a Queue over a memory outbox with destinations
// a and b, which Deliver's tests send msg to.
func twoDestinations() (outbox.Store, sender.Destination, sender.Destination, *outbox.Queue) {
	ob := outbox.NewMemory()
	a := sender.Destination{Name: "a", URL: "https://a.example/"}
	b := sender.Destination{Name: "b", URL: "https://b.example/"}
	return ob, a, b, &outbox.Queue{Outbox: ob, Destinations: []sender.Destination{a, b}}
}

// msg is a message of Deliver's tests with the given id.
func msg(id string) sender.Message {
	return sender.Message{ID: id, Topic: "job:ready", Body: []byte(`{}`)}
}

// TestQueueDeliver: Deliver stores every message in one Put, or none; an
// invalid one is a DeliveryError that is not retryable, so that
// listener.Forward refuses the event for good; an unknown destination is
// one that is retryable (the Queue's configuration is at fault, not the
// message), so that the source keeps the event until it is fixed.
func TestQueueDeliver(t *testing.T) {
	ctx := context.Background()
	ob, a, b, q := twoDestinations()
	for _, tc := range []struct {
		name  string
		dests []sender.Destination
		msgs  []sender.Message
		want  string // in the error's text
		retry bool
	}{
		{"unknown destination", []sender.Destination{a, {Name: "c"}}, []sender.Message{msg("1"), msg("2")}, `unknown destination "c"`, true},
		{"invalid id in the batch", []sender.Destination{a, b}, []sender.Message{msg("1"), msg(strings.Repeat("x", 257))}, "delivery id", false},
		{"invalid partition key", []sender.Destination{a}, []sender.Message{{ID: "1", PartitionKey: "k\x00"}}, "delivery 1", false},
		// A name no Queue can be given is a fault of the configuration
		// too, retryable, but it was quoted whole (a megabyte name made a
		// megabyte error) and raw (a NUL in the DeliveryError's text).
		{"empty destination name", []sender.Destination{{}}, []sender.Message{msg("1")}, "empty destination name", true},
		{"destination name with a NUL", []sender.Destination{{Name: "a\x00"}}, []sender.Message{msg("1")}, "destination name holds a control character", true},
		{"destination name of a megabyte", []sender.Destination{{Name: strings.Repeat("n", 1<<20)}}, []sender.Message{msg("1")}, "destination name longer than 256 bytes", true},
	} {
		err := q.Deliver(ctx, tc.dests, tc.msgs)
		var de *sender.DeliveryError
		if !errors.Is(err, outbox.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &de) || de.Retryable != tc.retry {
			t.Errorf("%s: %v, want a DeliveryError, Retryable %v, matching %v", tc.name, err, tc.retry, tc.want)
		}
		if err != nil && (len(err.Error()) > 1024 || strings.ContainsRune(err.Error(), 0)) {
			t.Errorf("%s: an error of %d bytes, or with a NUL: %.100q", tc.name, len(err.Error()), err)
		}
		if s, _ := ob.Stats(ctx); s.Pending != 0 {
			t.Fatalf("%s: %d stored, want none", tc.name, s.Pending)
		}
	}
	// Nor is such a name quoted back: a megabyte name made a megabyte
	// error (and log line). Enable refused none of them.
	if _, err := q.Enqueue(ctx, strings.Repeat("n", 1<<20), msg("1")); !errors.Is(err, outbox.ErrInvalid) || len(err.Error()) > 1024 {
		t.Errorf("Enqueue to a megabyte name: ErrInvalid %v, %d bytes of error", errors.Is(err, outbox.ErrInvalid), len(err.Error()))
	}
	for _, name := range []string{"", "a\x00", "a\u202e", strings.Repeat("n", 257)} {
		if err := q.Enable(ctx, name); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Enable(%.20q) = %v, want ErrInvalid", name, err)
		}
	}
	if err := q.Enable(ctx, "never-disabled"); err != nil {
		t.Errorf("Enable of a valid name = %v", err)
	}
	if err := q.Deliver(ctx, []sender.Destination{a}, nil); !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("mismatched lengths: %v", err)
	}
	if err := q.Deliver(ctx, []sender.Destination{a, b}, []sender.Message{msg("1"), msg("2")}); err != nil {
		t.Fatal(err)
	}
	if s, _ := ob.Stats(ctx); s.Pending != 2 {
		t.Fatalf("%d stored, want 2", s.Pending)
	}
}

// TestQueueDeliverIDOtherDestination: an id the outbox holds for another
// destination is refused, not dropped: Enqueue fails with ErrInvalid, and
// Deliver (listener.Forward) with a DeliveryError that is not Retryable,
// as does one Deliver that gives an id to two destinations; nothing of
// theirs is stored. The same id for the same destination still succeeds.
func TestQueueDeliverIDOtherDestination(t *testing.T) {
	ctx := context.Background()
	ob, a, b, q := twoDestinations()

	if _, err := q.Enqueue(ctx, "a", msg("held")); err != nil {
		t.Fatal(err)
	}
	const want = `"held" is held for destination "a", not "b"`
	if _, err := q.Enqueue(ctx, "b", msg("held")); !errors.Is(err, outbox.ErrInvalid) || !strings.Contains(err.Error(), want) {
		t.Errorf("Enqueue of a held id for another destination: %v, want ErrInvalid with %s", err, want)
	}
	for _, tc := range []struct {
		name  string
		dests []sender.Destination
		msgs  []sender.Message
	}{
		{"held id", []sender.Destination{a, b}, []sender.Message{msg("new"), msg("held")}},
		{"one id for two destinations", []sender.Destination{a, b}, []sender.Message{msg("twice"), msg("twice")}},
	} {
		err := q.Deliver(ctx, tc.dests, tc.msgs)
		var de *sender.DeliveryError
		if !errors.As(err, &de) || de.Retryable || !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Deliver of %s: %v, want a DeliveryError, not Retryable, wrapping ErrInvalid", tc.name, err)
		}
	}
	if _, err := q.Enqueue(ctx, "a", msg("held")); err != nil {
		t.Errorf("Enqueue of a held id for its own destination: %v, want nil", err)
	}
	if s := stats(t, ob); s.Pending != 1 {
		t.Fatalf("%d stored, want 1 (the first)", s.Pending)
	}
}
