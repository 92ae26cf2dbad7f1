package listener_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald/listener"
)

// TestHTTPRejectionHidesOtherHandlersErrors: when one handler refuses an
// event as an invalid payload and another fails permanently for reasons of
// its own, the 400 says why the payload was refused and nothing of the
// other handler's error. (The answer was the first line of the joined
// error: the other handler's text, told to the client, when that handler
// ran first.)
func TestHTTPRejectionHidesOtherHandlersErrors(t *testing.T) {
	l := listener.New()
	mustOn(t, l, "pay:done", func(context.Context, *listener.Event) error {
		return listener.Permanent(errors.New("ledger: insert refused by db.internal:5432 for user ledger_rw"))
	})
	mustOn(t, l, "pay:done", func(context.Context, *listener.Event) error {
		return listener.Permanent(fmt.Errorf("%w: amount is required", listener.ErrInvalidPayload))
	})
	srv := httptest.NewServer(&listener.HTTPHandler{Dispatcher: l})
	defer srv.Close()

	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"id":"1","topic":"pay:done","payload":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %q", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "ledger") || strings.Contains(string(body), "db.internal") {
		t.Errorf("answer tells another handler's error: %q", body)
	}
	if !strings.Contains(string(body), "amount is required") {
		t.Errorf("answer does not say why the payload was refused: %q", body)
	}
}
