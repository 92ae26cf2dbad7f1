package natsevents_test

import (
	"context"
	"maps"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

// connect connects to the server at url (see natstest.Connect) for a
// Source or a publisher.
func connect(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	_, js := natstest.Connect(t, url)
	return js
}

// bus is a NATS server with JetStream of a test's own, at url, and a
// connection to it for publishing events and reading streams.
type bus struct {
	url string
	js  jetstream.JetStream
}

// newBus starts the test's server and connects to it; both end with the
// test.
func newBus(t *testing.T) bus {
	t.Helper()
	url := natstest.Start(t, nil).ClientURL()
	return bus{url: url, js: connect(t, url)}
}

// serve sets src up, on a new connection to url unless it has a JetStream
// already, and serves l from it until ctx ends; the channel yields what
// Serve returned.
func serve(ctx context.Context, t *testing.T, url string, src *natsevents.Source, l *listener.Listener) <-chan error {
	t.Helper()
	if src.JetStream == nil {
		src.JetStream = connect(t, url)
	}
	if err := src.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- src.Serve(ctx, l) }()
	return done
}

// counting returns a listener that handles every event by counting it in
// c under key(ev).
func counting(t *testing.T, c *tally, key func(*listener.Event) string) *listener.Listener {
	t.Helper()
	l := listener.New()
	if err := l.On("**", func(_ context.Context, ev *listener.Event) error {
		c.add(key(ev))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return l
}

// holding returns a listener that handles job:run events by counting
// each in c under its id and then waiting until release is closed.
func holding(t *testing.T, c *tally, release <-chan struct{}) *listener.Listener {
	t.Helper()
	l := listener.New()
	if err := l.On("job:run", func(_ context.Context, ev *listener.Event) error {
		c.add(ev.ID)
		<-release
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return l
}

// eventStream returns the default events stream on js and how many
// messages it holds.
func eventStream(ctx context.Context, t *testing.T, js jetstream.JetStream) (jetstream.Stream, uint64) {
	t.Helper()
	stream, err := js.Stream(ctx, "HERALD_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream, info.State.Msgs
}

// tally counts handler calls per key (an event id, or what a test makes of
// an event), safe for the source's goroutines.
type tally struct {
	mu    sync.Mutex
	calls map[string]int
}

// add counts one call of key and returns its count so far.
func (c *tally) add(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[key]++
	return c.calls[key]
}

// get returns the count of key.
func (c *tally) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[key]
}

// len returns how many keys were counted at least once.
func (c *tally) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

// counts returns a copy of the counts.
func (c *tally) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.calls)
}

// missing returns the keys of want never counted.
func (c *tally) missing(want []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, key := range want {
		if c.calls[key] == 0 {
			out = append(out, key)
		}
	}
	return out
}
