package outbox

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/deadlist"
	"github.com/heraldhq/herald/internal/guard"
	"github.com/heraldhq/herald/internal/idclash"
	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/wire"
)

// NewMemory returns an empty [Store] held in memory, for tests and for
// programs that can afford to lose pending deliveries when they stop. It
// keeps bodies in memory, keeps the order of a partition key (see
// [Store]) and times as the durable stores do (see [Outbox]), the newest
// 64 attempts of a delivery as they do (see [Admin.History]), and its
// Close empties it.
func NewMemory() Store { return &memory{} }

// memory is the Store of [NewMemory]. Its zero value is an empty outbox
// ready to use.
type memory struct {
	mu       sync.Mutex
	items    map[string]*memItem
	due      map[string]*dueHeap   // per destination: the pending deliveries not leased
	leased   map[string]*memItem   // by id
	heads    map[string]*memItem   // by line (see lineOf): the delivery at its head
	behind   map[string][]*memItem // by line: the deliveries behind its head
	dead     int                   // how many of items are dead letters, so that Stats need not walk items
	closed   bool
	lastDest string
	tokens   uint64
	states   map[string]DestinationState // of destinations; memory_dest.go
}

// memItem is one delivery of a memory outbox, pending or dead.
type memItem struct {
	d       Delivery
	history []AttemptRecord
	dead    bool
	reason  string
	deadAt  time.Time
	token   string    // of the current lease; empty when not leased
	until   time.Time // when the lease runs out
	index   int       // in its destination's dueHeap; -1 when not in it
}

// dueHeap orders a destination's waiting deliveries by due time, then id.
type dueHeap []*memItem

// Len, Less, Swap, Push and Pop implement heap.Interface.
func (h dueHeap) Len() int { return len(h) }

// Less orders by due time, then id.
func (h dueHeap) Less(i, j int) bool {
	return cmp.Or(h[i].d.Due.Compare(h[j].d.Due), cmp.Compare(h[i].d.ID, h[j].d.ID)) < 0
}

// Swap swaps two deliveries and their indexes.
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

// Push appends a *memItem.
func (h *dueHeap) Push(x any) {
	it := x.(*memItem)
	it.index = len(*h)
	*h = append(*h, it)
}

// Pop removes the last *memItem.
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.index = -1
	return it
}

// wait puts it among the waiting deliveries of its destination.
func (m *memory) wait(it *memItem) {
	if it.index >= 0 {
		heap.Fix(m.due[it.d.Destination], it.index)
		return
	}
	h := m.due[it.d.Destination]
	if h == nil {
		h = &dueHeap{}
		m.due[it.d.Destination] = h
	}
	heap.Push(h, it)
}

// unwait takes it out of the waiting deliveries, if it is there.
func (m *memory) unwait(it *memItem) {
	if it.index < 0 {
		return
	}
	h := m.due[it.d.Destination]
	heap.Remove(h, it.index)
	if h.Len() == 0 {
		delete(m.due, it.d.Destination)
	}
}

// lock takes m's lock for a call under ctx, or fails without it when ctx
// has ended or m is closed.
func (m *memory) lock(ctx context.Context) error {
	return guard.Lock(ctx, &m.mu, &m.closed, ErrClosed)
}

// Put stores copies of ds; see [Outbox.Put].
func (m *memory) Put(ctx context.Context, ds ...Delivery) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if m.items == nil {
		m.items = make(map[string]*memItem)
		m.due = make(map[string]*dueHeap)
		m.leased = make(map[string]*memItem)
		m.heads = make(map[string]*memItem)
		m.behind = make(map[string][]*memItem)
	}
	if err := m.clash(ds); err != nil {
		return err
	}
	for _, d := range ds {
		if _, ok := m.items[d.ID]; ok {
			continue
		}
		d.Body = slices.Clone(d.Body)
		d.Due, d.Created = wire.Kept(d.Due), wire.Kept(d.Created)
		it := &memItem{d: d, index: -1}
		m.items[d.ID] = it
		m.enter(it)
	}
	return nil
}

// clash refuses, before Put stores any of ds, a delivery whose id m holds
// or ds gives earlier for another destination.
func (m *memory) clash(ds []Delivery) error {
	if _, err := idclash.InBatch(ErrInvalid, len(ds), func(i int) (string, string) { return ds[i].ID, ds[i].Destination }); err != nil {
		return err
	}
	for i := range ds {
		if it, ok := m.items[ds[i].ID]; ok && it.d.Destination != ds[i].Destination {
			return idclash.Err(ErrInvalid, ds[i].ID, it.d.Destination, ds[i].Destination)
		}
	}
	return nil
}

