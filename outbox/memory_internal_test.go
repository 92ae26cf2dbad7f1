package outbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestMemoryStatsKeepsCount: the memory store counts its dead letters as
// they come and go instead of walking every delivery at each Stats. After
// every step of a random run of Puts (new and repeated ids), Leases,
// settlements of each outcome, Replays and Purges, Stats must equal a
// count made by walking the store.
func TestMemoryStatsKeepsCount(t *testing.T) {
	ctx := context.Background()
	m := NewMemory().(*memory)
	rng := rand.New(rand.NewPCG(1, 2))
	var held []Leased
	next := 0
	for step := range 3000 {
		switch op := rng.IntN(10); {
		case op < 3:
			var ds []Delivery
			for range 1 + rng.IntN(4) {
				id := next
				if next > 0 && rng.IntN(4) == 0 {
					id = rng.IntN(next) // a repeated id: Put keeps the first
				} else {
					next++
				}
				ds = append(ds, Delivery{ID: fmt.Sprint("d", id), Destination: fmt.Sprint("dest", id%3), Due: time.Now()})
			}
			if err := m.Put(ctx, ds...); err != nil {
				t.Fatal(err)
			}
		case op < 5:
			ls, err := m.Lease(ctx, LeaseOptions{Max: 1 + rng.IntN(5), TTL: time.Hour, Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, ls...)
		case op < 8 && len(held) > 0:
			i := rng.IntN(len(held))
			l := held[i]
			held = append(held[:i], held[i+1:]...)
			s := Settlement{ID: l.ID, Token: l.Token, Outcome: []Outcome{Delivered, Retrying, Released, DeadLettered}[rng.IntN(4)], Due: time.Now()}
			if err := m.Settle(ctx, []Settlement{s})[0]; err != nil {
				t.Fatal(err)
			}
		case op == 8:
			if _, err := m.Replay(ctx, Selector{Destination: fmt.Sprint("dest", rng.IntN(3))}); err != nil {
				t.Fatal(err)
			}
		case op == 9:
			if _, err := m.Purge(ctx, Selector{IDs: []string{fmt.Sprint("d", rng.IntN(next+1))}}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := m.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := walkedStats(m); got != want {
			t.Fatalf("step %d: Stats = %+v, walking the store counts %+v", step, got, want)
		}
	}
	if s, _ := m.Stats(ctx); s.Dead == 0 || s.Pending == 0 {
		t.Errorf("the run ended with %+v: it should leave both pending deliveries and dead letters", s)
	}
}

// walkedStats counts m's deliveries by walking them all.
func walkedStats(m *memory) Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	var s Stats
	now := time.Now()
	for _, it := range m.items {
		switch {
		case it.dead:
			s.Dead++
		default:
			s.Pending++
			if it.token != "" && it.until.After(now) {
				s.Leased++
			}
		}
	}
	return s
}

// BenchmarkMemoryStats: Stats over 10,000 pending deliveries, 64 of them
// leased, beside the walk over every delivery that it replaced.
func BenchmarkMemoryStats(b *testing.B) {
	ctx := context.Background()
	m := NewMemory().(*memory)
	ds := make([]Delivery, 10000)
	for i := range ds {
		ds[i] = Delivery{ID: fmt.Sprint("d", i), Destination: "dest", Due: time.Now()}
	}
	if err := m.Put(ctx, ds...); err != nil {
		b.Fatal(err)
	}
	if _, err := m.Lease(ctx, LeaseOptions{Max: 64, TTL: time.Hour, Now: time.Now()}); err != nil {
		b.Fatal(err)
	}
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			walkedStats(m)
		}
	})
	b.Run("Stats", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.Stats(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
