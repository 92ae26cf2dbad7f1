package listener_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
)

// pagedFeed serves events e1..eN two at a time; the cursor is the index.
type pagedFeed struct {
	n       int
	onEmpty func()
	mu      sync.Mutex
	fetches []string
}

func (f *pagedFeed) Fetch(ctx context.Context, cursor string) ([]listener.Event, string, error) {
	f.mu.Lock()
	f.fetches = append(f.fetches, cursor)
	f.mu.Unlock()
	start := 0
	if cursor != "" {
		start, _ = strconv.Atoi(cursor)
	}
	var evs []listener.Event
	for i := start; i < min(start+2, f.n); i++ {
		evs = append(evs, listener.Event{ID: "e" + strconv.Itoa(i+1), Topic: "job:ready"})
	}
	if len(evs) == 0 {
		f.onEmpty()
		return nil, cursor, nil
	}
	return evs, strconv.Itoa(start + len(evs)), nil
}

// savedCursors records every Save.
type savedCursors struct {
	listener.MemoryCursorForTest
	mu    sync.Mutex
	saves []string
}

func (s *savedCursors) Save(ctx context.Context, c string) error {
	s.mu.Lock()
	s.saves = append(s.saves, c)
	s.mu.Unlock()
	return s.MemoryCursorForTest.Save(ctx, c)
}

func TestPoller(t *testing.T) {
	l := listener.New()
	var handled []string
	failedOnce := false
	var cursorWhenE3Failed string
	store := &savedCursors{}
	mustOn(t, l, "job:*", func(ctx context.Context, ev *listener.Event) error {
		handled = append(handled, ev.ID)
		switch {
		case ev.ID == "e3" && !failedOnce:
			failedOnce = true
			cursorWhenE3Failed, _ = store.Load(ctx)
			return errors.New("transient")
		case ev.ID == "e5":
			return listener.Permanent(errors.New("poison"))
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	feed := &pagedFeed{n: 5, onEmpty: cancel}
	p := &listener.Poller{Feed: feed, Cursor: store, Interval: time.Millisecond, MaxBackoff: time.Millisecond}
	if err := l.Run(ctx, p); err != nil {
		t.Fatal(err)
	}
	if want := []string{"e1", "e2", "e3", "e3", "e4", "e5"}; !slices.Equal(handled, want) {
		t.Fatalf("handled %v, want %v", handled, want)
	}
	if cursorWhenE3Failed != "2" {
		t.Fatalf("cursor during the failing batch = %q, want 2", cursorWhenE3Failed)
	}
	if want := []string{"2", "4", "5"}; !slices.Equal(store.saves, want) {
		t.Fatalf("saves %v, want %v (only after success)", store.saves, want)
	}
	if want := []string{"", "2", "2", "4", "5"}; !slices.Equal(feed.fetches, want) {
		t.Fatalf("fetches %v, want %v", feed.fetches, want)
	}

	// A new poller resumes from the stored cursor.
	handled = nil
	ctx, cancel = context.WithCancel(context.Background())
	resume := &listener.MemoryCursorForTest{}
	_ = resume.Save(ctx, "3")
	p = &listener.Poller{Feed: &pagedFeed{n: 5, onEmpty: cancel}, Cursor: resume, Interval: time.Millisecond}
	if err := l.Run(ctx, p); err != nil {
		t.Fatal(err)
	}
	if want := []string{"e4", "e5"}; !slices.Equal(handled, want) {
		t.Fatalf("resumed handled %v, want %v", handled, want)
	}
	if err := (&listener.Poller{}).Serve(context.Background(), l); err == nil {
		t.Fatal("Poller without Feed")
	}
}

// TestPollerFeedFailuresBackOff: a Feed that fails, with an error or a
// panic (on odd platform data, say), is fetched again after a backoff.
// A panic went up through Serve and ended the process, which restarted
// into the same panic.
func TestPollerFeedFailuresBackOff(t *testing.T) {
	for _, fail := range []func() error{
		func() error { return errors.New("platform down") },
		func() error {
			var page map[string][]listener.Event
			page["events"] = nil // a nil map: the platform answered nothing
			return nil
		},
	} {
		l := listener.New()
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		feed := listener.FeedFuncForTest(func(ctx context.Context, cursor string) ([]listener.Event, string, error) {
			calls++
			if calls == 3 {
				cancel()
			}
			return nil, "", fail()
		})
		p := &listener.Poller{Feed: feed, Interval: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
		if err := l.Run(ctx, p); err != nil {
			t.Fatal(err)
		}
		if calls != 3 {
			t.Fatalf("calls %d", calls)
		}
	}
}

// TestPollerRefusesIntervalTooShort: an Interval of 1 (nanosecond, meant
// as a second) was taken, and a Poller whose feed had nothing new fetched
// from it without pause: a remote API called as fast as it answers. Serve
// now refuses an Interval under 1 ms, before it fetches anything; one of
// 1 ms still polls (TestPoller).
func TestPollerRefusesIntervalTooShort(t *testing.T) {
	for _, d := range []time.Duration{1, 999 * time.Microsecond} {
		feed := &pagedFeed{n: 1, onEmpty: func() {}}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := (&listener.Poller{Feed: feed, Interval: d}).Serve(ctx, listener.New())
		cancel()
		if err == nil || !strings.Contains(err.Error(), "Interval") {
			t.Errorf("Serve with Interval %s = %v, want an error naming Interval", d, err)
		}
		if len(feed.fetches) != 0 {
			t.Errorf("Interval %s: %d fetches, want none", d, len(feed.fetches))
		}
	}
}
