package deadline

import (
	"context"
	"testing"
	"time"
)

// TestTimerSharedContext is the queue worker's use: one parent, many sends.
func TestTimerSharedContext(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	var w Timer
	defer w.Stop()

	// Sends that end in time share one context, which is never cancelled,
	// even after the timer armed by the first of them fires.
	first := w.Start(parent, time.Now(), 200*time.Millisecond)
	if w.End() {
		t.Fatal("a send that ended at once timed out")
	}
	for range 100 {
		if ctx := w.Start(parent, time.Now(), 200*time.Millisecond); ctx != first {
			t.Fatal("a send after one that ended in time got a new context")
		}
		w.End()
	}
	time.Sleep(300 * time.Millisecond)
	if first.Err() != nil {
		t.Fatalf("the context of sends that ended in time was cancelled: %v", first.Err())
	}

	// A send that outlives its time has its context cancelled, and the
	// next send gets a fresh one.
	slow := w.Start(parent, time.Now(), 20*time.Millisecond)
	select {
	case <-slow.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the context of a send that outlived its time was not cancelled")
	}
	if !w.End() {
		t.Error("end did not report the timeout")
	}
	next := w.Start(parent, time.Now(), time.Minute)
	if next.Err() != nil || next == slow {
		t.Fatal("the send after a timeout did not get a fresh context")
	}
	if w.End() {
		t.Error("a send after a timeout was reported as timed out")
	}

	// Cancelling the parent cancels the sends.
	ctx := w.Start(parent, time.Now(), time.Minute)
	cancelParent()
	<-ctx.Done()
	w.End()
}
