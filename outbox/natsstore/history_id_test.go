package natsstore_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// TestAdminHistoryLongIDKeepsConnection: GET /history?id=… of the
// AdminHandler, over a JetStream outbox, with an id no delivery can have
// (longer than the 256 bytes of the id rule) is answered at once, and so is
// a History call with it: neither makes a request on a subject longer than
// the server's max_control_line, which made the server close the outbox's
// connection, failing every Put, Lease and Settle of the worker after it.
func TestAdminHistoryLongIDKeepsConnection(t *testing.T) {
	js := jetStream(t)
	nc := js.Conn()
	ob := open(t, js, freshConfig())
	srv := httptest.NewServer(http.StripPrefix("/outbox", outbox.AdminHandler(ob)))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/outbox/history?id=" + url.QueryEscape(strings.Repeat("a", 4000)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(500 * time.Millisecond)
	st := nc.Stats()
	t.Logf("status %d; connection reconnects %d, status %v, last error %v", resp.StatusCode, st.Reconnects, nc.Status(), nc.LastError())
	if st.Reconnects > 0 || !nc.IsConnected() || nc.LastError() != nil {
		t.Errorf("one admin GET dropped the outbox's NATS connection: reconnects %d, status %v, last error %v",
			st.Reconnects, nc.Status(), nc.LastError())
	}
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
		t.Errorf("history of an impossible id answered %d, want 400 or 404", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// And through the Admin interface itself, as a program's own handler
	// would call it.
	if _, err := ob.History(ctx, strings.Repeat("b", 4000)); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("History of a 4000-byte id: %v, want ErrNotFound", err)
	}
	time.Sleep(500 * time.Millisecond)
	if !nc.IsConnected() {
		t.Errorf("History of a 4000-byte id closed the connection: %v", nc.LastError())
	}
	if _, err := ob.Stats(ctx); err != nil {
		t.Errorf("Stats after: %v", err)
	}
}
