package main

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/sender"
)

// TestPostgresStoreCapabilities: the relay's PostgreSQL store, which wraps
// the pgstore one with the pool it owns, still keeps key order (an ordered
// destination is accepted) and still wakes its Queue, so that wrapping
// hides neither capability of outbox.Store.
func TestPostgresStoreCapabilities(t *testing.T) {
	st, err := openStore(context.Background(), pgStoreURL(t), storeCreate, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := checkOrdered([]sender.Destination{{Name: "a", Ordered: true}}, st); err != nil {
		t.Errorf("an ordered destination over a postgres:// store: %v", err)
	}
	w, ok := st.(interface{ Wake() <-chan struct{} })
	if !ok {
		t.Fatalf("the postgres:// store (%T) has no Wake", st)
	}
	if w.Wake() == nil {
		t.Error("Wake returned a nil channel, which never fires")
	}
}
