package listener

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// A Source feeds events to a Dispatcher. Serve runs until ctx is cancelled
// or the source fails. Once ctx is cancelled it must stop taking in events,
// let the dispatches it started finish, and return nil.
type Source interface {
	Serve(ctx context.Context, d Dispatcher) error
}

// SourceFunc adapts a function to a [Source].
type SourceFunc func(ctx context.Context, d Dispatcher) error

// Serve calls f(ctx, d).
func (f SourceFunc) Serve(ctx context.Context, d Dispatcher) error { return f(ctx, d) }

// ErrDrainTimeout: Run gave up waiting for in-flight handlers.
var ErrDrainTimeout = errors.New("listener: drain deadline exceeded")

// Run serves sources until ctx is cancelled or one of them fails, handling
// at most [WithConcurrency] events at once across all of them. When ctx is
// cancelled it stops intake (sources stop, and dispatches that have not
// started fail with [ErrStopped]) and waits for in-flight handlers. Handlers
// keep a live context while draining; after [WithDrainTimeout] their
// contexts are cancelled and Run returns [ErrDrainTimeout]. Run returns nil
// after a clean drain, or the first source error.
func (l *Listener) Run(ctx context.Context, sources ...Source) error {
	if len(sources) == 0 {
		return errors.New("listener: Run needs at least one source")
	}
	for i, s := range sources {
		if s == nil {
			return fmt.Errorf("listener: source %d is nil", i)
		}
	}
	r := l.router()
	r.mu.Lock()
	r.init()
	cfg := r.cfg
	r.mu.Unlock()

	handlerCtx, stopHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHandlers()
	g := &gate{
		l:            l,
		sem:          make(chan struct{}, cfg.concurrency),
		stopCh:       make(chan struct{}),
		handlerCtx:   handlerCtx,
		drainTimeout: cfg.drainTimeout,
	}
	// Sources see cancellation only once the gate is stopped, so that a
	// source that saw ctx.Done can rely on new dispatches being refused.
	srcCtx, stopSources := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSources()
	errc := make(chan error, len(sources))
	for _, s := range sources {
		go func() { errc <- s.Serve(srcCtx, g) }()
	}

	var first error
	var drain <-chan time.Time
	stopping := ctx.Done()
	draining := false
	startDrain := func() {
		stopping, draining = nil, true
		g.stop()
		stopSources()
		drain = time.NewTimer(cfg.drainTimeout).C
	}
	for running := len(sources); running > 0; {
		select {
		case err := <-errc:
			running--
			if err != nil && first == nil {
				first = err
				if !draining {
					startDrain()
				}
			}
		case <-stopping:
			startDrain()
		case <-drain:
			stopHandlers()
			r.log.Error("listener: drain deadline exceeded", "sources_running", running)
			if first == nil {
				first = ErrDrainTimeout
			}
			return first
		}
	}
	// All sources returned; wait for dispatches they may have left running.
	if !draining {
		startDrain()
	}
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-drain:
		stopHandlers()
		if first == nil {
			first = ErrDrainTimeout
		}
	}
	return first
}

// ErrStopped: the listener is draining and accepts no new events.
var ErrStopped = errors.New("listener: stopped")

// gate is the Dispatcher Run gives its sources: it bounds concurrency,
// refuses new events once draining, and detaches handlers from the source's
// cancellation until the drain deadline.
type gate struct {
	l          *Listener
	sem        chan struct{}
	handlerCtx context.Context
	// drainTimeout is the listener's WithDrainTimeout, which an HTTPServer
	// source also gives its in-flight requests.
	drainTimeout time.Duration

	mu      sync.Mutex
	stopped bool
	stopCh  chan struct{}
	wg      sync.WaitGroup
}

func (g *gate) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.stopped {
		g.stopped = true
		close(g.stopCh)
	}
}

// Dispatch implements Dispatcher.
func (g *gate) Dispatch(ctx context.Context, ev *Event) error {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return ErrStopped
	}
	g.wg.Add(1)
	g.mu.Unlock()
	defer g.wg.Done()

	select {
	case g.sem <- struct{}{}:
	case <-g.stopCh:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.sem }()

	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	unhook := context.AfterFunc(g.handlerCtx, cancel)
	defer unhook()
	return g.l.Dispatch(hctx, ev)
}
