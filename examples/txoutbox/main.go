// Command txoutbox shows the transactional outbox on PostgreSQL: an order
// row and the webhook announcing it commit together, in one transaction of
// the shop's own database, so that no webhook goes out for an order that
// rolled back, and no committed order misses its webhook, whatever crashes
// in between.
//
//	HERALD_POSTGRES_URL=postgres://user:pass@localhost/shop go run ./examples/txoutbox
//
// Without HERALD_POSTGRES_URL it starts a throwaway PostgreSQL cluster from
// the machine's server binaries (Debian's postgresql package) and removes
// it at the end. It places three orders, rolls the second back, and exits 0
// once the receiver has verified the webhooks of the two committed orders
// and no other, or 1 with the reason.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
	"github.com/heraldhq/herald/sender"
)

func main() {
	if err := start(); err != nil {
		fmt.Fprintln(os.Stderr, "txoutbox:", err)
		os.Exit(1)
	}
}

// start runs the example on HERALD_POSTGRES_URL, or on a throwaway cluster.
func start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := os.Getenv(pgtest.EnvURL)
	if url == "" {
		c, err := pgtest.Start(ctx, false)
		if err != nil {
			return fmt.Errorf("no PostgreSQL: set %s, or install the server binaries: %w", pgtest.EnvURL, err)
		}
		defer c.Close()
		url = c.URL()
		fmt.Println("postgres  started a throwaway cluster")
	}
	return run(ctx, url)
}

func run(ctx context.Context, dbURL string) error {
	secret, err := auth.GenerateStandardSecret()
	if err != nil {
		return err
	}
	rx, err := startReceiver(secret)
	if err != nil {
		return err
	}
	defer rx.srv.Close()

	// --- The shop's database: its pool serves the shop and the outbox. --
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, total_cents bigint NOT NULL)`); err != nil {
		return err
	}
	store, err := pgstore.Open(ctx, pool, nil) // creates herald_outbox_* tables
	if err != nil {
		return err
	}
	defer store.Close()

	// --- The queue that delivers what the transactions enqueue. ----------
	signer, err := auth.NewStandard([]auth.Secret{secret})
	if err != nil {
		return err
	}
	q := &outbox.Queue{
		Outbox: store,
		Sender: &sender.Sender{
			TLS:   &tls.Config{RootCAs: rx.roots},
			Retry: sender.RetryPolicy{MaxAttempts: 2}, // a short burst: the Queue retries from the store
			// The receiver runs on loopback, which the SSRF guard refuses
			// by default; a real destination needs no such exemption.
			AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		},
		Destinations: []sender.Destination{{Name: "billing", URL: rx.srv.URL + "/hooks", Signer: signer}},
	}
	ran := make(chan error, 1)
	go func() { ran <- q.Run(context.WithoutCancel(ctx)) }()
	defer func() { _ = q.Shutdown(ctx); <-ran }()

	// --- Orders: the row and its webhook in one transaction. -------------
	orders := []struct {
		id    string
		cents int64
	}{{"ord-1001", 4200}, {"ord-1002", -1}, {"ord-1003", 990}}
	var want []string
	for _, o := range orders {
		err := placeOrder(ctx, pool, q, o.id, o.cents)
		switch {
		case errors.Is(err, errRejected):
			fmt.Printf("order     %s rolled back (%v): no webhook\n", o.id, err)
		case err != nil:
			return err
		default:
			fmt.Printf("order     %s committed with its webhook\n", o.id)
			want = append(want, "order-"+o.id)
		}
	}
	return rx.check(ctx, want)
}

// errRejected is a business rule refusing an order after its webhook was
// enqueued: the transaction rolls back, and takes the webhook with it.
var errRejected = errors.New("a total must be positive")

// placeOrder inserts the order and enqueues its webhook in one transaction.
func placeOrder(ctx context.Context, pool *pgxpool.Pool, q *outbox.Queue, id string, cents int64) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	if _, err := tx.Exec(ctx, "INSERT INTO orders (id, total_cents) VALUES ($1, $2)", id, cents); err != nil {
		return err
	}
	body := fmt.Sprintf(`{"order":%q,"total_cents":%d}`, id, cents)
	msg := sender.Message{ID: "order-" + id, Topic: "order:placed", Body: []byte(body)}
	if _, err := pgstore.Enqueue(ctx, tx, q, "billing", msg); err != nil {
		return err
	}
	if cents <= 0 {
		return errRejected // the deferred Rollback undoes the row and the webhook
	}
	return tx.Commit(ctx)
}

// receiver is the billing backend: HTTPS, verifying every webhook.
type receiver struct {
	srv   *httptest.Server
	roots *x509.CertPool
	mu    sync.Mutex
	got   []string // webhook-ids, in order of arrival
}

func startReceiver(secret auth.Secret) (*receiver, error) {
	v, err := auth.NewStandard([]auth.Secret{secret})
	if err != nil {
		return nil, err
	}
	rx := &receiver{roots: x509.NewCertPool()}
	rx.srv = httptest.NewTLSServer(auth.Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rx.mu.Lock()
		rx.got = append(rx.got, r.Header.Get("webhook-id"))
		rx.mu.Unlock()
		fmt.Printf("receiver  verified %s\n", r.Header.Get("webhook-id"))
	})))
	rx.roots.AddCert(rx.srv.Certificate())
	return rx, nil
}

// check waits for the wanted webhooks, then a little longer for any that
// should not come, and says whether exactly those arrived.
func (rx *receiver) check(ctx context.Context, want []string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		rx.mu.Lock()
		got := slices.Clone(rx.got)
		rx.mu.Unlock()
		slices.Sort(got)
		if len(got) >= len(want) {
			time.Sleep(300 * time.Millisecond) // room for a webhook that must not come
			rx.mu.Lock()
			late := len(rx.got) - len(got)
			rx.mu.Unlock()
			if !slices.Equal(got, want) || late > 0 {
				return fmt.Errorf("received %v (+%d), want exactly %v", got, late, want)
			}
			fmt.Printf("done      %d webhooks for %d committed orders, none for the rolled back one\n", len(got), len(want))
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("received %v after 30s, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
