package natsevents_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

// publishAll publishes events prefix-0 … prefix-(n-1), retrying each until
// JetStream stores it (the id deduplicates retries), and returns the ids.
func publishAll(t *testing.T, js jetstream.JetStream, prefix string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprint(prefix, "-", i)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := natsevents.Publish(ctx, js, "", &listener.Event{ID: ids[i], Topic: "job:run", Payload: []byte(`{}`)})
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s: %v", ids[i], err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return ids
}

// waitAll polls until every id in want is in got.
func waitAll(t *testing.T, got *tally, want []string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		miss := got.missing(want)
		if len(miss) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never handled, e.g. %v", len(miss), len(want), miss[:min(5, len(miss))])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSettled polls until the consumer has nothing pending or unacknowledged.
func waitSettled(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cons, err := js.Consumer(ctx, "HERALD_EVENTS", "herald-workers")
		var info *jetstream.ConsumerInfo
		if err == nil {
			info, err = cons.Info(ctx)
		}
		cancel()
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("consumer info: %v", err)
			}
			t.Fatalf("consumer pending %d, ack pending %d", info.NumPending, info.NumAckPending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSourceSurvivesServerRestart restarts the server (same store, same
// port) while two workers consume: both reconnect and resume, and every
// event published before and after the restart is handled.
func TestSourceSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	s := natstest.Start(t, &server.Options{StoreDir: dir})
	port := natstest.Port(s)
	url := s.ClientURL()

	var handled tally
	l := listener.New()
	l.On("job:run", func(_ context.Context, ev *listener.Event) error {
		time.Sleep(5 * time.Millisecond) // keep events in flight
		handled.add(ev.ID)
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var workers []<-chan error
	for range 2 {
		src := &natsevents.Source{AckWait: time.Second, RetryDelay: 10 * time.Millisecond, Concurrency: 8}
		workers = append(workers, serve(ctx, t, url, src, l))
	}
	_, pub := natstest.Connect(t, url)
	before := publishAll(t, pub, "before", 250)
	for deadline := time.Now().Add(60 * time.Second); handled.len() < 50; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d events handled before the restart", handled.len())
		}
	}

	s.Shutdown()
	s.WaitForShutdown()
	t.Logf("server stopped after %d events handled", handled.len())
	for _, w := range workers {
		select {
		case err := <-w:
			t.Fatalf("Serve returned on a disconnect: %v", err)
		default:
		}
	}
	natstest.Start(t, &server.Options{StoreDir: dir, Port: port})

	after := publishAll(t, pub, "after", 250)
	waitAll(t, &handled, before)
	waitAll(t, &handled, after)
	waitSettled(t, pub)

	cancel()
	for _, w := range workers {
		if err := <-w; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
}

// TestSourceRedeliversAfterConnectionLoss closes the connection of a worker
// whose handlers hold events: JetStream redelivers them to the other worker
// after AckWait, and the closed worker's Serve reports the loss.
func TestSourceRedeliversAfterConnectionLoss(t *testing.T) {
	b := newBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Worker A takes events and holds them until its connection is closed.
	var held tally
	release := make(chan struct{})
	la := holding(t, &held, release) // its acks, once released, cannot reach the server
	ncA, jsA := natstest.Connect(t, b.url)
	errA := serve(ctx, t, b.url, &natsevents.Source{JetStream: jsA, AckWait: time.Second, Concurrency: 4}, la)

	ids := publishAll(t, b.js, "ev", 100)
	for deadline := time.Now().Add(60 * time.Second); held.len() < 4; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("worker A holds %d events, want 4", held.len())
		}
	}

	// Worker B handles everything it gets.
	var handled tally
	lb := listener.New()
	lb.On("job:run", func(_ context.Context, ev *listener.Event) error { handled.add(ev.ID); return nil })
	errB := serve(ctx, t, b.url, &natsevents.Source{AckWait: time.Second, Concurrency: 4}, lb)

	ncA.Close()
	close(release)
	select {
	case err := <-errA:
		if !errors.Is(err, jetstream.ErrConnectionClosed) {
			t.Errorf("Serve of the closed worker = %v, want ErrConnectionClosed", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Serve of the closed worker did not return")
	}

	waitAll(t, &handled, ids)
	waitSettled(t, b.js)
	var taken []string
	for _, id := range ids {
		if held.get(id) > 0 {
			taken = append(taken, id)
		}
	}
	if len(taken) < 4 {
		t.Errorf("worker A held %d events, want at least 4", len(taken))
	}
	t.Logf("%d events held by the closed worker were redelivered and handled", len(taken))

	cancel()
	if err := <-errB; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
