package auth

import (
	"context"
	"testing"
	"time"
)

// TestJWKSFetchFreesItsSlotBeforeAnswering: when a lookup that waited for
// a fetch goes on, that fetch no longer holds the one fetch slot, so a
// lookup right after it that finds the keys stale starts their refresh.
// (The outcome was handed over before the slot was released: such a
// refresh was skipped, as if a fetch were still in flight.)
func TestJWKSFetchFreesItsSlotBeforeAnswering(t *testing.T) {
	ks := asymKeys(t)
	_, j, clock := clockedJWKS(t, ks.ed.Public())
	ctx := context.Background()
	for i := range 300 {
		clock.Add(int64(jwksMaxAge + time.Minute))
		if err := j.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if held := len(j.sem); held != 0 {
			t.Fatalf("fetch %d: its outcome was handed over while it still held the fetch slot", i+1)
		}
	}
}
