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
	"os"
	"os/signal"
	"slices"
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
		fmt.Println("nats      using", url)
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
	wctx, stopWorkers := context.WithCancel(context.Background())
	defer stopWorkers()
	done := make(chan error, 6)
	var publisher jetstream.JetStream
	for i := range 3 {
		name := fmt.Sprintf("worker-%d", i+1)
		nc, err := nats.Connect(url, nats.Name("herald-fleet-"+name), nats.MaxReconnects(-1))
		if err != nil {
			return err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		publisher = js
		ob, err := natsstore.Open(ctx, js, outboxConfig)
		if err != nil {
			return err
		}
		defer ob.Close()
		q := &outbox.Queue{
			Outbox: ob,
			Sender: &sender.Sender{
				TLS: &tls.Config{RootCAs: rx.roots},
				// Loopback is refused by default; a real receiver needs no exemption.
				AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
				Retry:         sender.RetryPolicy{MaxAttempts: 2, MinWait: 50 * time.Millisecond},
			},
			Destinations: []sender.Destination{{
				Name: "backend", URL: rx.url + "/hooks", Signer: std,
				Headers: http.Header{workerHeader: {name}},
			}},
			Workers: 8,
			Poll:    50 * time.Millisecond,
		}
		go func() { done <- q.Run(wctx) }()

		l := listener.New()
		if err := l.On("**", func(ctx context.Context, ev *listener.Event) error {
			body, err := ev.MarshalJSON()
			if err != nil {
				return listener.Permanent(err)
			}
			_, err = q.Enqueue(ctx, "backend", sender.Message{
				ID: listener.DeliveryID(ev, "backend"), Topic: ev.Topic, Body: body,
			})
			return err
		}); err != nil {
			return err
		}
		src := intake
		src.JetStream = js
		if err := src.Setup(ctx); err != nil {
			return err
		}
		go func() { done <- src.Serve(wctx, l) }()
	}
	fmt.Println("workers   3, each with its own NATS connection, one intake consumer and one outbox")

	// The platform pushes n events.
	ids := make([]string, n)
	for i := range n {
		ev := &listener.Event{ID: fmt.Sprintf("evt_%05d", i), Topic: "job:done", CreatedAt: time.Now().UTC(),
			Payload: []byte(fmt.Sprintf(`{"job":%d}`, i))}
		if err := natsevents.PublishTo(ctx, publisher, intake.SubjectPrefix, ev); err != nil {
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

	// Stop: the intake first, then the queues, which finish what they hold.
	stopWorkers()
	for range 6 {
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
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
	workers := make([]string, 0, len(rx.byWorker))
	for w := range rx.byWorker {
		workers = append(workers, w)
	}
	slices.Sort(workers)
	for _, w := range workers {
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
