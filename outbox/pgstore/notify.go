package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// notifier sends an outbox's NOTIFY after the commits that call for one,
// each in a transaction of its own that writes nothing, so that no commit
// waits for it (see sqlPut), and coalesced: while one is being sent, the
// requests that arrive make one more. For deliveries enqueued in a
// caller's transaction it watches the transaction ids, every
// watchInterval, and notifies once one committed; ids of transactions
// that rolled back are dropped, and ids still in progress after
// watchLimit are given up to the workers' poll.
type notifier struct {
	loop    // its mu guards due and watched
	pool    *pgxpool.Pool
	channel string
	q       queries
	kick    chan struct{}

	due     bool                 // a NOTIFY is called for
	watched map[string]time.Time // transaction ids, when first seen
}

const (
	watchInterval = 5 * time.Millisecond
	watchLimit    = 10 * time.Second
	// maxWatched caps the ids watched; beyond it, a NOTIFY is sent at once
	// and the id not watched.
	maxWatched = 4096
)

func (n *notifier) init(pool *pgxpool.Pool, channel string, q queries) {
	n.pool, n.channel, n.q = pool, channel, q
	n.kick = make(chan struct{}, 1)
	n.watched = map[string]time.Time{}
}

// now asks for a NOTIFY as soon as possible.
func (n *notifier) now() {
	n.mu.Lock()
	n.due = true
	n.mu.Unlock()
	n.wake()
}

// watch asks for a NOTIFY once transaction xid commits.
func (n *notifier) watch(xid string) {
	n.mu.Lock()
	if len(n.watched) < maxWatched {
		if _, ok := n.watched[xid]; !ok {
			n.watched[xid] = time.Now()
		}
	} else {
		n.due = true
	}
	n.mu.Unlock()
	n.wake()
}

// wake starts the loop on first use and signals it.
func (n *notifier) wake() {
	n.begin(n.run)
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// run sends what is asked for until ctx ends.
func (n *notifier) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n.mu.Lock()
		watching := len(n.watched) > 0
		n.mu.Unlock()
		var tick <-chan time.Time
		if watching {
			timer.Reset(watchInterval)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-n.kick:
		case <-tick:
		}
		n.check(ctx)
		n.mu.Lock()
		due := n.due
		n.due = false
		n.mu.Unlock()
		if due {
			// Lost on failure: the workers' poll is the fallback.
			_, _ = n.pool.Exec(ctx, n.q.notify, n.channel)
			// At most one NOTIFY per interval: those asked for meanwhile
			// are sent together after it.
			select {
			case <-ctx.Done():
				return
			case <-time.After(watchInterval):
			}
		}
	}
}

// check looks up the watched transactions and marks a NOTIFY due when one
// committed.
func (n *notifier) check(ctx context.Context) {
	n.mu.Lock()
	xids := make([]string, 0, len(n.watched))
	for x, since := range n.watched {
		if time.Since(since) > watchLimit {
			delete(n.watched, x)
			continue
		}
		xids = append(xids, x)
	}
	n.mu.Unlock()
	if len(xids) == 0 {
		return
	}
	rows, err := n.pool.Query(ctx, n.q.status, xids)
	if err != nil {
		return
	}
	type status struct {
		xid       string
		committed bool
	}
	ended, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (status, error) {
		var s status
		err := r.Scan(&s.xid, &s.committed)
		return s, err
	})
	if err != nil {
		return
	}
	n.mu.Lock()
	for _, s := range ended {
		delete(n.watched, s.xid)
		n.due = n.due || s.committed
	}
	n.mu.Unlock()
}
