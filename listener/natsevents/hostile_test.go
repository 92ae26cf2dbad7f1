package natsevents_test

// The Source against a hostile or unlucky JetStream: a user who may only
// use _INBOX.> forging statuses, a publisher of malformed events on the
// longest subjects, a server that refuses pull requests, a stream deleted
// under a worker, handlers slower than AckWait. Each test but
// TestForgedAckReplyRefused and TestStreamDeleted failed on the pull loop
// as it was first written.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/internal/syncbuf"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

// countPulls counts the pull requests sent for the default consumer, seen
// from a separate connection.
func countPulls(t *testing.T, url string) *atomic.Int64 {
	t.Helper()
	nc, _ := natstest.Connect(t, url)
	var n atomic.Int64
	if _, err := nc.Subscribe("$JS.API.CONSUMER.MSG.NEXT.HERALD_EVENTS.herald-workers", func(*nats.Msg) { n.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &n
}

// countStatuses counts the status messages (no reply, a Status header)
// sent to any inbox, seen from a separate connection.
func countStatuses(t *testing.T, url string) *atomic.Int64 {
	t.Helper()
	nc, _ := natstest.Connect(t, url)
	var n atomic.Int64
	if _, err := nc.Subscribe("_INBOX.>", func(m *nats.Msg) {
		if m.Reply == "" && m.Header.Get("Status") != "" {
			n.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &n
}

// TestPullRefusedBacksOff: a server whose operator set jetstream { limits {
// max_request_batch: 4 } } gives the consumer MaxRequestBatch 4, and
// refuses a larger request at once ("409 Exceeded MaxRequestBatch"). The
// Source asks for no more than that, and after any refusal waits before it
// asks again: the event is handled, with a handful of requests. (It asked
// for 2×Concurrency and, refused, again at once: tens of thousands of
// requests a second, and no event.)
func TestPullRefusedBacksOff(t *testing.T) {
	s := natstest.Start(t, &server.Options{JetStreamLimits: server.JSLimitOpts{MaxRequestBatch: 4}})
	url := s.ClientURL()
	_, js := natstest.Connect(t, url)
	var got tally
	l := counting(t, &got, func(ev *listener.Event) string { return ev.ID })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := serve(ctx, t, url, &natsevents.Source{AckWait: time.Second}, l)
	pulls := countPulls(t, url)
	if err := natsevents.Publish(ctx, js, "", &listener.Event{ID: "e1", Topic: "job:ready", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	n := pulls.Load()
	t.Logf("%d pull requests in 2s, event handled %d times", n, got.get("e1"))
	select {
	case err := <-done:
		t.Logf("Serve returned %v", err) // an error naming the refusal would be acceptable
		return
	default:
	}
	if n > 20 {
		t.Errorf("%d pull requests in 2s: the loop spins on an immediate 409", n)
	}
	if got.get("e1") == 0 {
		t.Errorf("event never handled and Serve still running without an error")
	}
}

// attacker connects as a user that may only publish and subscribe under
// _INBOX.> (what any requester/responder of the account typically has):
// it may not publish events, nor touch $JS.API or $JS.ACK itself.
func inboxOnlyServer(t *testing.T) (url string, worker, attacker *nats.Conn) {
	t.Helper()
	s := natstest.Start(t, &server.Options{Users: []*server.User{
		{Username: "w", Password: "p"},
		{Username: "a", Password: "p", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
		}},
	}})
	url = s.ClientURL()
	var err error
	if worker, err = nats.Connect(url, nats.UserInfo("w", "p"), nats.MaxReconnects(-1)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(worker.Close)
	if attacker, err = nats.Connect(url, nats.UserInfo("a", "p")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(attacker.Close)
	return url, worker, attacker
}

// workerInbox waits for the 408 that ends one of the worker's pull requests
// (every 5 s when idle): it is published on the worker's inbox, which any
// _INBOX.> subscriber sees. It returns the inbox's prefix.
func workerInbox(t *testing.T, attacker *nats.Conn) string {
	t.Helper()
	sub, err := attacker.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); {
		m, err := sub.NextMsg(time.Until(end))
		if err != nil {
			break
		}
		if m.Header.Get("Status") == "408" {
			return m.Subject[:strings.LastIndexByte(m.Subject, '.')]
		}
	}
	t.Fatal("never saw the worker's inbox")
	return ""
}

// attacked starts a worker serving until ctx ends, beside an attacker
// who may use only _INBOX.> (see inboxOnlyServer), and returns the
// worker's JetStream, the attacker's connection, the worker's inbox as the
// attacker found it, and the channel of Serve's result.
func attacked(ctx context.Context, t *testing.T) (jetstream.JetStream, *nats.Conn, string, <-chan error) {
	t.Helper()
	_, worker, attacker := inboxOnlyServer(t)
	js, err := jetstream.New(worker)
	if err != nil {
		t.Fatal(err)
	}
	done := serve(ctx, t, "", &natsevents.Source{JetStream: js, AckWait: time.Second}, listener.New())
	return js, attacker, workerInbox(t, attacker), done
}

// TestForgedConsumerDeleted: a user allowed only _INBOX.> publishes one
// header-only message with "Status: 409" and "Description: Consumer
// Deleted" on the worker's inbox. Serve asks the server, which still has
// the consumer, and goes on. (It returned ErrConsumerDeleted: the user
// could stop every worker in turn.)
func TestForgedConsumerDeleted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	js, attacker, inbox, done := attacked(ctx, t)

	m := nats.NewMsg(inbox + ".1")
	m.Header.Set("Status", "409")
	m.Header.Set("Description", "Consumer Deleted")
	if err := attacker.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if _, ierr := js.Consumer(ctx, "HERALD_EVENTS", "herald-workers"); ierr == nil {
			t.Fatalf("Serve returned %v on a forged status; the consumer still exists", err)
		}
	case <-time.After(3 * time.Second):
	}
}

// TestForgedAckReplyRefused: a user allowed only _INBOX.> publishes, on the worker's inbox, a message
// whose reply subject is an acknowledgement's: "$JS.ACK.<stream>.<consumer>.
// 1.<seq>.1.0.0". pull.go takes it for an event ("only the server sets"
// such a reply); handle finds its subject names no topic and answers the
// reply with +TERM, on the worker's own permissions. JetStream acks by
// stream sequence, so the real event of that sequence, waiting for its
// retry after a transient failure, would be terminated. It is not: the
// server refuses a publish whose reply subject the publisher may not
// publish on ("Permissions Violation for Publish with Reply"), so only a
// user who could send the +TERM itself can forge it.
func TestForgedAckReplyRefused(t *testing.T) {
	_, worker, attacker := inboxOnlyServer(t)
	js, err := jetstream.New(worker)
	if err != nil {
		t.Fatal(err)
	}
	var calls tally
	var ok atomic.Bool
	l := listener.New()
	l.On("job:ready", func(_ context.Context, ev *listener.Event) error {
		if calls.add(ev.ID) == 1 {
			return errors.New("transient") // retried after RetryDelay
		}
		ok.Store(true)
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := serve(ctx, t, "", &natsevents.Source{JetStream: js, AckWait: time.Second, RetryDelay: 3 * time.Second}, l)
	inbox := workerInbox(t, attacker)

	if err := natsevents.Publish(ctx, js, "", &listener.Event{ID: "victim", Topic: "job:ready", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); calls.get("victim") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("victim never handled")
		}
	}
	time.Sleep(100 * time.Millisecond) // its NAK with delay is in

	// The victim is stream sequence 1: sequences are guessable.
	forged := nats.NewMsg(inbox + ".1")
	forged.Reply = "$JS.ACK.HERALD_EVENTS.herald-workers.1.1.1.0.0"
	forged.Data = []byte(`{"id":"x","topic":"job:ready","payload":{}}`)
	if err := attacker.PublishMsg(forged); err != nil {
		t.Fatal(err)
	}

	for end := time.Now().Add(10 * time.Second); !ok.Load() && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	if !ok.Load() {
		dead, _ := js.Stream(ctx, "HERALD_EVENTS_DEAD")
		info, _ := dead.Info(ctx)
		t.Errorf("the victim was never retried (handled %d times, %d dead letters): terminated by a forged reply",
			calls.get("victim"), info.State.Msgs)
	}
	cancel()
	<-done
}

// TestQueuedEventsKeptLeased: one worker whose handlers all succeed but
// take longer than AckWait, no failure, no restart, no second worker. The
// events the loop holds ready (2×Concurrency) have their AckWait extended
// while they wait for a handler, as a running handler has: each is handled
// once. (They expired in the queue and came again.)
func TestQueuedEventsKeptLeased(t *testing.T) {
	calls, dead := slowHandlers(t, 5)
	for _, id := range []string{"a", "b", "c", "d"} {
		if n := calls.get(id); n != 1 {
			t.Errorf("event %s handled %d times by the only worker, no handler failed", id, n)
		}
	}
	if dead != 0 {
		t.Errorf("%d dead letters, no handler failed", dead)
	}
}

// TestQueuedEventsNotDeadLettered: the same with MaxDeliver 1 ("no
// retries"): no event handled successfully is dead-lettered. (A stale
// second copy counted as a second delivery, over the limit.)
func TestQueuedEventsNotDeadLettered(t *testing.T) {
	_, dead := slowHandlers(t, 1)
	if dead != 0 {
		t.Errorf("%d dead letters, no handler failed", dead)
	}
}

// slowHandlers runs one worker (Concurrency 1, AckWait 1s) whose handler
// takes 1.5s and succeeds, on four events; it returns the handler calls per
// event id and the number of dead letters once everything settled.
func slowHandlers(t *testing.T, maxDeliver int) (*tally, uint64) {
	b := newBus(t)
	var calls tally
	l := listener.New()
	l.On("job:ready", func(_ context.Context, ev *listener.Event) error {
		calls.add(ev.ID)
		time.Sleep(1500 * time.Millisecond)
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := serve(ctx, t, b.url, &natsevents.Source{AckWait: time.Second, Concurrency: 1, MaxDeliver: maxDeliver}, l)
	ids := []string{"a", "b", "c", "d"}
	for _, id := range ids {
		if err := natsevents.Publish(ctx, b.js, "", &listener.Event{ID: id, Topic: "job:ready", Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	waitAll(t, &calls, ids)
	waitSettled(t, b.js)
	time.Sleep(2 * time.Second) // a stale copy has time to come
	dead, err := b.js.Stream(ctx, "HERALD_EVENTS_DEAD")
	if err != nil {
		t.Fatal(err)
	}
	info, err := dead.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("handler calls %v, dead letters %d", calls.counts(), info.State.Msgs)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	return &calls, info.State.Msgs
}

// TestStreamDeleted: the event stream is deleted (by an operator, or it was
// in memory and the server restarted) under a running worker: Serve
// returns an error, as for a deleted consumer, without spinning meanwhile.
func TestStreamDeleted(t *testing.T) {
	b := newBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := serve(ctx, t, b.url, &natsevents.Source{AckWait: time.Second}, listener.New())
	pulls := countPulls(t, b.url)
	time.Sleep(200 * time.Millisecond)
	if err := b.js.DeleteStream(ctx, "HERALD_EVENTS"); err != nil {
		t.Fatal(err)
	}
	serveFails(t, done, 15*time.Second, func() string { return fmt.Sprint(pulls.Load(), " pull requests") })
}

// serveFails fails t unless Serve, whose result comes on done, returns an
// error within the time given after the stream was deleted; seen says what
// the loop did meanwhile.
func serveFails(t *testing.T, done <-chan error, within time.Duration, seen func() string) {
	t.Helper()
	select {
	case err := <-done:
		t.Logf("Serve = %v after %s", err, seen())
		if err == nil {
			t.Error("Serve returned nil")
		}
	case <-time.After(within):
		t.Errorf("Serve still running %v after the stream was deleted, %s meanwhile", within, seen())
	}
}

// TestStreamDeletedWhileBusy: as above, but the stream goes while no pull
// request is waiting (every handler busy, the queue full), so no "Consumer
// Deleted" status comes, and the next request gets no answer. Asked for
// the consumer's info, the server answers that the stream is gone: Serve
// returns. (It counted only a missing consumer as gone, and pulled from
// nothing every 6 s for ever.)
func TestStreamDeletedWhileBusy(t *testing.T) {
	b := newBus(t)
	release := make(chan struct{})
	var calls tally
	l := holding(t, &calls, release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := serve(ctx, t, b.url, &natsevents.Source{AckWait: 5 * time.Second, Concurrency: 1}, l)
	publishAll(t, b.js, "ev", 3)
	for end := time.Now().Add(10 * time.Second); calls.len() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("nothing handled")
		}
	}
	time.Sleep(200 * time.Millisecond) // the request filled: room 2, one running, one queued
	if err := b.js.DeleteStream(ctx, "HERALD_EVENTS"); err != nil {
		t.Fatal(err)
	}
	statuses := countStatuses(t, b.url) // not on MSG.NEXT: a subscriber there would answer for the stream
	close(release)
	serveFails(t, done, 20*time.Second, func() string { return fmt.Sprint(statuses.Load(), " statuses on its inbox") })
}

// TestForged408: a user allowed only _INBOX.> forges "408" on the worker's
// inbox for the request numbers after the one it saw. A request ends at
// its expiry, never before, so the worker holds at most its one request
// on the consumer. (Each forgery that named the request in flight made the
// loop send another while the server still held the first: 60 to 75
// waiting requests, each good for 2×Concurrency events.)
func TestForged408(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	js, attacker, inbox, done := attacked(ctx, t)
	for round := 0; round < 50; round++ {
		for n := 1; n < 400; n++ {
			m := nats.NewMsg(inbox + "." + strconv.Itoa(n))
			m.Header.Set("Status", "408")
			if err := attacker.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
		}
		attacker.Flush()
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cons, err := js.Consumer(ctx, "HERALD_EVENTS", "herald-workers")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("open pull requests of the one worker: %d", info.NumWaiting)
	if info.NumWaiting > 2 {
		t.Errorf("one worker holds %d open pull requests after forged statuses", info.NumWaiting)
	}
	cancel()
	<-done
}

// longestSubject returns the longest event subject a publisher gets into
// the stream through JetStream (the server's max_control_line bounds it),
// probing on a stream of its own.
func longestSubject(t *testing.T, js jetstream.JetStream) string {
	t.Helper()
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PROBE", Subjects: []string{"probe.>"}}); err != nil {
		t.Fatal(err)
	}
	defer js.DeleteStream(ctx, "PROBE")
	lo, hi := 10, 8000
	for lo < hi {
		mid := (lo + hi + 1) / 2
		pc, pjs := natstest.Connect(t, js.Conn().ConnectedUrl())
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := pjs.Publish(ctx, "probe."+strings.Repeat("a", mid), []byte("probe"))
		cancel()
		pc.Close()
		if err == nil {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return "events." + strings.Repeat("a", lo-1) // as long as the longest probe
}

// TestLongSubjectRefused: an event publisher (allowed on events.>, nothing
// more) publishes one message whose body does not parse on the longest
// subject the server takes. A subject that names no topic is refused
// before the body is read, so the workers go on and handle the events
// published after it. (The message was dead-lettered on "events-dead"
// plus its subject: 4 bytes longer, past the server's max_control_line,
// so the server answered -ERR and nats.go closed the worker's connection
// for good; unacknowledged, the message went to the next worker, and
// stopped every worker in turn.)
func TestLongSubjectRefused(t *testing.T) {
	b := newBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := (&natsevents.Source{JetStream: b.js}).Setup(ctx); err != nil {
		t.Fatal(err)
	}
	subj := longestSubject(t, b.js)
	t.Logf("subject of %d bytes", len(subj))
	var handled tally
	l := counting(t, &handled, func(ev *listener.Event) string { return ev.ID })
	var workers []<-chan error
	for range 2 {
		workers = append(workers, serve(ctx, t, b.url, &natsevents.Source{AckWait: time.Second}, l))
	}
	if _, err := b.js.Publish(ctx, subj, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // two AckWaits: the poison went round
	ids := publishAll(t, b.js, "after", 5)
	time.Sleep(2 * time.Second)
	var stopped []error
	for _, w := range workers {
		select {
		case err := <-w:
			stopped = append(stopped, err)
		default:
		}
	}
	if len(stopped) > 0 || len(handled.missing(ids)) > 0 {
		t.Errorf("one malformed message on a long subject: %d of 2 workers stopped (%v), events %v never handled",
			len(stopped), stopped, handled.missing(ids))
	}
}

// TestLongSubjectNotDeadLettered: the same message, of the largest body
// the stream takes, on a subject short enough for the PUB line but far
// longer than any topic's: it is refused, not redelivered for ever. (Its
// dead letter carried the subject in a header that eventMaxSize's 4 KiB of
// room did not count, exceeded max_payload, failed, and the event was
// nak'ed and came again, for ever.)
func TestLongSubjectNotDeadLettered(t *testing.T) {
	b := newBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := (&natsevents.Source{JetStream: b.js}).Setup(ctx); err != nil {
		t.Fatal(err)
	}
	subj := "events." + strings.Repeat("a", 4025) // the dead letter's HPUB line still fits max_control_line
	max := int(b.js.Conn().MaxPayload())
	var body []byte
	for n := max - 4<<10; n > 0; n -= 8 { // the largest body the stream takes
		if _, err := b.js.Publish(ctx, subj, bytes.Repeat([]byte("x"), n)); err == nil {
			body = bytes.Repeat([]byte("x"), n)
			break
		}
	}
	t.Logf("subject of %d bytes, body of %d (max_payload %d)", len(subj), len(body), max)
	var handled tally
	l := counting(t, &handled, func(ev *listener.Event) string { return ev.ID })
	logs := &syncbuf.Buffer{}
	done := serve(ctx, t, b.url, &natsevents.Source{AckWait: time.Second, RetryDelay: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}, l)
	defer func() { t.Logf("log:\n%.2000s", logs.String()) }()
	dead, err := b.js.Stream(ctx, "HERALD_EVENTS_DEAD")
	if err != nil {
		t.Fatal(err)
	}
	cons, err := b.js.Consumer(ctx, "HERALD_EVENTS", "herald-workers")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	di, _ := dead.Info(ctx)
	ci, _ := cons.Info(ctx)
	t.Logf("dead letters %d, ack pending %d, redelivered %d", di.State.Msgs, ci.NumAckPending, ci.NumRedelivered)
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v", err)
	default:
	}
	if ci.NumAckPending != 0 {
		t.Errorf("the message is still unacknowledged after 3 s (redelivered %d times), dead letters %d",
			ci.NumRedelivered, di.State.Msgs)
	}
	cancel()
	<-done
}
