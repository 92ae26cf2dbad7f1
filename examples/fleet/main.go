// Command fleet runs herald's fleet shape in one process: events come in
// through a NATS JetStream stream shared by three workers, each worker's
// handler enqueues a webhook in a JetStream outbox shared by the same three
// workers, and each worker's Queue delivers what it leases to a verifying
// HTTPS receiver. It prints how many webhooks each worker sent and checks
// that every id arrived, once.
//
// With NATS_URL unset it starts an embedded NATS server with JetStream on
// a random loopback port, storing in a temporary directory; with NATS_URL
// set (for example nats://127.0.0.1:4222, a server started with -js) it
// uses that server. Each worker has its own connection, as three processes
// would.
//
//	go run ./examples/fleet -n 300
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	neturl "net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/natsstore"
	"github.com/heraldhq/herald/sender"
)

func main() {
	n := flag.Int("n", 300, "events to push")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Getenv("NATS_URL"), *n); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

// Names of this example's streams, apart from any others on the server.
var (
	outboxConfig = natsstore.Config{Stream: "FLEET_OUTBOX", Subject: "fleet.outbox"}
	intake       = natsevents.Source{
		Stream: "FLEET_EVENTS", SubjectPrefix: "fleet.events", Consumer: "fleet-workers",
		DeadLetterStream: "FLEET_EVENTS_DEAD", DeadLetterPrefix: "fleet.dead",
		Retention: jetstream.WorkQueuePolicy,
	}
)

func run(ctx context.Context, url string, n int) error {
	if url == "" {
		dir, err := os.MkdirTemp("", "herald-fleet-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
		if err != nil {
			return err
		}
		go ns.Start()
		defer ns.Shutdown()
		if !ns.ReadyForConnections(10 * time.Second) {
			return errors.New("embedded NATS server did not start")
		}
		url = ns.ClientURL()
		fmt.Println("nats      embedded server at", url)
	} else {
		fmt.Println("nats      using", withoutUserInfo(url))
	}

	secret, err := auth.GenerateStandardSecret()
	if err != nil {
		return err
	}
	std, err := auth.NewStandard([]auth.Secret{secret})
	if err != nil {
		return err
	}
	rx, err := startReceiver(std)
	if err != nil {
		return err
	}
	defer rx.close()
	fmt.Println("receiver  verifying webhooks at", rx.url)

	// Three workers, each with its own connection, sharing the event
	// intake and the outbox.
	intakeCtx, stopIntake := context.WithCancel(context.Background())
	defer stopIntake()
	var fleet []*worker
	for i := range 3 {
		w, err := startWorker(ctx, intakeCtx, url, fmt.Sprintf("worker-%d", i+1), rx, std)
		if err != nil {
			return err
		}
		defer w.close()
		fleet = append(fleet, w)
	}
	publisher := fleet[0].js
	fmt.Println("workers   3, each with its own NATS connection, one intake consumer and one outbox")

	// The platform pushes n events.
	ids := make([]string, n)
	for i := range n {
		ev := &listener.Event{ID: fmt.Sprintf("evt_%05d", i), Topic: "job:done", CreatedAt: time.Now().UTC(),
			Payload: []byte(fmt.Sprintf(`{"job":%d}`, i))}
		if err := natsevents.Publish(ctx, publisher, intake.SubjectPrefix, ev); err != nil {
			return err
		}
		ids[i] = listener.DeliveryID(ev, "backend")
	}
	fmt.Printf("events    %d published to %s.job.done\n", n, intake.SubjectPrefix)

	start := time.Now()
	if err := rx.waitFor(ctx, n); err != nil {
		return fmt.Errorf("waiting for %d webhooks: %w", n, err)
	}
	elapsed := time.Since(start)

	// Stop, in the order of the listener package doc: the intake and the
	// handlers in flight first (Run returns once they are done), then the
	// queues, which finish the deliveries in flight; the stores close last
	// (deferred).
	stopIntake()
	for _, w := range fleet {
		if err := <-w.intake; err != nil {
			return err
		}
	}
	for _, w := range fleet {
		if err := w.stop(ctx); err != nil {
			return err
		}
	}

	rx.mu.Lock()
	defer rx.mu.Unlock()
	dups, missing := 0, 0
	for _, id := range ids {
		switch c := rx.byID[id]; {
		case c == 0:
			missing++
		case c > 1:
			dups += c - 1
		}
	}
	fmt.Printf("receiver  %d webhooks verified in %v: %d distinct ids, %d missing, %d duplicates, %d rejected\n",
		n+dups, elapsed.Round(time.Millisecond), len(rx.byID), missing, dups, rx.rejected)
	names := make([]string, 0, len(rx.byWorker))
	for w := range rx.byWorker {
		names = append(names, w)
	}
	slices.Sort(names)
	for _, w := range names {
		fmt.Printf("          %s sent %d\n", w, rx.byWorker[w])
	}
	switch {
	case missing > 0 || len(rx.byID) != n:
		return fmt.Errorf("%d of %d webhooks missing", missing, n)
	case rx.rejected > 0:
		return fmt.Errorf("%d webhooks failed verification", rx.rejected)
	case dups > 0:
		return fmt.Errorf("%d webhooks arrived twice", dups)
	}
	fmt.Println("ok        every event became exactly one verified webhook")
	return nil
}

// worker is one member of the fleet: an intake consumer whose listener
// forwards every event to the shared JetStream outbox, and a Queue that
// delivers from it.
type worker struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	ob     outbox.Outbox
	queue  *outbox.Queue
	intake chan error // the listener's Run result
	ran    chan error // the Queue's Run result
}

