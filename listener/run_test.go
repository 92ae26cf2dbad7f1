package listener_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
)

func TestRunHTTPServerGracefulDrain(t *testing.T) {
	l := listener.New(listener.WithDrainTimeout(time.Minute))
	started := make(chan struct{})
	release := make(chan struct{})
	var handlerCtxErr error
	var finished atomic.Bool
	mustOn(t, l, "slow:*", func(ctx context.Context, ev *listener.Event) error {
		close(started)
		<-release
		handlerCtxErr = ctx.Err()
		finished.Store(true)
		return nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/events"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() {
		runErr <- l.Run(ctx, &listener.HTTPServer{NetListener: ln, Path: "/events"})
	}()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	status := make(chan int, 1)
	go func() {
		resp, err := client.Post(url, "application/json", strings.NewReader(`{"id":"1","topic":"slow:job"}`))
		if err != nil {
			t.Error(err)
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-started
	cancel() // stop intake while the handler is in flight

	// New events are refused: the server stops accepting connections.
	refused := false
	for range 1000 {
		resp, err := client.Post(url, "application/json", strings.NewReader(`{"id":"2","topic":"fast:job"}`))
		if err != nil {
			refused = true
			break
		}
		resp.Body.Close()
		time.Sleep(2 * time.Millisecond)
	}
	if !refused {
		t.Fatal("server still accepts events after cancel")
	}
	select {
	case err := <-runErr:
		t.Fatalf("Run returned before the in-flight handler finished: %v", err)
	default:
	}
	close(release)
	if code := <-status; code != http.StatusNoContent {
		t.Fatalf("in-flight request got %d, want 204", code)
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !finished.Load() || handlerCtxErr != nil {
		t.Fatalf("handler finished=%v ctx err=%v", finished.Load(), handlerCtxErr)
	}
}

func TestRunRefusesNewDispatchesWhileDraining(t *testing.T) {
	l := listener.New()
	var handled []string
	var mu sync.Mutex
	mustOn(t, l, "**", func(ctx context.Context, ev *listener.Event) error {
		mu.Lock()
		handled = append(handled, ev.ID)
		mu.Unlock()
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	var late error
	src := listener.SourceFunc(func(sctx context.Context, d listener.Dispatcher) error {
		if err := d.Dispatch(sctx, &listener.Event{ID: "a", Topic: "x:y"}); err != nil {
			return err
		}
		cancel()
		<-sctx.Done()
		late = d.Dispatch(context.Background(), &listener.Event{ID: "b", Topic: "x:y"})
		return nil
	})
	if err := l.Run(ctx, src); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(late, listener.ErrStopped) || listener.IsPermanent(late) {
		t.Fatalf("late dispatch: %v, want retryable ErrStopped", late)
	}
	if !slices.Equal(handled, []string{"a"}) {
		t.Fatalf("handled %v", handled)
	}
	// The HTTP source answers ErrStopped with 503.
	w := post(&listener.HTTPHandler{Dispatcher: stoppedDispatcher{}}, jsonHeader(), `{"id":"1","topic":"a:b"}`)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("stopped: %d", w.Code)
	}
}

// stoppedDispatcher is what a draining Run hands a source after stop.
type stoppedDispatcher struct{}

func (stoppedDispatcher) Dispatch(context.Context, *listener.Event) error { return listener.ErrStopped }

func TestRunDrainTimeoutCancelsHandlers(t *testing.T) {
	l := listener.New(listener.WithDrainTimeout(20 * time.Millisecond))
	sawCancel := make(chan error, 1)
	started := make(chan struct{})
	mustOn(t, l, "**", func(ctx context.Context, ev *listener.Event) error {
		close(started)
		<-ctx.Done()
		sawCancel <- ctx.Err()
		return ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	src := listener.SourceFunc(func(sctx context.Context, d listener.Dispatcher) error {
		go func() { _ = d.Dispatch(sctx, &listener.Event{ID: "a", Topic: "x:y"}) }()
		<-started
		cancel()
		<-sctx.Done()
		return nil
	})
	err := l.Run(ctx, src)
	if !errors.Is(err, listener.ErrDrainTimeout) {
		t.Fatalf("Run: %v", err)
	}
	if err := <-sawCancel; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler ctx: %v", err)
	}
}

func TestRunSourceErrorStopsTheOthers(t *testing.T) {
	l := listener.New()
	boom := errors.New("boom")
	stopped := make(chan struct{})
	failing := listener.SourceFunc(func(context.Context, listener.Dispatcher) error { return boom })
	waiting := listener.SourceFunc(func(ctx context.Context, _ listener.Dispatcher) error {
		<-ctx.Done()
		close(stopped)
		return nil
	})
	if err := l.Run(context.Background(), failing, waiting); !errors.Is(err, boom) {
		t.Fatalf("Run: %v", err)
	}
	<-stopped
	if err := l.Run(context.Background()); err == nil {
		t.Fatal("Run without sources")
	}
	if err := l.Run(context.Background(), nil); err == nil {
		t.Fatal("Run with a nil source")
	}
}

func TestRunBoundsConcurrency(t *testing.T) {
	l := listener.New(listener.WithConcurrency(2))
	var inFlight, peak, total atomic.Int32
	gate := make(chan struct{})
	mustOn(t, l, "**", func(ctx context.Context, ev *listener.Event) error {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-gate
		inFlight.Add(-1)
		total.Add(1)
		return nil
	})
	src := listener.SourceFunc(func(ctx context.Context, d listener.Dispatcher) error {
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() { _ = d.Dispatch(ctx, &listener.Event{ID: strconv.Itoa(i), Topic: "x:y"}) })
		}
		for range 10 {
			gate <- struct{}{}
		}
		wg.Wait()
		return nil
	})
	if err := l.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if total.Load() != 10 || peak.Load() > 2 {
		t.Fatalf("total %d, peak %d (limit 2)", total.Load(), peak.Load())
	}
}
