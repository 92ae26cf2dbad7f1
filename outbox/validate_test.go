package outbox_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

// TestEnqueueRefusesIDsSendWouldRefuse: the Queue validates a delivery
// before the store sees it; an id that cannot be a webhook-id header value
// is refused when it is stored, not dead-lettered later.
func TestEnqueueRefusesIDsSendWouldRefuse(t *testing.T) {
	mem := outbox.NewMemory()
	q := &outbox.Queue{Outbox: mem, Destinations: []sender.Destination{{Name: "a", URL: "https://example.com"}}}
	for _, id := range []string{"has space", "tab\there", "naïve", strings.Repeat("x", 257), "x\n"} {
		if _, err := q.Enqueue(ctx, "a", sender.Message{ID: id, Body: []byte("{}")}); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Enqueue(%q) = %v, want ErrInvalid", id, err)
		}
	}
	if s, _ := mem.Stats(ctx); s.Pending != 0 {
		t.Errorf("refused deliveries reached the store: %+v", s)
	}
	id := "01a221f6-d265-7191-af1e-8f17718f02d2"
	if got, err := q.Enqueue(ctx, "a", sender.Message{ID: id, Body: []byte("{}")}); err != nil || got != id {
		t.Errorf("Enqueue(uuid) = %q, %v", got, err)
	}
	ls, err := mem.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) != 1 || ls[0].Created.IsZero() || ls[0].Due.IsZero() {
		t.Errorf("the Queue did not fill Created and Due: %+v, %v", ls, err)
	}
}
