package guard

import (
	"context"
	"errors"
	"sync"
	"testing"
)

var errClosed = errors.New("closed")

// TestLock: Lock holds the mutex only when it returns nil; it refuses an
// ended context and a closed flag, each with its own error.
func TestLock(t *testing.T) {
	var mu sync.Mutex
	closed := false
	if err := Lock(context.Background(), &mu, &closed, errClosed); err != nil {
		t.Fatalf("open: %v", err)
	}
	if mu.TryLock() {
		t.Fatal("Lock returned nil without holding the mutex")
	}
	closed = true
	mu.Unlock()
	if err := Lock(context.Background(), &mu, &closed, errClosed); !errors.Is(err, errClosed) {
		t.Errorf("closed: %v, want errClosed", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Lock(ctx, &mu, &closed, errClosed); !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: %v, want context.Canceled", err)
	}
	if !mu.TryLock() {
		t.Error("a refused Lock left the mutex held")
	}
}
