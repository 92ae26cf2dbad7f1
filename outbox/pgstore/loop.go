package pgstore

import (
	"context"
	"sync"
)

// loop is a goroutine of a store that starts on first use and stops once,
// at Close: the wake-up listener's and the notifier's. Its mu guards the
// fields of its owner too.
type loop struct {
	mu      sync.Mutex
	start   sync.Once
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{} // closed when the goroutine has returned
}

// begin runs run in a goroutine on the first call, unless stop came first;
// run returns once its context ends.
func (l *loop) begin(run func(ctx context.Context)) {
	l.start.Do(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.stopped {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		l.cancel, l.done = cancel, make(chan struct{})
		go func() {
			defer close(l.done)
			run(ctx)
		}()
	})
}

// stop ends the goroutine, if it started, and waits for it; a later begin
// starts nothing.
func (l *loop) stop() {
	l.mu.Lock()
	l.stopped = true
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}
