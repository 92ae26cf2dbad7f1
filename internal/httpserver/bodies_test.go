package httpserver

import (
	"math"
	"sync"
	"testing"
)

// TestBodiesRoom: BodiesAtOnce bodies of the largest size fit, one byte
// more does not, an unknown length counts as the largest, and what Give
// returns is room again; sizes near MaxInt64 neither overflow nor panic.
func TestBodiesRoom(t *testing.T) {
	var b Bodies
	const max = 1 << 20
	var taken []int32
	for range BodiesAtOnce {
		k, ok := b.Take(max, max)
		if !ok {
			t.Fatalf("body %d of %d refused", len(taken)+1, BodiesAtOnce)
		}
		taken = append(taken, k)
	}
	if _, ok := b.Take(1, max); ok {
		t.Fatal("a byte past the room was taken")
	}
	b.Give(taken[0])
	if _, ok := b.Take(2*max, max); !ok {
		t.Fatal("a body over the limit is counted as the limit (it is refused with 413 when read): room for it was given back")
	}
	var huge Bodies
	for range 3 * BodiesAtOnce {
		huge.Take(-1, math.MaxInt64)
	}
	if huge.held < 0 || huge.held > math.MaxInt32 {
		t.Fatalf("held %d", huge.held)
	}
}

// TestBodiesConcurrent: concurrent takers never exceed the room together.
func TestBodiesConcurrent(t *testing.T) {
	var b Bodies
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for range 8 * BodiesAtOnce {
		wg.Go(func() {
			if _, ok := b.Take(1024, 1024); ok {
				mu.Lock()
				got++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got != BodiesAtOnce {
		t.Fatalf("%d taken, want %d", got, BodiesAtOnce)
	}
}
