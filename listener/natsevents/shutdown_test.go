package natsevents_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

// TestShutdownSettles: cancelling Serve while handlers run and events wait
// in the queue: Serve
// waits for the handlers, which ack; the queued events are nak'ed, so a
// worker started afterwards gets them at once, not after AckWait (30 s).
func TestShutdownSettles(t *testing.T) {
	b := newBus(t)
	release := make(chan struct{})
	var first tally
	l1 := holding(t, &first, release)
	ctx, cancel := context.WithCancel(context.Background())
	done := serve(ctx, t, b.url, &natsevents.Source{AckWait: 30 * time.Second, Concurrency: 2}, l1)
	ids := publishAll(t, b.js, "ev", 10)
	for end := time.Now().Add(10 * time.Second); first.len() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("handlers never started")
		}
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v before its handlers finished", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	var second tally
	l2 := counting(t, &second, func(ev *listener.Event) string { return ev.ID })
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	done2 := serve(ctx2, t, b.url, &natsevents.Source{AckWait: 30 * time.Second, Concurrency: 2}, l2)
	var rest []string
	for _, id := range ids {
		if first.get(id) == 0 {
			rest = append(rest, id)
		}
	}
	start := time.Now()
	for len(second.missing(rest)) > 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("events %v not handled within 10 s of a restart (AckWait 30 s)", second.missing(rest))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for id := range first.counts() {
		if second.get(id) != 0 {
			t.Errorf("event %s, handled and acked at shutdown, handled again", id)
		}
	}
	waitSettled(t, b.js)
	cancel2()
	<-done2
}

// Serve started and cancelled many times on one connection leaves no
// goroutine behind.
func TestServeLeavesNoGoroutine(t *testing.T) {
	b := newBus(t)
	js := connect(t, b.url)
	l := counting(t, &tally{}, func(ev *listener.Event) string { return ev.ID })
	run := func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := serve(ctx, t, "", &natsevents.Source{JetStream: js, AckWait: time.Second}, l)
		publishAll(t, b.js, "g", 5)
		time.Sleep(50 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	run()
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	for range 20 {
		run()
	}
	time.Sleep(500 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+3 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines %d before, %d after 20 runs\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}