// Lease leases due deliveries; see [Outbox.Lease].
func (m *memory) Lease(ctx context.Context, o LeaseOptions) ([]Leased, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	// Leases that ran out make their deliveries wait again; their holder
	// may still settle them until they are leased anew.
	for _, it := range m.leased {
		if !it.until.After(o.Now) {
			m.wait(it)
		}
	}
	dests := make([]string, 0, len(m.due))
	for d := range m.due {
		dests = append(dests, d)
	}
	slices.Sort(dests)
	start, _ := slices.BinarySearch(dests, m.lastDest+"\x00")
	var out []Leased
	for i := range dests {
		dest := dests[(start+i)%len(dests)]
		h := m.due[dest]
		if h == nil || (*h)[0].d.Due.After(o.Now) {
			continue
		}
		n := o.Max - len(out)
		if o.Allow != nil {
			n = min(n, o.Allow(dest))
		}
		got := 0
		var live []*memItem // leases that ran out by an earlier call's Now, not by this one's
		for got < n && h.Len() > 0 && !(*h)[0].d.Due.After(o.Now) {
			it := heap.Pop(h).(*memItem)
			if it.token != "" && it.until.After(o.Now) {
				live = append(live, it)
				continue
			}
			got++
			m.tokens++
			it.token = "m" + strconv.FormatUint(m.tokens, 10)
			it.until = o.Now.Add(o.TTL)
			m.leased[it.d.ID] = it
			out = append(out, Leased{Delivery: it.d, Token: it.token, Until: it.until})
		}
		for _, it := range live {
			heap.Push(h, it)
		}
		if h.Len() == 0 {
			delete(m.due, dest)
		}
		if got > 0 {
			m.lastDest = dest
		}
		if len(out) == o.Max {
			break
		}
	}
	return out, nil
}

// held returns the item leased under token, or ErrLeaseLost.
func (m *memory) held(id, token string) (*memItem, error) {
	if m.closed {
		return nil, ErrClosed
	}
	it, ok := m.items[id]
	if !ok || it.dead || token == "" || it.token != token {
		return nil, ErrLeaseLost
	}
	return it, nil
}

// unlease ends the lease of it, and takes it out of the waiting
// deliveries if the lease had run out.
func (m *memory) unlease(it *memItem) {
	it.token, it.until = "", time.Time{}
	delete(m.leased, it.d.ID)
	m.unwait(it)
}

// settle ends the lease that token holds on delivery id, then applies f to
// it, all under the lock: the common part of every outcome.
func (m *memory) settle(id, token string, f func(it *memItem)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, err := m.held(id, token)
	if err != nil {
		return err
	}
	m.unlease(it)
	f(it)
	return nil
}

// Settle ends leases; see [Outbox.Settle].
func (m *memory) Settle(ctx context.Context, ss []Settlement) []error {
	errs := make([]error, len(ss))
	for i, st := range ss {
		errs[i] = m.settleOne(st)
	}
	return errs
}

// settleOne records one settlement.
func (m *memory) settleOne(st Settlement) error {
	switch st.Outcome {
	case Delivered:
		return m.settle(st.ID, st.Token, func(it *memItem) {
			delete(m.items, st.ID)
			m.leave(it)
		})
	case Retrying:
		return m.settle(st.ID, st.Token, func(it *memItem) {
			it.history = addAttempt(it.history, st.Attempt)
			it.d.Attempts = limits.CountOn(it.d.Attempts, math.MaxInt)
			it.d.Due = wire.Kept(st.Due)
			m.wait(it)
		})
	case Released:
		return m.settle(st.ID, st.Token, m.wait)
	case DeadLettered:
		return m.settle(st.ID, st.Token, func(it *memItem) {
			it.history = addAttempt(it.history, st.Attempt)
			it.d.Attempts = limits.CountOn(it.d.Attempts, math.MaxInt)
			it.dead, it.reason, it.deadAt = true, st.Reason, time.Now()
			m.dead++
			m.leave(it)
		})
	}
	return fmt.Errorf("%w: unknown outcome %d", ErrInvalid, st.Outcome)
}

