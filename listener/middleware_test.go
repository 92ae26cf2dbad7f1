package listener_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/listenertest"
)

func TestRecoverMiddleware(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	h := listener.Recover(logger)(func(context.Context, *listener.Event) error { panic("kaput") })
	err := h(context.Background(), listenertest.NewEvent(t, "job:ready", nil))
	if !errors.Is(err, listener.ErrPanic) || !strings.Contains(err.Error(), "kaput") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "goroutine") {
		t.Fatal("stack leaked into the error")
	}
	if !strings.Contains(logs.String(), "stack=") || !strings.Contains(logs.String(), "middleware_test.go") {
		t.Fatalf("no stack in the log: %s", logs.String())
	}
}

func TestDispatchLogsPanicStack(t *testing.T) {
	var logs bytes.Buffer
	l := listener.New(listener.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	mustOn(t, l, "job:*", func(context.Context, *listener.Event) error { panic("kaput") })
	if err := l.Dispatch(context.Background(), listenertest.NewEvent(t, "job:x", nil)); !errors.Is(err, listener.ErrPanic) {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "listener_test") && !strings.Contains(logs.String(), "middleware_test.go") {
		t.Fatalf("no stack: %s", logs.String())
	}
}

func TestTimeoutMiddleware(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sawDeadline bool
	h := listener.Timeout(time.Hour)(func(ctx context.Context, ev *listener.Event) error {
		_, sawDeadline = ctx.Deadline()
		return nil
	})
	if err := h(parent, listenertest.NewEvent(t, "job:ready", nil)); err != nil {
		t.Fatal(err)
	}
	if !sawDeadline {
		t.Fatal("handler got no deadline")
	}
	if _, ok := parent.Deadline(); ok || parent.Err() != nil {
		t.Fatal("parent context was changed")
	}
	// A handler that waits on ctx ends with DeadlineExceeded.
	h = listener.Timeout(time.Millisecond)(func(ctx context.Context, ev *listener.Event) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if err := h(parent, listenertest.NewEvent(t, "job:ready", nil)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if parent.Err() != nil {
		t.Fatal("parent cancelled")
	}
	h = listener.Timeout(0)(func(ctx context.Context, ev *listener.Event) error {
		if _, ok := ctx.Deadline(); ok {
			return errors.New("deadline set")
		}
		return nil
	})
	if err := h(parent, listenertest.NewEvent(t, "job:ready", nil)); err != nil {
		t.Fatal(err)
	}
}

func TestRetryMiddleware(t *testing.T) {
	ev := listenertest.NewEvent(t, "job:ready", nil)
	fast := listener.RetryPolicy{MaxAttempts: 4, MinWait: time.Microsecond, MaxWait: time.Millisecond}
	calls := 0
	transient := errors.New("transient")
	h := listener.Retry(fast)(func(context.Context, *listener.Event) error {
		calls++
		if calls < 3 {
			return transient
		}
		return nil
	})
	if err := h(context.Background(), ev); err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}

	calls = 0
	h = listener.Retry(fast)(func(context.Context, *listener.Event) error { calls++; return transient })
	if err := h(context.Background(), ev); !errors.Is(err, transient) || calls != 4 {
		t.Fatalf("err %v after %d calls, want 4 attempts", err, calls)
	}

	calls = 0
	h = listener.Retry(fast)(func(context.Context, *listener.Event) error { calls++; return listener.Permanent(transient) })
	if err := h(context.Background(), ev); !listener.IsPermanent(err) || calls != 1 {
		t.Fatalf("permanent error retried: %v after %d calls", err, calls)
	}

	// Cancelling the context stops the wait at once.
	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	slow := listener.RetryPolicy{MaxAttempts: 5, MinWait: time.Hour, MaxWait: time.Hour}
	h = listener.Retry(slow)(func(context.Context, *listener.Event) error { calls++; cancel(); return transient })
	if err := h(ctx, ev); !errors.Is(err, transient) || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}

	// Retry wraps Recover: a panic is retried like an error.
	calls = 0
	h = listener.Retry(fast)(listener.Recover(nil)(func(context.Context, *listener.Event) error {
		calls++
		if calls == 1 {
			panic("once")
		}
		return nil
	}))
	if err := h(context.Background(), ev); err != nil || calls != 2 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

func TestLoggingMiddleware(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ev := listenertest.NewEvent(t, "job:ready", map[string]string{"secret": "hunter2"})
	ok := listener.Logging(logger)(func(context.Context, *listener.Event) error { return nil })
	bad := listener.Logging(logger)(func(context.Context, *listener.Event) error { return errors.New("nope") })
	_ = ok(context.Background(), ev)
	if err := bad(context.Background(), ev); err == nil {
		t.Fatal("error swallowed")
	}
	out := logs.String()
	if !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "level=ERROR") || !strings.Contains(out, ev.ID) || !strings.Contains(out, "err=nope") {
		t.Fatalf("log: %s", out)
	}
	if strings.Contains(out, "hunter2") {
		t.Fatal("payload logged")
	}
	// A nil logger adds nothing.
	if err := listener.Logging(nil)(func(context.Context, *listener.Event) error { return nil })(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}
