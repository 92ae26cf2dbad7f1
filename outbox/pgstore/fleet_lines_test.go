package pgstore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
	"github.com/heraldhq/herald/sender"
)

// fleetLines is the record of TestOrderTwoStoresUnderLoad.
type fleetLines struct {
	mu        sync.Mutex
	committed map[string][]string  // producer and key → ids, in commit order
	inFlight  map[string]lineLease // key → the live lease of its line
	leasedAt  map[string]int       // id → the number of its last lease
	delivered map[string]bool      // ids delivered
	everDead  map[string]bool      // ids dead-lettered at least once
	errs      []string
	leases    int
	lost      int // settlements that found their lease lost
}

// lineLease is the live lease of a line, and when it was recorded.
type lineLease struct {
	outbox.Leased
	recorded time.Time
}

// leased records ls, leased by a Lease call made at now (its Now) that
// returned at returned, and any line they find taken by another delivery's
// lease for the whole of that call. Only then is the overlap certain: the
// other lease was granted before the call began (recorded before now) and
// could not have been taken over before it returned (it ran to after
// returned), and its holder had not begun to settle it (it is still
// recorded). A lease recorded after now may have been granted after this
// one and recorded first: a goroutine can be held up between its Lease
// and this record for longer than a lease lasts, as under the race
// detector on a loaded machine, where the line passed on in between.
func (f *fleetLines) leased(ls []outbox.Leased, now, returned time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range ls {
		cur, ok := f.inFlight[l.PartitionKey]
		if ok && cur.ID != l.ID && cur.recorded.Before(now) && cur.Until.After(returned) {
			f.errs = append(f.errs, fmt.Sprintf("%s leased in a call from %v to %v while %s of its line is, until %v",
				l.ID, now, returned, cur.ID, cur.Until))
		}
		f.inFlight[l.PartitionKey] = lineLease{l, time.Now()}
		f.leases++
		f.leasedAt[l.ID] = f.leases
	}
}

// settle settles l with a random outcome, some after its lease ran out.
func (f *fleetLines) settle(ob outbox.Outbox, r *rand.Rand, l outbox.Leased) error {
	if r.IntN(10) == 0 {
		time.Sleep(l.Until.Sub(time.Now()) + 5*time.Millisecond) // lost
	}
	s := outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}
	switch n := r.IntN(20); {
	case n < 3:
		s.Outcome, s.Due = outbox.Retrying, time.Now()
	case n < 5:
		s.Outcome, s.Reason = outbox.DeadLettered, "gone"
	case n < 6:
		s.Outcome = outbox.Released
	}
	f.mu.Lock()
	if f.inFlight[l.PartitionKey].Token == l.Token {
		delete(f.inFlight, l.PartitionKey) // before the line can move on
	}
	f.mu.Unlock()
	err := ob.Settle(ctx, []outbox.Settlement{s})[0]
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case errors.Is(err, outbox.ErrLeaseLost):
		f.lost++
		return nil
	case err != nil:
		return err
	case s.Outcome == outbox.Delivered:
		f.delivered[l.ID] = true
	case s.Outcome == outbox.DeadLettered:
		f.everDead[l.ID] = true
	}
	return nil
}

// work leases and settles until stop is closed.
func (f *fleetLines) work(ob outbox.Outbox, seed uint64, stop <-chan struct{}) error {
	r := rand.New(rand.NewPCG(seed, 2))
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		now := time.Now()
		ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 3, TTL: 30 * time.Millisecond, Now: now})
		if err != nil {
			return err
		}
		f.leased(ls, now, time.Now())
		for _, l := range ls {
			if err := f.settle(ob, r, l); err != nil {
				return err
			}
		}
		if len(ls) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// TestOrderTwoStoresUnderLoad: two stores on one database (two
// processes), each with two workers, while Puts on one and callers'
// transactions through the other add to eight lines, and an admin replays
// the dead letters again and again. Leases run out while their holders
// still work (their settlements fail with ErrLeaseLost), deliveries are
// retried, released and dead-lettered. No two deliveries of a line are
// leased at once, the deliveries of each producer and key that never died
// go out in commit order, every committed delivery is delivered, no
// vacancy is left, and the repair walks never had a head to release.
func TestOrderTwoStoresUnderLoad(t *testing.T) {
	url := pgtest.URL(t)
	var obs [2]outbox.Store
	var pools [2]*pgxpool.Pool
	for i := range obs {
		pools[i] = connect(t, url)
		obs[i] = open(t, pools[i], nil)
	}
	q := &outbox.Queue{Outbox: obs[1], Destinations: []sender.Destination{{Name: "d", URL: "https://d.example/", Ordered: true}}}
	f := &fleetLines{committed: map[string][]string{}, inFlight: map[string]lineLease{}, leasedAt: map[string]int{},
		delivered: map[string]bool{}, everDead: map[string]bool{}}
	h := &handOff{committed: f.committed, leasedAt: map[string]int{}, inFlight: map[string]string{}, dead: map[string]bool{}}
	keys := []string{"K0", "K1", "K2", "K3", "K4", "K5", "K6", "K7"}
	stop := make(chan struct{})
	var workers, producers group
	for w := range 4 {
		workers.Go(func() error { return f.work(obs[w%2], uint64(w), stop) })
	}
	workers.Go(func() error {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return nil
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := obs[i%2].(outbox.Admin).Replay(ctx, outbox.Selector{All: true}); err != nil {
				return err
			}
		}
	})
	for _, name := range []string{"p1", "p2", "p3", "p4"} {
		producers.Go(func() error { return h.produce(pools[1], q, name, keys, 30) })
	}
	producers.Go(func() error { return h.putBatches(obs[0], keys, 20) })
	if err := producers.Wait(); err != nil {
		close(stop)
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := obs[0].Stats(ctx)
		if err == nil && st.Pending == 0 && st.Dead == 0 {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			_ = workers.Wait()
			t.Fatalf("deliveries left: %+v (%v), %d held", st, err, queryInt(t, pools[0], "SELECT count(*) FROM herald_outbox_deliveries WHERE held"))
		}
	}
	close(stop)
	if err := workers.Wait(); err != nil {
		t.Fatal(err)
	}
	f.check(t)
	t.Logf("%d leases, %d lost; %d vacancies recorded", f.leases, f.lost,
		queryInt(t, pools[0], "SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE relname = 'herald_outbox_vacancies'"))
	if n := vacancies(t, pools[0]); n != 0 {
		t.Errorf("%d vacancies left", n)
	}
	for i, ob := range obs {
		if n := pgstore.Repaired(ob); n != 0 {
			t.Errorf("the repair walks of store %d released %d heads left held", i, n)
		}
	}
}

// check fails t on a line leased twice at once, a committed delivery not
// delivered, and deliveries of a producer and key that never died leased
// out of commit order.
func (f *fleetLines) check(t *testing.T) {
	t.Helper()
	for _, e := range f.errs {
		t.Error(e)
	}
	for pk, ids := range f.committed {
		var lived []string
		for _, id := range ids {
			if !f.delivered[id] {
				t.Errorf("%s (%s) committed, never delivered", id, pk)
			}
			if !f.everDead[id] {
				lived = append(lived, id)
			}
		}
		if !slices.IsSortedFunc(lived, func(a, b string) int { return f.leasedAt[a] - f.leasedAt[b] }) {
			t.Errorf("%s: leased out of commit order: %v", pk, lived)
		}
	}
}
