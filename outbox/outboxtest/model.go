package outboxtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// The model check: random Puts, Leases (Max cut short, Allow refusing a
// destination), Settles of every outcome with live and stale tokens,
// time passing, Replays and Purges, each checked against a model of what
// the outbox holds. Every Lease must return only deliveries that may be
// leased, and all of them when it returns fewer than Max: a delivery that
// may be leased and never is, is one the outbox has lost for its Queue.
// Every Settle must succeed exactly when its token holds the lease, and
// fail with ErrLeaseLost otherwise. Partition keys are used when the store
// keeps their order, dead letters are replayed and purged when it is an
// Admin.

// modelSeeds is how many random runs testModel makes, of modelSteps
// operations each.
const modelSeeds, modelSteps = 6, 300

// modelItem is the model of one delivery the outbox holds.
type modelItem struct {
	dest, key string
	due       time.Time
	dead      bool
	token     string // of its lease; empty when it was never leased or the lease ended
	until     time.Time
}

// model is what the outbox should hold, under a clock of its own.
type model struct {
	now    time.Time
	items  map[string]*modelItem
	lines  map[string][]string // by destination and key: the ids pending, in Put order
	tokens []outbox.Settlement // every lease handed out, newest last
}

func (m *model) line(it *modelItem) string { return it.dest + "\x00" + it.key }

// leave takes id out of its line, if it has a key.
func (m *model) leave(id string, it *modelItem) {
	if it.key != "" {
		l := m.lines[m.line(it)]
		m.lines[m.line(it)] = slices.DeleteFunc(l, func(x string) bool { return x == id })
	}
}

// leasable reports whether the outbox may lease id now.
func (m *model) leasable(id string, it *modelItem) bool {
	if it.dead || it.due.After(m.now) || (it.token != "" && it.until.After(m.now)) {
		return false
	}
	if it.key != "" {
		l := m.lines[m.line(it)]
		return len(l) > 0 && l[0] == id
	}
	return true
}

func testModel(t *testing.T, newOutbox func(t *testing.T) outbox.Outbox) {
	for seed := range uint64(modelSeeds) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			ob := newOutbox(t)
			t.Cleanup(func() { _ = ob.Close() })
			runModel(t, ob, seed)
		})
	}
}

func runModel(t *testing.T, ob outbox.Outbox, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	ko, keyed := ob.(interface{ OrdersByKey() bool })
	keyed = keyed && ko.OrdersByKey()
	admin, _ := ob.(outbox.Admin)
	// An hour ahead: a Replay makes a delivery due at the real time, which
	// must not be ahead of the model's.
	m := &model{now: time.Now().Add(time.Hour).Round(time.Millisecond), items: map[string]*modelItem{}, lines: map[string][]string{}}
	dests := []string{"a", "b", "c"}
	for step := range modelSteps {
		switch op := r.IntN(10); {
		case op < 3:
			modelPut(t, ob, m, r, dests, keyed, step)
		case op < 6:
			modelLease(t, ob, m, r, dests, step)
		case op < 8:
			modelSettle(t, ob, m, r, step)
		case op < 9:
			m.now = m.now.Add(time.Duration(r.IntN(80)) * time.Millisecond)
		case admin != nil:
			modelAdmin(t, admin, m, r)
		}
	}
}

func modelPut(t *testing.T, ob outbox.Outbox, m *model, r *rand.Rand, dests []string, keyed bool, step int) {
	ds := make([]outbox.Delivery, 1+r.IntN(4))
	for i := range ds {
		d := mk(fmt.Sprintf("s%03d-%d", step, i), dests[r.IntN(len(dests))])
		d.Created, d.Due = m.now, m.now.Add(time.Duration(r.IntN(3)-1)*10*time.Millisecond)
		if keyed && r.IntN(3) == 0 {
			d.PartitionKey = fmt.Sprint("k", r.IntN(2))
		}
		ds[i] = d
		it := &modelItem{dest: d.Destination, key: d.PartitionKey, due: d.Due}
		m.items[d.ID] = it
		if it.key != "" {
			m.lines[m.line(it)] = append(m.lines[m.line(it)], d.ID)
		}
	}
	if err := ob.Put(ctx, ds...); err != nil {
		t.Fatalf("step %d: Put: %v", step, err)
	}
}

