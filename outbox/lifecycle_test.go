package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

// TestShutdownBeforeRunStarts: the stop recipe starts Run in a goroutine
// and, on a signal, calls Shutdown and reads Run's result, "nil, or the
// setting for which Run refused to start". A signal that comes at once
// can have Shutdown run before that goroutine does: Run must then return
// nil, not an error that a program (the relay) reports as a failed queue.
// Run called a second time still fails.
func TestShutdownBeforeRunStarts(t *testing.T) {
	q := &outbox.Queue{Outbox: outbox.NewMemory(), Destinations: []sender.Destination{{Name: "d", URL: "https://example.com/"}}}
	if err := q.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown before Run: %v", err)
	}
	ran := make(chan error, 1)
	go func() { ran <- q.Run(context.Background()) }()
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run after an early Shutdown: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run after Shutdown did not return")
	}
	if err := q.Run(ctx); !errors.Is(err, outbox.ErrQueueStopped) {
		t.Errorf("Run called again: %v, want ErrQueueStopped", err)
	}
}

// TestShutdownAfterRunReturned: Shutdown returns ctx's error only when
// its deadline cut deliveries short. Once Run has returned there is
// nothing left to cut, and a second Shutdown, or one after Run's context
// ended, returns nil even with a context already done, every time (a
// select between the two would pick either).
func TestShutdownAfterRunReturned(t *testing.T) {
	done, cancel := context.WithCancel(ctx)
	cancel()
	for i := range 50 {
		q := &outbox.Queue{Outbox: outbox.NewMemory(), Destinations: []sender.Destination{{Name: "d", URL: "https://example.com/"}}}
		if err := q.Run(done); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run with a cancelled context: %v", err)
		}
		if err := q.Shutdown(done); err != nil {
			t.Fatalf("try %d: Shutdown after Run returned: %v, want nil", i, err)
		}
		if err := q.Shutdown(done); err != nil {
			t.Fatalf("try %d: a second Shutdown: %v, want nil", i, err)
		}
	}
}
