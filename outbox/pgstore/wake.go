package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/backoff"
)

// Wake returns a channel that is closed when deliveries may have become
// due in the outbox: a Put or a committed [Enqueue] by any process, a
// replay, a released lease. An [outbox.Queue] over the store waits on it
// between polls, so that an idle worker starts at once. Call Wake again
// for the next wake-up. The first call starts listening for the
// outbox's notifications, on a connection of its own; after a lost
// connection the channel is closed too, since notifications may have been
// missed meanwhile.
func (ob *store) Wake() <-chan struct{} {
	return ob.wake.channel()
}

// listener listens for an outbox's notifications and closes its current
// channel at each.
type listener struct {
	loop
	pool *pgxpool.Pool
	name string
	ch   chan struct{}
}

func (l *listener) init(pool *pgxpool.Pool, name string) {
	l.pool, l.name, l.ch = pool, name, make(chan struct{})
}

// channel returns the channel the next notification closes, and starts
// listening on the first call.
func (l *listener) channel() <-chan struct{} {
	l.begin(l.run)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ch
}

// signal closes the current channel and makes the next one.
func (l *listener) signal() {
	l.mu.Lock()
	close(l.ch)
	l.ch = make(chan struct{})
	l.mu.Unlock()
}

// run listens until ctx ends, reconnecting after a failure with a backoff.
func (l *listener) run(ctx context.Context) {
	for failures := 0; ctx.Err() == nil; failures++ {
		if l.listen(ctx) {
			failures = 0
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff.Exponential(50*time.Millisecond, 5*time.Second, failures)):
		}
	}
}

// listen holds one connection, listening, until it fails or ctx ends, and
// reports whether it got as far as listening.
func (l *listener) listen(ctx context.Context) bool {
	conn, err := pgx.ConnectConfig(ctx, l.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.name}.Sanitize()); err != nil {
		return false
	}
	l.signal() // what was notified while no one listened
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true
		}
		l.signal()
	}
}
