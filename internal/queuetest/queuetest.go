// Package queuetest holds the set-up that the tests of package outbox and
// of its stores share: running a Queue for the length of a test, and
// waiting for what it does.
package queuetest

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// Run starts q.Run and, when t ends, shuts q down (allowing it 10 seconds)
// and fails t if Run returned an error.
func Run(t testing.TB, q *outbox.Queue) {
	t.Helper()
	stop := Start(q)
	t.Cleanup(func() {
		if _, err := stop(10 * time.Second); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// Start starts q.Run. stop shuts q down, allowing it wait, and returns
// what Shutdown returned and then what Run returned.
func Start(q *outbox.Queue) (stop func(wait time.Duration) (shutdown, run error)) {
	done := make(chan error, 1)
	go func() { done <- q.Run(context.Background()) }()
	return func(wait time.Duration) (error, error) {
		sctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		err := q.Shutdown(sctx)
		return err, <-done
	}
}

// Opened returns a function that takes what a store's Open returned,
// fails t on its error, and closes the store when t ends:
//
//	ob := queuetest.Opened(t)(boltstore.Open(path, nil))
func Opened(t testing.TB) func(outbox.Store, error) outbox.Store {
	return func(s outbox.Store, err error) outbox.Store {
		t.Helper()
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

// WaitFor polls cond every 5 ms until it holds, and fails t with what
// when timeout passes first.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
