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
	done := make(chan error, 1)
	go func() { done <- q.Run(context.Background()) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Shutdown(sctx)
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
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
