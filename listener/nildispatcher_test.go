package listener_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
)

// singleEventFeed is a Feed holding one valid event.
type singleEventFeed struct{}

func (singleEventFeed) Fetch(_ context.Context, cursor string) ([]listener.Event, string, error) {
	if cursor != "" {
		return nil, cursor, nil
	}
	return []listener.Event{{ID: "evt-1", Topic: "job:ready"}}, "1", nil
}

// TestSourcesRefuseNilDispatcher: a Poller served with a nil Dispatcher
// panicked (a nil interface call, not recovered) on the feed's first valid
// event, taking the process down; an HTTPServer served with one ran,
// answering every request 500. Both now refuse it at once, as natsevents'
// Source does.
func TestSourcesRefuseNilDispatcher(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("Poller.Serve with a nil Dispatcher panicked: %v", r)
			}
		}()
		p := &listener.Poller{Feed: singleEventFeed{}}
		if err := p.Serve(ctx, nil); err == nil {
			t.Error("Poller.Serve with a nil Dispatcher = nil, want an error")
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &listener.HTTPServer{NetListener: ln}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, nil) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("HTTPServer.Serve with a nil Dispatcher = nil, want an error")
		}
	case <-time.After(20 * time.Second):
		t.Error("HTTPServer.Serve with a nil Dispatcher is still serving")
		cancel()
		<-done
	}
}
