package pgstore_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
	"github.com/heraldhq/herald/sender"
)

// The hand-over of a line from its head to the next delivery, when the
// two meet: a settlement that ends the head while the next is being put
// (see order.go). Each test sets up one such meeting on the default
// tables of a database of its own.

// orderedQueue returns an outbox on pool and a Queue over it with the
// ordered destination "d". When t ends, it fails t if the repair walk
// of Lease released a head (see repair.go): the statements that keep
// the lines left it held.
func orderedQueue(t *testing.T, pool *pgxpool.Pool) (outbox.Store, *outbox.Queue) {
	t.Helper()
	ob := open(t, pool, nil)
	t.Cleanup(func() {
		if n := pgstore.Repaired(ob); n != 0 {
			t.Errorf("the repair walk released %d heads left held", n)
		}
	})
	return ob, &outbox.Queue{Outbox: ob, Destinations: []sender.Destination{{Name: "d", URL: "https://d.example/", Ordered: true}}}
}

// leaseOnly leases what ob offers and fails t unless it is exactly the
// deliveries want (sorted ids); it acknowledges them.
func leaseOnly(t *testing.T, ob outbox.Outbox, when string, want ...string) {
	t.Helper()
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 100, TTL: time.Minute, Now: time.Now().Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.ID)
		if errs := ob.Settle(ctx, []outbox.Settlement{{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}}); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: leased %v, want %v", when, got, want)
	}
}

// leaseHead puts a delivery with id and key K to "d" and leases it.
func leaseHead(t *testing.T, ob outbox.Outbox, id string) outbox.Leased {
	t.Helper()
	now := time.Now()
	if err := ob.Put(ctx, outbox.Delivery{ID: id, Destination: "d", PartitionKey: "K", Body: []byte("{}"), Due: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: now.Add(time.Second)})
	if err != nil || len(ls) != 1 || ls[0].ID != id {
		t.Fatalf("leasing %s: %v, %v", id, ls, err)
	}
	return ls[0]
}

