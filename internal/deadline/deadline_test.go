package deadline

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestTimer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		limit    time.Duration
		work     time.Duration
		timedOut bool
	}{
		{"call within its limit", time.Second, 0, false},
		{"call past its limit", 20 * time.Millisecond, time.Second, true},
		{"zero limit", 0, time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w Timer
			defer w.Stop()
			ctx := w.Start(context.Background(), time.Now(), tc.limit)
			select {
			case <-ctx.Done():
			case <-time.After(tc.work):
			}
			if got := w.End(); got != tc.timedOut {
				t.Fatalf("End() = %v, want %v", got, tc.timedOut)
			}
			if tc.timedOut && !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				t.Fatalf("cause = %v, want DeadlineExceeded", context.Cause(ctx))
			}
			if !tc.timedOut && ctx.Err() != nil {
				t.Fatalf("a call within its limit left its context %v", ctx.Err())
			}
		})
	}
}

// waitTimedOut waits until w's timer cancels ctx, the context of a call
// that outlived its limit, and checks that End reports the timeout.
func waitTimedOut(ctx context.Context, t *testing.T, w *Timer) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the context of a call that outlived its limit was not cancelled")
	}
	if !w.End() {
		t.Fatal("End() = false after the timer cancelled the call")
	}
}

// A timer left pending by a short call must still bound a later call, and
// calls that do not time out share one context.
func TestTimerRearmsForLaterCalls(t *testing.T) {
	var w Timer
	defer w.Stop()
	limit := 50 * time.Millisecond
	first := w.Start(context.Background(), time.Now(), limit)
	w.End()
	time.Sleep(limit / 2)
	second := w.Start(context.Background(), time.Now(), limit)
	if second != first {
		t.Fatal("a call after one that did not time out got a new context")
	}
	waitTimedOut(second, t, &w)
	third := w.Start(context.Background(), time.Now(), time.Minute)
	if third.Err() != nil {
		t.Fatal("the call after a timeout got a done context")
	}
	w.End()
}

func TestTimerRelease(t *testing.T) {
	var w Timer
	defer w.Stop()
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx := w.Start(parent, time.Now(), time.Minute)
	w.Release()
	if ctx.Err() == nil {
		t.Fatal("Release left the shared context alive")
	}
	if w.TimedOut() {
		t.Fatal("Release counted as a timeout")
	}
	other := context.WithValue(context.Background(), struct{}{}, 1)
	if got := w.Start(other, time.Now(), time.Minute); got.Value(struct{}{}) != 1 {
		t.Fatal("after Release, Start did not use the new parent")
	}
}

func TestTimerParentCancelled(t *testing.T) {
	var w Timer
	defer w.Stop()
	parent, cancel := context.WithCancel(context.Background())
	ctx := w.Start(parent, time.Now(), time.Minute)
	cancel()
	<-ctx.Done()
	if w.End() {
		t.Fatal("a cancelled parent counted as a timeout")
	}
}

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
	waitTimedOut(slow, t, &w)
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

// Once a call is reported timed out, its context is already cancelled: a
// Start that followed could otherwise take the context, not yet cancelled,
// for the next call, and the late cancel cut that call short.
func TestTimedOutIsCancelled(t *testing.T) {
	var w Timer
	defer w.Stop()
	for i := range 2000 {
		ctx := w.Start(context.Background(), time.Now(), 0)
		for !w.TimedOut() {
		}
		if ctx.Err() == nil {
			t.Fatalf("run %d: reported timed out with its context not cancelled", i)
		}
		w.End()
	}
}
