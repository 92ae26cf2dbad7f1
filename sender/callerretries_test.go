package sender_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// A caller that retries later gets a single attempt, however many the
// policy allows, with the Retry-After the destination asked for; a caller
// that does not gets the policy's burst.
func TestSendCallerRetriesMakesOneAttempt(t *testing.T) {
	for _, tc := range []struct {
		status   int
		after    string
		callerRt bool
		tries    int
		wait     time.Duration
	}{
		{http.StatusTooManyRequests, "7", true, 1, 7 * time.Second},
		{http.StatusServiceUnavailable, "3", true, 1, 3 * time.Second},
		{http.StatusInternalServerError, "3", true, 1, 0}, // only 429 and 503 ask to wait
		{http.StatusServiceUnavailable, "", false, 3, 0},
	} {
		rcv := sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
			h := http.Header{}
			if tc.after != "" {
				h.Set("Retry-After", tc.after)
			}
			return tc.status, h, nil
		}))
		s := rcv.Sender()
		s.Retry = sender.RetryPolicy{MaxAttempts: 3, MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond}
		res, err := s.Send(context.Background(), rcv.Destination(nil), sender.Message{CallerRetries: tc.callerRt})
		var de *sender.DeliveryError
		if !errors.As(err, &de) || !de.Retryable {
			t.Fatalf("%d: Send = %v, want a retryable DeliveryError", tc.status, err)
		}
		if res.Attempts != tc.tries || len(rcv.Deliveries()) != tc.tries {
			t.Errorf("%d caller retries %v: %d attempts (%d received), want %d", tc.status, tc.callerRt, res.Attempts, len(rcv.Deliveries()), tc.tries)
		}
		if res.RetryAfter != tc.wait {
			t.Errorf("%d Retry-After %q: RetryAfter %v, want %v", tc.status, tc.after, res.RetryAfter, tc.wait)
		}
		// Nothing ran out when the caller retries: the error says what
		// failed, not "retries exhausted" (which an operator reading a
		// queue's log took for a delivery given up).
		if gaveUp := errors.Is(err, sender.ErrGaveUp); gaveUp == tc.callerRt {
			t.Errorf("%d caller retries %v: %v; ErrGaveUp %v, want %v", tc.status, tc.callerRt, err, gaveUp, !tc.callerRt)
		}
	}
}

// A failure the caller says it retries is logged at Info, not Warn: the
// outbox queue, not the sender, gives the final verdict.
func TestSendCallerRetriesLogsInfo(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil, sendertest.FailFirst(100, http.StatusServiceUnavailable))
	for _, tc := range []struct {
		name          string
		callerRetries bool
		want          string
	}{
		{"sender's verdict", false, "level=WARN"},
		{"caller retries", true, "level=INFO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			s := rcv.Sender()
			s.Retry = sender.RetryPolicy{MaxAttempts: 1}
			s.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			_, err := s.Send(context.Background(), rcv.Destination(nil), sender.Message{CallerRetries: tc.callerRetries})
			if !errors.Is(err, sender.ErrServer) {
				t.Fatalf("Send = %v, want ErrServer", err)
			}
			line := logs.String()
			if !strings.Contains(line, "webhook failed") || !strings.Contains(line, tc.want) {
				t.Fatalf("log %q, want %s", line, tc.want)
			}
		})
	}
}

// TestSendReportsTheContextsCause: a send cut short by a context cancelled
// with a cause (as a Queue cuts an attempt at half its lease, with
// context.DeadlineExceeded) fails with that cause, not "context canceled",
// which read in the logs as a shutdown.
func TestSendReportsTheContextsCause(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil, sendertest.Delay(5*time.Second))
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(50*time.Millisecond, func() { cancel(context.DeadlineExceeded) })
	_, err := rcv.Sender().Send(ctx, rcv.Destination(nil), sender.Message{CallerRetries: true})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v; want the context's cause, DeadlineExceeded", err)
	}
}