// ackLeased acknowledges l, failing t on an error.
func ackLeased(t *testing.T, ob outbox.Outbox, l outbox.Leased) {
	t.Helper()
	if errs := ob.Settle(ctx, []outbox.Settlement{{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
}

// queryInt runs a query of one integer on q, failing t on an error.
func queryInt(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := q.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// enqueueOpen begins a transaction on pool and enqueues in it, through q,
// the delivery id to destination "d" with partition key key; it returns
// the transaction, still open (rolled back when t ends, a no-op after a
// Commit), and the delivery's id.
func enqueueOpen(t *testing.T, pool *pgxpool.Pool, q *outbox.Queue, id, key string) (pgx.Tx, string) {
	t.Helper()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	got, err := pgstore.Enqueue(ctx, tx, q, "d", sender.Message{ID: id, Body: []byte("{}"), PartitionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return tx, got
}

// held reports whether the delivery id is held, as q sees it.
func held(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string) bool {
	t.Helper()
	return queryInt(t, q, "SELECT held::int FROM herald_outbox_deliveries WHERE id = $1", id) == 1
}

// vacancies counts the vacancies of lines.
func vacancies(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	return queryInt(t, pool, "SELECT count(*) FROM herald_outbox_vacancies")
}

// waitForLockWaiter waits until a session waits for an advisory lock, and
// fails t if done reports first or none does within 20 seconds.
func waitForLockWaiter(t *testing.T, pool *pgxpool.Pool, done <-chan error) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if queryInt(t, pool, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") == 1 {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the Put returned (%v) before it waited for a line's lock", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the Put never waited for a line's lock")
		}
	}
}

// TestOrderHeadEndsWhileEnqueueOpen: the head of a line is delivered
// while a caller's transaction, still open, enqueues the next delivery
// of the line, held behind that head. The settlement cannot see it and
// cannot take the line's lock: it leaves a vacancy, without waiting for
// the transaction. Once the transaction commits, the next Lease fills the
// vacancy and leases the delivery.
func TestOrderHeadEndsWhileEnqueueOpen(t *testing.T) {
	pool := newPool(t)
	ob, q := orderedQueue(t, pool)
	head := leaseHead(t, ob, "head")
	tx, next := enqueueOpen(t, pool, q, "next", "K")
	if !held(t, tx, next) {
		t.Fatal("a delivery enqueued behind a leased head is not held")
	}
	settled := make(chan error, 1)
	go func() {
		settled <- ob.Settle(ctx, []outbox.Settlement{{ID: head.ID, Token: head.Token, Outcome: outbox.Delivered}})[0]
	}()
	select {
	case err := <-settled:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the settlement of the head waits for the open transaction")
	}
	if n := vacancies(t, pool); n != 1 {
		t.Fatalf("%d vacancies after the head was delivered while the next was being enqueued, want 1", n)
	}
	leaseOnly(t, ob, "before the transaction commits")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	leaseFillsVacancy(t, pool, ob, next)
}

// leaseFillsVacancy fails t unless next, enqueued into a vacancy by a
// transaction now committed, is held, and a Lease takes it alone and
// leaves no vacancy.
func leaseFillsVacancy(t *testing.T, pool *pgxpool.Pool, ob outbox.Outbox, next string) {
	t.Helper()
	if !held(t, pool, next) {
		t.Fatal("the enqueued delivery is not held: this test no longer meets the vacancy")
	}
	leaseOnly(t, ob, "once the transaction committed", next)
	if n := vacancies(t, pool); n != 0 {
		t.Errorf("%d vacancies after the Lease filled it, want 0", n)
	}
}

// TestOrderStalePutCorrected: a Put waits for the lock of one of its
// lines while the head of another of its lines is delivered, with the
// line's lock free, so no vacancy is left; the Put's statement, whose
// snapshot predates that, marks its delivery held behind the head that is
// gone, and its second statement clears it: the delivery is leased.
func TestOrderStalePutCorrected(t *testing.T) {
	pool := newPool(t)
	ob, q := orderedQueue(t, pool)
	// A key whose line's lock comes before K's in a Put: it is waited for
	// first.
	var first string
	for _, key := range []string{"A", "B", "C", "D", "E", "F", "G", "H"} {
		if queryInt(t, pool, `SELECT (hashtextextended('d ' || encode($1::bytea, 'hex'), 0) <
				hashtextextended('d ' || encode('K'::bytea, 'hex'), 0))::int`, []byte(key)) == 1 {
			first = key
			break
		}
	}
	if first == "" {
		t.Fatal("no key's line hashes before K's")
	}
	head := leaseHead(t, ob, "head")
	tx, _ := enqueueOpen(t, pool, q, "other", first)
	now := time.Now()
	done := make(chan error, 1)
	go func() {
		done <- ob.Put(ctx,
			outbox.Delivery{ID: "late", Destination: "d", PartitionKey: "K", Body: []byte("{}"), Due: now, Created: now},
			outbox.Delivery{ID: "other2", Destination: "d", PartitionKey: first, Body: []byte("{}"), Due: now, Created: now})
	}()
	waitForLockWaiter(t, pool, done)
	ackLeased(t, ob, head)
	if n := vacancies(t, pool); n != 0 {
		t.Fatalf("%d vacancies after the head of a line nobody was adding to was delivered, want 0", n)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if held(t, pool, "late") {
		t.Fatal("the delivery put behind a head that was gone is held")
	}
	leaseOnly(t, ob, "after the Put", "late", "other")
}

// TestOrderRepeatableReadEnqueue: a caller's REPEATABLE READ transaction
// whose snapshot still shows the head of a line, delivered since, enqueues
// to the line: it cannot tell, so it does not hold the delivery, which is
// leased once the transaction commits. The transaction commits without
// a serialization failure.
func TestOrderRepeatableReadEnqueue(t *testing.T) {
	pool := newPool(t)
	ob, q := orderedQueue(t, pool)
	head := leaseHead(t, ob, "head")
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	if n := queryInt(t, tx, "SELECT count(*) FROM herald_outbox_deliveries WHERE id = 'head'"); n != 1 {
		t.Fatalf("the transaction's snapshot holds %d heads, want 1", n)
	}
	ackLeased(t, ob, head)
	next, err := pgstore.Enqueue(ctx, tx, q, "d", sender.Message{ID: "next", Body: []byte("{}"), PartitionKey: "K"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		var pe interface{ SQLState() string }
		if errors.As(err, &pe) {
			t.Fatalf("commit: %v (SQLSTATE %s)", err, pe.SQLState())
		}
		t.Fatal(err)
	}
	leaseOnly(t, ob, "once the transaction committed", next)
}

// handOff is the record of TestOrderHandOffUnderLoad: the deliveries
// committed, per key, in the order their producer committed them, and
// for each delivery the place of its last lease among all leases.
type handOff struct {
	mu        sync.Mutex
	committed map[string][]string // producer and key → ids, in commit order
	leasedAt  map[string]int      // id → the number of its last lease
	inFlight  map[string]string   // key → the id leased in its line
	dead      map[string]bool
	leases    int
	errs      []string
}

// leased records the leases ls, in order, and any line they find taken.
func (h *handOff) leased(ls []outbox.Leased) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range ls {
		if other, ok := h.inFlight[l.PartitionKey]; ok {
			h.errs = append(h.errs, fmt.Sprintf("%s leased while %s of its line is", l.ID, other))
		}
		h.inFlight[l.PartitionKey] = l.ID
		h.leases++
		h.leasedAt[l.ID] = h.leases
	}
}

// work leases and settles until stop is closed: most deliveries are
// delivered, some fail and are due again at once, a few die.
func (h *handOff) work(ob outbox.Outbox, seed uint64, stop <-chan struct{}) error {
	r := rand.New(rand.NewPCG(seed, 1))
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 4, TTL: time.Minute, Now: time.Now()})
		if err != nil {
			return err
		}
		h.leased(ls)
		for _, l := range ls {
			s := outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}
			switch n := r.IntN(20); {
			case n < 3:
				s.Outcome, s.Due = outbox.Retrying, time.Now()
			case n < 4:
				s.Outcome, s.Reason = outbox.DeadLettered, "gone"
			}
			h.mu.Lock()
			delete(h.inFlight, l.PartitionKey) // before the line can move on
			if s.Outcome == outbox.DeadLettered {
				h.dead[l.ID] = true
			}
			h.mu.Unlock()
			if err := ob.Settle(ctx, []outbox.Settlement{s})[0]; err != nil {
				return err
			}
		}
		if len(ls) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// produce enqueues n deliveries with random keys of keys, each in a
// transaction of its own that waits a little before it commits, one in
// five rolled back, and records the committed ones.
func (h *handOff) produce(pool *pgxpool.Pool, q *outbox.Queue, name string, keys []string, n int) error {
	r := rand.New(rand.NewPCG(uint64(len(name)), uint64(name[len(name)-1])))
	for i := range n {
		key := keys[r.IntN(len(keys))]
		id := fmt.Sprintf("%s-%03d", name, i)
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := pgstore.Enqueue(ctx, tx, q, "d", sender.Message{ID: id, Body: []byte("{}"), PartitionKey: key}); err != nil {
			_ = tx.Rollback(ctx)
			return err
		}
		time.Sleep(time.Duration(r.IntN(2000)) * time.Microsecond)
		if r.IntN(5) == 0 {
			if err := tx.Rollback(ctx); err != nil {
				return err
			}
			continue
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		h.mu.Lock()
		h.committed[name+" "+key] = append(h.committed[name+" "+key], id)
		h.mu.Unlock()
	}
	return nil
}

// putBatches puts n batches of three deliveries with random keys of
// keys, and records them.
func (h *handOff) putBatches(ob outbox.Outbox, keys []string, n int) error {
	r := rand.New(rand.NewPCG(7, 7))
	for i := range n {
		var ds []outbox.Delivery
		for j := range 3 {
			now := time.Now()
			ds = append(ds, outbox.Delivery{ID: fmt.Sprintf("put-%03d-%d", i, j), Destination: "d", PartitionKey: keys[r.IntN(len(keys))],
				Body: []byte("{}"), Due: now, Created: now})
		}
		if err := ob.Put(ctx, ds...); err != nil {
			return err
		}
		h.mu.Lock()
		for _, d := range ds {
			h.committed["put "+d.PartitionKey] = append(h.committed["put "+d.PartitionKey], d.ID)
		}
		h.mu.Unlock()
	}
	return nil
}

// TestOrderHandOffUnderLoad: callers' transactions enqueue to three
// lines, waiting a little before they commit or roll back, and Puts add
// to them, while workers lease and settle, some deliveries failing and
// due again at once, a few dying: no two deliveries of a line are ever
// leased at once, each producer's deliveries of a key go out in the order
// it committed them, every committed delivery is delivered or dead, and no
// vacancy is left.
func TestOrderHandOffUnderLoad(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ob, q := orderedQueue(t, pool)
	h := &handOff{committed: map[string][]string{}, leasedAt: map[string]int{}, inFlight: map[string]string{}, dead: map[string]bool{}}
	keys := []string{"K0", "K1", "K2"}
	stop := make(chan struct{})
	var workers, producers group
	for w := range 2 {
		workers.Go(func() error { return h.work(ob, uint64(w), stop) })
	}
	for _, name := range []string{"p1", "p2", "p3"} {
		producers.Go(func() error { return h.produce(pool, q, name, keys, 40) })
	}
	producers.Go(func() error { return h.putBatches(ob, keys, 15) })
	if err := producers.Wait(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st, err := ob.Stats(ctx); err != nil || st.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			_ = workers.Wait()
			st, _ := ob.Stats(ctx)
			t.Fatalf("deliveries left undelivered: %+v, %d held", st, queryInt(t, pool, "SELECT count(*) FROM herald_outbox_deliveries WHERE held"))
		}
	}
	close(stop)
	if err := workers.Wait(); err != nil {
		t.Fatal(err)
	}
	h.check(t)
	if n := vacancies(t, pool); n != 0 {
		t.Errorf("%d vacancies left", n)
	}
}

// check fails t on a line leased twice at once, a delivery not leased,
// and a producer's deliveries of a key leased out of its order.
func (h *handOff) check(t *testing.T) {
	t.Helper()
	for _, e := range h.errs {
		t.Error(e)
	}
	total := 0
	for line, ids := range h.committed {
		last := 0
		for _, id := range ids {
			total++
			at, ok := h.leasedAt[id]
			switch {
			case !ok:
				t.Errorf("%s (%s) was never leased", id, line)
			case at < last:
				t.Errorf("%s (%s) was last leased before the one committed before it", id, line)
			}
			last = max(last, at)
		}
	}
	t.Logf("%d deliveries committed, %d dead, %d leases", total, len(h.dead), h.leases)
}

// group runs functions in goroutines and keeps the first error they
// return.
type group struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

// Go runs f in a goroutine of g.
func (g *group) Go(f func() error) {
	g.wg.Go(func() {
		if err := f(); err != nil {
			g.mu.Lock()
			g.err = cmp.Or(g.err, err)
			g.mu.Unlock()
		}
	})
}

// Wait waits for the goroutines of g and returns the first error.
func (g *group) Wait() error {
	g.wg.Wait()
	return g.err
}

// TestOrderEnqueueSQLBehindHead: a caller's transaction through
// database/sql enqueues a delivery, with an odd destination name and a
// key holding what the statements of lines parse or append ("+k", quotes,
// brackets, backslashes, non-ASCII), behind the leased head of its line,
// while the head is delivered: it is held, the settlement leaves a
// vacancy without waiting, and the delivery is leased once the
// transaction commits. EnqueueSQL sends the statement that clears held
// on the heads as one of its own.
func TestOrderEnqueueSQLBehindHead(t *testing.T) {
	url := pgtest.URL(t)
	pool := connect(t, url)
	const dest, key = `d "x" \ [é]`, `"]+k\u00e9 \\"+k`
	ob := open(t, pool, nil)
	q := &outbox.Queue{Outbox: ob, Destinations: []sender.Destination{{Name: dest, URL: "https://d.example/", Ordered: true}}}
	now := time.Now()
	if err := ob.Put(ctx, outbox.Delivery{ID: "head", Destination: dest, PartitionKey: key, Body: []byte("{}"), Due: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: now.Add(time.Second)})
	if err != nil || len(ls) != 1 {
		t.Fatalf("leasing the head: %v, %v", ls, err)
	}
	db := openSQL(t, url)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	next, err := pgstore.EnqueueSQL(ctx, tx, q, dest, sender.Message{ID: "next", Body: []byte("{}"), PartitionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ackLeased(t, ob, ls[0])
	if n := vacancies(t, pool); n != 1 {
		t.Fatalf("%d vacancies, want 1", n)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	leaseFillsVacancy(t, pool, ob, next)
	if n := pgstore.Repaired(ob); n != 0 {
		t.Errorf("the repair walk released %d heads", n)
	}
}

// TestOrderHeadNotHeldBackByLaterEnqueue: a delivery enqueued behind a
// leased head, in a transaction that committed after the head was
// delivered, heads its line, held, with a vacancy. Another caller's
// transaction, still open, then enqueues to the same line: it holds the
// line for those who add to it, but not the head, which is leased at the
// next Lease, without waiting for that transaction.
func TestOrderHeadNotHeldBackByLaterEnqueue(t *testing.T) {
	pool := newPool(t)
	ob, q := orderedQueue(t, pool)
	head := leaseHead(t, ob, "head")
	tx, next := enqueueOpen(t, pool, q, "next", "K")
	ackLeased(t, ob, head)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if !held(t, pool, next) || vacancies(t, pool) != 1 {
		t.Fatal("the next delivery is not held with a vacancy: this test no longer meets the vacancy")
	}
	later, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer later.Rollback(ctx) //nolint:errcheck // rolled back at the end
	if _, err := pgstore.Enqueue(ctx, later, q, "d", sender.Message{ID: "later", Body: []byte("{}"), PartitionKey: "K"}); err != nil {
		t.Fatal(err)
	}
	leaseOnly(t, ob, "while a later transaction that enqueued to the line is open", next)
}
