package listener_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/topic/topictest"
	"github.com/heraldhq/herald/listener"
)

// benchListener registers n patterns in the mix a real router sees
// (topictest.RouterMix). Handlers do nothing, so the benchmark measures
// routing only.
func benchListener(b *testing.B, n int, opts ...listener.Option) (*listener.Listener, *int) {
	l := listener.New(opts...)
	calls := new(int)
	h := func(context.Context, *listener.Event) error { *calls++; return nil }
	for _, p := range topictest.RouterMix(n) {
		if err := l.On(p, h); err != nil {
			b.Fatal(err)
		}
	}
	return l, calls
}

func BenchmarkDispatch(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("patterns=%d", n), func(b *testing.B) {
			l, calls := benchListener(b, n)
			ev := &listener.Event{ID: "evt_1", Topic: "dom1:act1"}
			ctx := context.Background()
			if err := l.Dispatch(ctx, ev); err != nil || *calls == 0 {
				b.Fatalf("warm-up: %v, %d handlers", err, *calls)
			}
			matched := *calls
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := l.Dispatch(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(matched), "handlers/event")
		})
	}
}

// BenchmarkDispatchDedupe is Dispatch at 100 patterns with deduplication
// on and a fresh id each time (every event is new, so all handlers run).
func BenchmarkDispatchDedupe(b *testing.B) {
	l, _ := benchListener(b, 100, listener.WithDedupe(time.Minute, 1024))
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = fmt.Sprintf("evt_%d", i)
	}
	ev := &listener.Event{Topic: "dom1:act1"}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev.ID = ids[i%len(ids)]
		i++
		_ = l.Dispatch(ctx, ev)
	}
}

// BenchmarkDispatchBaseline is the floor the router is measured against:
// calling the same number of no-op handlers directly, as hand-written code
// with a switch on the topic would.
func BenchmarkDispatchBaseline(b *testing.B) {
	l, calls := benchListener(b, 100)
	ev := &listener.Event{ID: "evt_1", Topic: "dom1:act1"}
	ctx := context.Background()
	_ = l.Dispatch(ctx, ev)
	matched := *calls
	hs := make([]listener.Handler, matched)
	for i := range hs {
		hs[i] = func(context.Context, *listener.Event) error { *calls++; return nil }
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if ev.Topic == "dom1:act1" {
			for _, h := range hs {
				if err := h(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
