package outbox_test

import (
	"errors"
	"fmt"
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

// A topic or content type is text: the JetStream store keeps it in JSON,
// which would turn invalid UTF-8 into U+FFFD, so that the delivery read
// back differed from the one stored.
func TestEnqueueRefusesTopicsThatAreNotText(t *testing.T) {
	mem := outbox.NewMemory()
	q := &outbox.Queue{Outbox: mem, Destinations: []sender.Destination{{Name: "a", URL: "https://example.com"}}}
	for i, m := range []sender.Message{
		{Topic: "job:\xff\xfe"},
		{Topic: "job:a\x00b"},
		{Topic: "job:a\nb"},
		{Topic: strings.Repeat("t", 1025)},
		{ContentType: "text/plain; x=\xff"},
		{ContentType: "text/plain\r\nX-Injected: 1"},
		// Longer than Send takes: it would be dead-lettered at its first
		// attempt instead of refused here.
		{ContentType: "text/plain; x=" + strings.Repeat("t", 257-14)},
	} {
		m.ID, m.Body = fmt.Sprint("m", i), []byte("{}")
		if _, err := q.Enqueue(ctx, "a", m); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Enqueue(topic %q, content type %q) = %v, want ErrInvalid", m.Topic, m.ContentType, err)
		}
	}
	if _, err := q.Enqueue(ctx, "a", sender.Message{ID: "ok", Topic: "commande:payée", ContentType: "application/json", Body: []byte("{}")}); err != nil {
		t.Errorf("Enqueue of a UTF-8 topic: %v", err)
	}
}

// Matches selects the same dead letters whether Validate indexed the ids
// (more than a few) or not, and a Destination selects its own only.
func TestSelectorMatches(t *testing.T) {
	for _, n := range []int{1, 8, 9, 1000} {
		var s outbox.Selector
		for i := range n {
			s.IDs = append(s.IDs, fmt.Sprint("id-", i))
		}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			dest, id string
			want     bool
		}{
			{"x", "id-0", true},
			{"x", fmt.Sprint("id-", n-1), true},
			{"x", fmt.Sprint("id-", n), false},
			{"d", "other", false},
			{"x", "", false},
		} {
			if got := s.Matches(tc.dest, tc.id); got != tc.want {
				t.Errorf("%d ids: Matches(%q, %q) = %v", n, tc.dest, tc.id, got)
			}
		}
	}
	s := outbox.Selector{Destination: "d"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if !s.Matches("d", "id-0") || s.Matches("x", "id-0") {
		t.Errorf("Destination d: Matches(d, id-0) = %v, Matches(x, id-0) = %v", s.Matches("d", "id-0"), s.Matches("x", "id-0"))
	}
}

// TestNamesShowAsThemselves: a destination name, a topic, a destination
// state's name and a selector, all of which show in logs, listings and metric
// labels, are refused with ErrInvalid when they hold a C1 control, a
// line or paragraph separator or a bidi control. (Only C0 and DEL were.)
func TestNamesShowAsThemselves(t *testing.T) {
	for _, bad := range []string{"acme\u202egnp", "acme\u0085", "acme\u2028x", "\u2066acme", "a\u061cb"} {
		q := &outbox.Queue{Outbox: outbox.NewMemory(), Destinations: []sender.Destination{{Name: bad, URL: "https://example.com"}}}
		if _, err := q.Enqueue(ctx, bad, sender.Message{ID: "m1", Body: []byte("{}")}); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Enqueue to destination %+q = %v, want ErrInvalid", bad, err)
		}
		q = &outbox.Queue{Outbox: outbox.NewMemory(), Destinations: []sender.Destination{{Name: "a", URL: "https://example.com"}}}
		if _, err := q.Enqueue(ctx, "a", sender.Message{ID: "m1", Topic: "job:" + bad, Body: []byte("{}")}); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Enqueue of topic %+q = %v, want ErrInvalid", bad, err)
		}
		if err := (outbox.DestinationState{Destination: bad, Disabled: time.Now()}).Validate(); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("DestinationState{Destination: %+q}.Validate() = %v, want ErrInvalid", bad, err)
		}
		for _, sel := range []outbox.Selector{{IDs: []string{"m1", bad}}, {Destination: bad}} {
			if err := sel.Validate(); !errors.Is(err, outbox.ErrInvalid) {
				t.Errorf("Selector{IDs: %+q, Destination: %+q}.Validate() = %v, want ErrInvalid", sel.IDs, sel.Destination, err)
			}
		}
	}
	q := &outbox.Queue{Outbox: outbox.NewMemory(), Destinations: []sender.Destination{{Name: "café\u00a0\U0001F469\u200d\U0001F4BB", URL: "https://example.com"}}}
	if _, err := q.Enqueue(ctx, "café\u00a0\U0001F469\u200d\U0001F4BB", sender.Message{ID: "m1", Body: []byte("{}")}); err != nil {
		t.Errorf("Enqueue to a destination named in printable UTF-8: %v", err)
	}
}
