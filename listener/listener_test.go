package listener_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/listenertest"
)

func mustOn(t testing.TB, l *listener.Listener, pattern string, h listener.Handler, filters ...listener.Filter) {
	t.Helper()
	if err := l.On(pattern, h, filters...); err != nil {
		t.Fatal(err)
	}
}

func TestEveryMatchingHandlerRunsInRegistrationOrder(t *testing.T) {
	var l listener.Listener // the zero value works
	var rec listenertest.Recorder
	mustOn(t, &l, "*:ready", rec.Handler("any-ready", nil))
	mustOn(t, &l, "job:ready", rec.Handler("exact", nil))
	mustOn(t, &l, "job:*", rec.Handler("job-any", nil))
	mustOn(t, &l, "**", rec.Handler("all", nil))
	mustOn(t, &l, "j*:r*", rec.Handler("glob", nil))
	mustOn(t, &l, "job:done", rec.Handler("other", nil))
	mustOn(t, &l, "job:ready", rec.Handler("exact2", nil))
	if err := l.Dispatch(context.Background(), listenertest.NewEvent(t, "job:ready", nil)); err != nil {
		t.Fatal(err)
	}
	want := []string{"any-ready", "exact", "job-any", "all", "glob", "exact2"}
	if got := rec.Ran(); !slices.Equal(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
}

func TestFailingAndPanickingHandlersDoNotStopOthers(t *testing.T) {
	var l listener.Listener
	var rec listenertest.Recorder
	errA := errors.New("a failed")
	errC := errors.New("c failed")
	mustOn(t, &l, "job:*", rec.Handler("a", errA))
	mustOn(t, &l, "job:*", func(context.Context, *listener.Event) error { panic("boom") })
	mustOn(t, &l, "job:*", rec.Handler("c", listener.Permanent(errC)))
	mustOn(t, &l, "job:*", rec.Handler("d", nil))
	err := l.Dispatch(context.Background(), listenertest.NewEvent(t, "job:ready", nil))
	if !errors.Is(err, errA) || !errors.Is(err, errC) || !errors.Is(err, listener.ErrPanic) {
		t.Fatalf("joined error %v misses a cause", err)
	}
	if joined, ok := err.(interface{ Unwrap() []error }); !ok || len(joined.Unwrap()) != 3 {
		t.Fatalf("want 3 joined errors, got %#v", err)
	}
	if listener.IsPermanent(err) {
		t.Fatal("a joined error with retryable parts must not be permanent")
	}
	if got := rec.Ran(); !slices.Equal(got, []string{"a", "c", "d"}) {
		t.Fatalf("ran %v", got)
	}
}

func TestSingleErrorIsJoinedAndMatchable(t *testing.T) {
	var l listener.Listener
	boom := errors.New("boom")
	mustOn(t, &l, "job:ready", func(context.Context, *listener.Event) error { return listener.Permanent(boom) })
	err := l.Dispatch(context.Background(), listenertest.NewEvent(t, "job:ready", nil))
	if !errors.Is(err, boom) || !listener.IsPermanent(err) {
		t.Fatalf("got %v (permanent=%v)", err, listener.IsPermanent(err))
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("x")
	if listener.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
	p := listener.Permanent(base)
	if !listener.IsPermanent(p) || !errors.Is(p, base) || p.Error() != "x" {
		t.Fatal("Permanent lost the error")
	}
	if !listener.IsPermanent(fmt.Errorf("wrapped: %w", p)) {
		t.Fatal("wrapping hides permanence")
	}
	if listener.IsPermanent(base) || listener.IsPermanent(nil) {
		t.Fatal("plain error reported permanent")
	}
	if !listener.IsPermanent(errors.Join(p, listener.Permanent(errors.New("y")))) {
		t.Fatal("all-permanent join not permanent")
	}
	if listener.IsPermanent(errors.Join(p, base)) {
		t.Fatal("mixed join reported permanent")
	}
}

func TestUnhandled(t *testing.T) {
	var l listener.Listener
	if err := l.Dispatch(context.Background(), listenertest.NewEvent(t, "job:ready", nil)); err != nil {
		t.Fatalf("unhandled event is not an error by default: %v", err)
	}
	strict := listener.New(listener.WithRequireHandler())
	mustOn(t, strict, "job:done", func(context.Context, *listener.Event) error { return nil })
	// A handler filtered out does not count as handling.
	mustOn(t, strict, "job:ready", func(context.Context, *listener.Event) error { return nil },
		func(*listener.Event) bool { return false })
	err := strict.Dispatch(context.Background(), listenertest.NewEvent(t, "job:ready", nil))
	if !errors.Is(err, listener.ErrUnhandled) || !listener.IsPermanent(err) {
		t.Fatalf("got %v, want permanent ErrUnhandled", err)
	}
	if err := strict.Dispatch(context.Background(), listenertest.NewEvent(t, "job:done", nil)); err != nil {
		t.Fatal(err)
	}
}

func TestDispatchRejectsInvalidEvents(t *testing.T) {
	var l listener.Listener
	mustOn(t, &l, "**", func(context.Context, *listener.Event) error { t.Error("handler ran"); return nil })
	for _, ev := range []*listener.Event{nil, {Topic: "job:ready"}, {ID: "1", Topic: "job"}, {ID: "1", Topic: "job:*"}} {
		//lint:ignore SA1012 nil context is handled on purpose
		err := l.Dispatch(nil, ev) //nolint:staticcheck
		if !errors.Is(err, listener.ErrInvalidEvent) || !listener.IsPermanent(err) {
			t.Errorf("Dispatch(%+v) = %v", ev, err)
		}
	}
}

func TestOnRejectsNilHandler(t *testing.T) {
	var l listener.Listener
	if err := l.On("job:*", nil); !errors.Is(err, listener.ErrNilHandlerForTest) {
		t.Fatalf("got %v", err)
	}
}

func TestNamespaces(t *testing.T) {
	l := listener.New()
	var rec listenertest.Recorder
	mustOn(t, l, "job:*", rec.Handler("root", nil))
	acme := l.Namespace("acme")
	mustOn(t, acme, "job:*", rec.Handler("acme", nil))
	billing := acme.Namespace("billing")
	mustOn(t, billing, "job:*", rec.Handler("acme/billing", nil))
	mustOn(t, l.Namespace("other"), "job:*", rec.Handler("other", nil))

	for _, tc := range []struct {
		ns   []string
		want []string
	}{
		{nil, []string{"root"}},
		{[]string{"acme"}, []string{"root", "acme"}},
		{[]string{"billing"}, []string{"root"}},
		{[]string{"billing", "acme"}, []string{"root", "acme", "acme/billing"}},
		{[]string{"other", "acme"}, []string{"root", "acme", "other"}},
	} {
		rec = listenertest.Recorder{}
		ev := listenertest.NewEvent(t, "job:ready", nil)
		ev.Namespaces = tc.ns
		if err := l.Dispatch(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		if got := rec.Ran(); !slices.Equal(got, tc.want) {
			t.Errorf("namespaces %v: ran %v, want %v", tc.ns, got, tc.want)
		}
	}
	if err := l.Namespace("").On("job:*", rec.Handler("x", nil)); err == nil {
		t.Fatal("empty namespace accepted")
	}
}

func TestMiddlewareOrderAndScope(t *testing.T) {
	l := listener.New()
	var mu sync.Mutex
	var trace []string
	mark := func(name string) listener.Middleware {
		return func(next listener.Handler) listener.Handler {
			return func(ctx context.Context, ev *listener.Event) error {
				mu.Lock()
				trace = append(trace, name)
				mu.Unlock()
				return next(ctx, ev)
			}
		}
	}
	handler := func(name string) listener.Handler {
		return func(context.Context, *listener.Event) error {
			mu.Lock()
			trace = append(trace, name)
			mu.Unlock()
			return nil
		}
	}
	mustOn(t, l, "job:ready", handler("h-root")) // registered before Use: still wrapped
	l.Use(mark("root1"), mark("root2"))
	child := l.Namespace("acme")
	child.Use(mark("child"))
	mustOn(t, child, "job:ready", handler("h-child"))

	ev := listenertest.NewEvent(t, "job:ready", nil)
	ev.Namespaces = []string{"acme"}
	if err := l.Dispatch(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	want := []string{"root1", "root2", "h-root", "root1", "root2", "child", "h-child"}
	if !slices.Equal(trace, want) {
		t.Fatalf("trace %v, want %v", trace, want)
	}
}

func TestDedupe(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	l := listener.New(listener.WithDedupe(time.Minute, 2), listener.WithClockForTest(clock))
	var rec listenertest.Recorder
	fail := true
	mustOn(t, l, "job:*", func(ctx context.Context, ev *listener.Event) error {
		_ = rec.Handler(ev.ID, nil)(ctx, ev)
		if ev.ID == "flaky" && fail {
			return errors.New("transient")
		}
		return nil
	})
	d := func(id string) error {
		return l.Dispatch(context.Background(), &listener.Event{ID: id, Topic: "job:ready"})
	}
	for _, id := range []string{"a", "a", "b", "a"} {
		if err := d(id); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.Ran(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("ran %v, want duplicates skipped", got)
	}
	// A failed event is not remembered: its redelivery runs again.
	if err := d("flaky"); err == nil {
		t.Fatal("want error")
	}
	fail = false
	if err := d("flaky"); err != nil {
		t.Fatal(err)
	}
	// Size 2: remembering "flaky" evicted "a", the oldest.
	rec = listenertest.Recorder{}
	_ = d("a")
	_ = d("flaky")
	if got := rec.Ran(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after eviction ran %v, want [a]", got)
	}
	// After the window, an id is new again.
	clockMu.Lock()
	now = now.Add(2 * time.Minute)
	clockMu.Unlock()
	rec = listenertest.Recorder{}
	_ = d("flaky")
	if got := rec.Ran(); !slices.Equal(got, []string{"flaky"}) {
		t.Fatalf("after window ran %v", got)
	}
}

// TestDedupePerTopic: an id handled under one topic does not make an event
// of another topic with the same id a duplicate, so that a publisher allowed
// one topic cannot have another's future event skipped by taking its id.
// Dispatch checks the id as Validate does, for sources that skip it: else
// ids of megabytes would fill the dedupe window.
func TestDispatchChecksID(t *testing.T) {
	l := listener.New(listener.WithDedupe(time.Hour, 100))
	ran := 0
	mustOn(t, l, "**", func(context.Context, *listener.Event) error { ran++; return nil })
	for _, id := range []string{"", strings.Repeat("x", 257), "a\x00b", "a\nb"} {
		err := l.Dispatch(t.Context(), &listener.Event{ID: id, Topic: "a:b"})
		if !errors.Is(err, listener.ErrInvalidEvent) || !listener.IsPermanent(err) {
			t.Errorf("id %.20q: %v; want a permanent ErrInvalidEvent", id, err)
		}
	}
	if err := l.Dispatch(t.Context(), &listener.Event{ID: strings.Repeat("x", 256), Topic: "a:b"}); err != nil || ran != 1 {
		t.Fatalf("a 256-byte id: %v, ran %d", err, ran)
	}
}

func TestDedupePerTopic(t *testing.T) {
	l := listener.New(listener.WithDedupe(time.Minute, 16))
	var ran []string
	mustOn(t, l, "**", func(_ context.Context, ev *listener.Event) error {
		ran = append(ran, ev.Topic+"/"+ev.ID)
		return nil
	})
	for _, topic := range []string{"job:ready", "billing:refund", "billing:refund", "job:ready"} {
		if err := l.Dispatch(context.Background(), &listener.Event{ID: "evt_7", Topic: topic}); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"job:ready/evt_7", "billing:refund/evt_7"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
}

func TestConcurrentRegistrationAndDispatch(t *testing.T) {
	l := listener.New()
	var mu sync.Mutex
	count := 0
	h := func(context.Context, *listener.Event) error { mu.Lock(); count++; mu.Unlock(); return nil }
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				if err := l.On(fmt.Sprintf("d%d:a%d", i, j), h); err != nil {
					t.Error(err)
				}
				l.Namespace("n").Use(func(next listener.Handler) listener.Handler { return next })
			}
		})
		wg.Go(func() {
			for j := range 50 {
				_ = l.Dispatch(context.Background(), &listener.Event{ID: "x", Topic: fmt.Sprintf("d%d:a%d", i, j)})
			}
		})
	}
	wg.Wait()
	for i := range 4 {
		for j := range 50 {
			_ = l.Dispatch(context.Background(), &listener.Event{ID: "x", Topic: fmt.Sprintf("d%d:a%d", i, j)})
		}
	}
	if count < 200 {
		t.Fatalf("count %d, want at least 200", count)
	}
}