// keptAttempt returns a with its time as a store keeps it.
func keptAttempt(a AttemptRecord) AttemptRecord {
	a.At = wire.Kept(a.At)
	return a
}

// addAttempt appends a, as kept, to the history h, dropping the oldest
// attempt beyond limits.History: its array never grows past that.
func addAttempt(h []AttemptRecord, a AttemptRecord) []AttemptRecord {
	if len(h) < limits.History {
		return append(h, keptAttempt(a))
	}
	n := copy(h, h[len(h)-limits.History+1:])
	h = append(h[:n], keptAttempt(a))
	return h
}

// DeadLetters lists dead letters; see [Admin.DeadLetters].
func (m *memory) DeadLetters(ctx context.Context, q DeadLetterQuery) ([]DeadLetter, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	dead := make([]*memItem, 0, m.dead)
	for _, it := range m.items {
		if it.dead {
			dead = append(dead, it)
		}
	}
	page := deadlist.Page(dead, deadKey, q.Destination, cursor(q.After), q.Limit)
	out := make([]DeadLetter, len(page))
	for i, it := range page {
		d := it.d
		d.Body = nil
		out[i] = DeadLetter{Delivery: d, Reason: it.reason, At: it.deadAt}
	}
	return out, nil
}

// deadKey is where a dead letter sorts in a listing: by destination, then id.
func deadKey(it **memItem) (string, string) { return (*it).d.Destination, (*it).d.ID }

// cursor is where a listing that starts after d resumes; nil for nil.
func cursor(d *DeadLetter) *deadlist.Cursor {
	if d == nil {
		return nil
	}
	return &deadlist.Cursor{Dest: d.Destination, ID: d.ID}
}

// Replay moves dead letters back to pending; see [Admin.Replay].
func (m *memory) Replay(ctx context.Context, s Selector) (int, error) {
	return m.eachDead(ctx, s, func(it *memItem, now time.Time) {
		it.dead, it.reason, it.deadAt = false, "", time.Time{}
		m.dead--
		it.d.Attempts, it.d.Due = 0, now
		m.enter(it) // at the back of its line, if it has a key
	})
}

// Purge deletes dead letters; see [Admin.Purge].
func (m *memory) Purge(ctx context.Context, s Selector) (int, error) {
	return m.eachDead(ctx, s, func(it *memItem, _ time.Time) {
		delete(m.items, it.d.ID)
		m.dead--
	})
}

// eachDead applies f to the dead letters s selects and counts them.
func (m *memory) eachDead(ctx context.Context, s Selector, f func(*memItem, time.Time)) (int, error) {
	if err := s.Validate(); err != nil {
		return 0, err
	}
	now := time.Now()
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	var sel []*memItem
	for _, it := range m.items {
		if it.dead && s.Matches(it.d.Destination, it.d.ID) {
			sel = append(sel, it)
		}
	}
	// In the order they died, which for the dead letters of one line is
	// the order they held in it: a Replay puts them back in that order.
	slices.SortFunc(sel, func(a, b *memItem) int {
		return cmp.Or(a.deadAt.Compare(b.deadAt), strings.Compare(a.d.ID, b.d.ID))
	})
	for _, it := range sel {
		f(it, now)
	}
	return len(sel), nil
}

// History returns a delivery's attempts; see [Admin.History].
func (m *memory) History(ctx context.Context, id string) ([]AttemptRecord, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	it, ok := m.items[id]
	if !ok {
		return nil, ErrNotFound
	}
	return slices.Clone(it.history), nil
}

// Stats counts deliveries; see [Admin.Stats]. It walks only the leases,
// not every delivery: a Queue with Metrics calls it at every poll, and a
// backlog of many thousands made that walk a cost of its own.
func (m *memory) Stats(ctx context.Context) (Stats, error) {
	if err := m.lock(ctx); err != nil {
		return Stats{}, err
	}
	defer m.mu.Unlock()
	s := Stats{Pending: len(m.items) - m.dead, Dead: m.dead}
	now := time.Now()
	for _, it := range m.leased {
		if it.until.After(now) {
			s.Leased++
		}
	}
	return s, nil
}

// Close empties the outbox; later calls fail with [ErrClosed].
func (m *memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed, m.items, m.due, m.leased, m.heads, m.behind, m.states = true, nil, nil, nil, nil, nil, nil
	return nil
}
