package outbox_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
)

// A durable queue: deliveries are kept in a bbolt file until the
// destination accepted them, retried along the default schedule (1 s,
// 1 s, 1 s, 2 s, 2 s, 3 s, ... 34 s, then 1 min, 5 min, 30 min, ... 10 h)
// and dead-lettered when it runs out.
func Example() {
	// A local receiver stands in for a customer's endpoint.
	got := make(chan string, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("webhook-id")
	}))
	defer srv.Close()
	dir, err := os.MkdirTemp("", "outbox-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The store: one file, opened by one process.
	store, err := boltstore.Open(filepath.Join(dir, "outbox.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// Destinations and their signers live in code; the store keeps only
	// the destination's name.
	signer, err := auth.NewStandard([]auth.Secret{auth.NewSecret([]byte("an example secret of 32 bytes.."))})
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	q := &outbox.Queue{
		Outbox: store,
		Sender: &sender.Sender{
			Retry:         sender.RetryPolicy{MaxAttempts: 2}, // a short burst; the schedule does the rest
			TLS:           &tls.Config{RootCAs: roots},
			AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, // the local receiver
		},
		Destinations: []sender.Destination{{Name: "billing", URL: srv.URL + "/webhooks", Signer: signer}},
		Workers:      8,
	}
	ctx := context.Background()
	go q.Run(ctx)

	// Enqueue returns once the delivery is on disk.
	id, err := q.Enqueue(ctx, "billing", sender.Message{ID: "evt_1", Topic: "invoice:paid", Body: []byte(`{"invoice":42}`)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("enqueued", id)
	fmt.Println("received", <-got)

	// Shutdown lets deliveries in flight finish, within its deadline.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := q.Shutdown(sctx); err != nil {
		log.Fatal(err)
	}
	st, _ := store.Stats(ctx)
	fmt.Println("pending", st.Pending)
	// Output:
	// enqueued evt_1
	// received evt_1
	// pending 0
}

// A worker serves its outbox's dead letters on its admin port, next to
// its health checks, so that people and tools can list, replay and purge
// them while it runs, and enable a destination it disabled.
func ExampleAdminHandler() {
	store := outbox.NewMemory() // boltstore.Open or natsstore.Open in production
	mux := http.NewServeMux()
	mux.Handle("/outbox/", http.StripPrefix("/outbox", outbox.AdminHandler(store)))
	admin := httptest.NewServer(mux) // in production: http.ListenAndServe("127.0.0.1:9090", mux)
	defer admin.Close()

	res, err := http.Get(admin.URL + "/outbox/dead-letters?limit=100")
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	fmt.Print(string(body))

	// A destination disabled (410 Gone, or DisableAfter) and fixed since:
	// every Queue on the outbox sends its held deliveries within a poll.
	res, err = http.Post(admin.URL+"/outbox/destinations/enable", "application/json",
		strings.NewReader(`{"destination":"billing"}`))
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	body, _ = io.ReadAll(res.Body)
	fmt.Print(string(body))
	// Output:
	// {"dead_letters":[]}
	// {"enabled":"billing"}
}
