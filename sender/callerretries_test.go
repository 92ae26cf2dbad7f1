package sender_test

import (
	"context"
	"errors"
	"net/http"
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
	}
}