// startWorker connects a worker named name and starts its Queue and its
// intake; the intake runs until intakeCtx ends.
func startWorker(ctx, intakeCtx context.Context, url, name string, rx *receiver, signer auth.Signer) (*worker, error) {
	nc, err := nats.Connect(url, nats.Name("herald-fleet-"+name), nats.MaxReconnects(-1))
	if err != nil {
		return nil, err
	}
	w := &worker{nc: nc, intake: make(chan error, 1), ran: make(chan error, 1)}
	if w.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, err
	}
	if w.ob, err = natsstore.Open(ctx, w.js, outboxConfig); err != nil {
		nc.Close()
		return nil, err
	}
	backend := sender.Destination{
		Name: "backend", URL: rx.url + "/hooks", Signer: signer,
		Headers: http.Header{workerHeader: {name}},
	}
	w.queue = &outbox.Queue{
		Outbox: w.ob,
		Sender: &sender.Sender{
			TLS: &tls.Config{RootCAs: rx.roots},
			// Loopback is refused by default; a real receiver needs no exemption.
			AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			Retry:         sender.RetryPolicy{MaxAttempts: 2, MinWait: 50 * time.Millisecond},
		},
		Destinations: []sender.Destination{backend},
		Workers:      8,
		Poll:         50 * time.Millisecond,
	}
	// The durable one-liner: every event is committed to the outbox
	// under a delivery id derived from it before it is acknowledged.
	l := listener.New()
	if err := l.On("**", listener.Forward(w.queue, backend)); err != nil {
		w.close()
		return nil, err
	}
	src := intake
	src.JetStream = w.js
	if err := src.Setup(ctx); err != nil {
		w.close() // the Queue is not running yet: closing its outbox is safe
		return nil, err
	}
	// Not intakeCtx: a Queue whose Run context ends gives back the
	// deliveries in flight unfinished; stop shuts it down instead.
	go func() { w.ran <- w.queue.Run(context.Background()) }()
	go func() { w.intake <- l.Run(intakeCtx, &src) }()
	return w, nil
}

// stop shuts the worker's Queue down, letting its deliveries in flight
// finish, and returns its Run's error.
func (w *worker) stop(ctx context.Context) error {
	if err := w.queue.Shutdown(ctx); err != nil {
		return err
	}
	return <-w.ran
}

// close closes the worker's outbox and connection.
func (w *worker) close() {
	w.ob.Close()
	w.nc.Close()
}

// withoutUserInfo returns a NATS_URL (one or more URLs, comma-separated)
// without the user information of any, which holds a password or a token
// (nats://TOKEN@host), for printing.
func withoutUserInfo(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := neturl.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(unparsable URL, not shown)" // the error quotes it
			continue
		}
		u.User = nil
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