func modelLease(t *testing.T, ob outbox.Outbox, m *model, r *rand.Rand, dests []string, step int) {
	n := 1 + r.IntN(5)
	o := outbox.LeaseOptions{Max: n, TTL: 100 * time.Millisecond, Now: m.now}
	refused := ""
	if r.IntN(2) == 0 {
		refused = dests[r.IntN(len(dests))]
		o.Allow = func(d string) int {
			if d == refused {
				return 0
			}
			return n
		}
	}
	want := map[string]bool{}
	for id, it := range m.items {
		if m.leasable(id, it) && it.dest != refused {
			want[id] = true
		}
	}
	ls, err := ob.Lease(ctx, o)
	if err != nil {
		t.Fatalf("step %d: Lease: %v", step, err)
	}
	for _, l := range ls {
		if !want[l.ID] {
			t.Fatalf("step %d: Lease returned %s, which may not be leased (%+v)", step, l.ID, m.items[l.ID])
		}
		delete(want, l.ID)
		it := m.items[l.ID]
		it.token, it.until = l.Token, l.Until
		m.tokens = append(m.tokens, outbox.Settlement{ID: l.ID, Token: l.Token})
	}
	if len(ls) < n && len(want) > 0 {
		missed := make([]string, 0, len(want))
		for id := range want {
			missed = append(missed, id)
		}
		slices.Sort(missed)
		t.Fatalf("step %d: Lease(Max %d) returned %d, and not %v, which it may lease", step, n, len(ls), missed)
	}
}

// settlements returns one to four settlements of random outcomes for
// leases among the most recent ones handed out (recent of them), live or
// stale.
func (m *model) settlements(r *rand.Rand, recent int) []outbox.Settlement {
	var ss []outbox.Settlement
	seen := map[string]bool{}
	for range 1 + r.IntN(4) {
		if len(m.tokens) == 0 {
			break
		}
		s := m.tokens[len(m.tokens)-1-r.IntN(min(len(m.tokens), recent))]
		if seen[s.ID] {
			continue
		}
		seen[s.ID] = true
		s.Outcome = []outbox.Outcome{outbox.Delivered, outbox.Retrying, outbox.DeadLettered, outbox.Released}[r.IntN(4)]
		s.Due = m.now.Add(time.Duration(r.IntN(3)) * 10 * time.Millisecond)
		s.Attempt = outbox.AttemptRecord{At: m.now, Error: "x"}
		s.Reason = "model"
		ss = append(ss, s)
	}
	return ss
}

func modelSettle(t *testing.T, ob outbox.Outbox, m *model, r *rand.Rand, step int) {
	ss := m.settlements(r, 8)
	if len(ss) == 0 {
		return
	}
	errs := ob.Settle(ctx, ss)
	for i, s := range ss {
		if err := m.settle(s, errs[i]); err != "" {
			t.Fatalf("step %d: %s", step, err)
		}
	}
}

// settle checks err, the outcome of settlement s, against the model and
// records what s did. It returns what was wrong, or "".
func (m *model) settle(s outbox.Settlement, err error) (wrong string) {
	it := m.items[s.ID]
	held := it != nil && !it.dead && it.token == s.Token
	switch {
	case held && err != nil:
		return fmt.Sprintf("Settle %s %v with its lease (token %s): %v", s.ID, s.Outcome, s.Token, err)
	case !held && !errors.Is(err, outbox.ErrLeaseLost):
		return fmt.Sprintf("Settle %s %v with a lost lease (token %s): %v, want ErrLeaseLost", s.ID, s.Outcome, s.Token, err)
	case !held:
		return ""
	}
	it.token = ""
	switch s.Outcome {
	case outbox.Delivered:
		m.leave(s.ID, it)
		delete(m.items, s.ID)
	case outbox.Retrying:
		it.due = s.Due
	case outbox.DeadLettered:
		m.leave(s.ID, it)
		it.dead = true
	}
	return ""
}

// modelAdmin replays or purges a dead letter.
func modelAdmin(t *testing.T, admin outbox.Admin, m *model, r *rand.Rand) {
	var dead []string
	for id, it := range m.items {
		if it.dead {
			dead = append(dead, id)
		}
	}
	if len(dead) == 0 {
		return
	}
	slices.Sort(dead)
	id := dead[r.IntN(len(dead))]
	it := m.items[id]
	if r.IntN(2) == 0 {
		if n, err := admin.Replay(ctx, outbox.Selector{IDs: []string{id}}); err != nil || n != 1 {
			t.Fatalf("Replay %s: %d, %v", id, n, err)
		}
		it.dead, it.due = false, time.Now() // the real time: behind the model's

		if it.key != "" {
			m.lines[m.line(it)] = append(m.lines[m.line(it)], id)
		}
		return
	}
	if n, err := admin.Purge(ctx, outbox.Selector{IDs: []string{id}}); err != nil || n != 1 {
		t.Fatalf("Purge %s: %d, %v", id, n, err)
	}
	delete(m.items, id)
}
