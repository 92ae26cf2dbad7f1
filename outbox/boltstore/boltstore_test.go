package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/outbox/outboxtest"
)

var ctx = context.Background()

// open opens a new store in a temporary directory, closed at the end of the test.
func open(t testing.TB) (outbox.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.db")
	return openAt(t, path), path
}

// openAt opens the store at path, closed at the end of the test.
func openAt(t testing.TB, path string) outbox.Store {
	t.Helper()
	return queuetest.Opened(t)(boltstore.Open(path, nil))
}

// reopen closes s and opens its file at path again, as a restart would.
func reopen(t testing.TB, s outbox.Store, path string) outbox.Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return openAt(t, path)
}

func TestConformance(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) outbox.Outbox {
		s, _ := open(t)
		return s
	})
}

// TestReopen checks that everything but leases survives Close and Open:
// pending deliveries with their bodies, a leased one (due again at once),
// the history of a rescheduled one, and the dead letters.
func TestReopen(t *testing.T) {
	s, path := open(t)
	var ds []outbox.Delivery
	for i := range 50 {
		ds = append(ds, outbox.Delivery{ID: fmt.Sprint("id", i), Destination: fmt.Sprint("d", i%3), Body: bytes.Repeat([]byte{byte(i)}, 100*i)})
	}
	if err := s.Put(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 3, TTL: time.Hour, Now: time.Now()})
	if err != nil || len(ls) != 3 {
		t.Fatalf("Lease: %d, %v", len(ls), err)
	}
	now := time.Now()
	if err := s.Settle(ctx, []outbox.Settlement{{ID: ls[0].ID, Token: ls[0].Token, Outcome: outbox.Retrying, Due: now, Attempt: outbox.AttemptRecord{At: now, Status: 500, Error: "boom"}}})[0]; err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, []outbox.Settlement{{ID: ls[1].ID, Token: ls[1].Token, Outcome: outbox.DeadLettered, Reason: "gone (410)", Attempt: outbox.AttemptRecord{At: now, Status: 410}}})[0]; err != nil {
		t.Fatal(err)
	}
	// ls[2] stays leased across the restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lease(ctx, outbox.LeaseOptions{}); err == nil {
		t.Fatal("Lease after Close succeeded")
	}

	s2 := openAt(t, path)
	st, _ := s2.Stats(ctx)
	if st != (outbox.Stats{Pending: 49, Dead: 1}) {
		t.Errorf("Stats after reopen = %+v", st)
	}
	if h, err := s2.History(ctx, ls[0].ID); err != nil || len(h) != 1 || h[0].Status != 500 || h[0].Error != "boom" || !h[0].At.Equal(now) {
		t.Errorf("History after reopen = %+v, %v", h, err)
	}
	got, err := s2.Lease(ctx, outbox.LeaseOptions{Max: 100, TTL: time.Minute, Now: now.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 49 {
		t.Fatalf("leased %d after reopen, want 49 (the one leased before included)", len(got))
	}
	byID := map[string]outbox.Delivery{}
	for _, d := range ds {
		byID[d.ID] = d
	}
	for _, l := range got {
		if !bytes.Equal(l.Body, byID[l.ID].Body) || l.Destination != byID[l.ID].Destination {
			t.Errorf("%s came back changed", l.ID)
		}
	}
}

// TestLocked checks that a second Open of a file in use fails clearly
// within the lock timeout instead of hanging.
func TestLocked(t *testing.T) {
	_, path := open(t)
	_, err := boltstore.Open(path, &boltstore.Options{LockTimeout: 100 * time.Millisecond})
	if err == nil || !errors.Is(err, boltstore.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

// TestGroupCommit checks that concurrent Puts all land and that each is
// durable once Put returns (seen by a fresh Open).
func TestGroupCommit(t *testing.T) {
	s, path := open(t)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := s.Put(ctx, outbox.Delivery{ID: fmt.Sprintf("g%d-%d", g, i), Destination: "d", Body: []byte("x")}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s2 := reopen(t, s, path)
	if st, _ := s2.Stats(ctx); st.Pending != 16*50 {
		t.Errorf("Pending = %d, want %d", st.Pending, 16*50)
	}
}
