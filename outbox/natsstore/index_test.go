package natsstore

import (
	"testing"
	"time"
)

// TestStaleEntries: an entry is marked stale only when the index still
// holds the revision found outdated, and a stale entry is tried again after
// staleRetry even if the watcher never brings a newer revision, so that a
// missed update cannot hold a delivery back for good.
func TestStaleEntries(t *testing.T) {
	o := &store{}
	e := &entry{meta: meta{State: statePending}, rev: 6}
	o.markStaleLocked(e, 5)
	if e.stale {
		t.Fatal("marked stale for a revision the index already left")
	}
	if !eligible(e, 0) {
		t.Fatal("a current pending entry is not eligible")
	}
	o.markStaleLocked(e, 6)
	if !e.stale || eligible(e, 0) {
		t.Fatal("a stale entry is eligible at once")
	}
	e.staleAt = time.Now().Add(-staleRetry)
	if !eligible(e, 0) {
		t.Fatal("a stale entry is not retried after staleRetry")
	}
}
