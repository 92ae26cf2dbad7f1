package natsstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/outbox"
)

// TestUndoSparesWhatAnotherPutReturnedFor replays, step by step with the
// real publish and undo, what a client retrying an event on another worker
// of a fleet does: Put A (worker 1) stores delivery x but has not returned
// (its context ends, say, while the server restarts); the client gives up
// on it and sends the event to worker 2, whose Put B of x finds the id
// held and returns nil; then Put A fails and undoes what it stored. x
// must survive, since B told its caller it is stored. Before adopt, the
// undo deleted it, and TestRelayFleetSurvivesKills lost acknowledged
// events that way. It also covers the other orders: the undo before Put B
// (B stores x afresh) and a Put C that adopts x and is then undone itself
// (C deletes nothing it did not store).
func TestUndoSparesWhatAnotherPutReturnedFor(t *testing.T) {
	ctx, w1, w2 := twoStores(t, Config{Stream: "ADOPT", Subject: "adopt"})
	now := time.Now()
	x := outbox.Delivery{ID: "x", Destination: "d", Body: []byte(`{"n":1}`), Due: now, Created: now}
	held := func(st *store, want string) {
		t.Helper()
		sm, err := w1.stream.GetLastMsgForSubject(ctx, st.subject(x.ID))
		if err != nil {
			t.Fatalf("%s: the record of x: %v", want, err)
		}
		r, err := decodeRecord(sm.Header, sm.Data)
		if err != nil || r.State != statePending || string(r.body) != string(x.Body) {
			t.Fatalf("%s: the record of x is %+v (%v), want it pending with its body", want, r, err)
		}
	}
	// begin does the publishing part of a Put of d by st, returning its
	// state for undo or adopt, and fails the test unless the stream held
	// the id as wantHeld says.
	begin := func(st *store, d outbox.Delivery, wantHeld bool) []published {
		t.Helper()
		ps, err := st.encode([]outbox.Delivery{d})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.publish(ctx, ps); err != nil || ps[0].held != wantHeld || (ps[0].seq == 0) != wantHeld {
			t.Fatalf("publish of %s: %v, held %v, seq %d; want held %v", d.ID, err, ps[0].held, ps[0].seq, wantHeld)
		}
		return ps
	}
	// caughtUp waits until the index of st holds the latest record of id
	// in the stream. A store learns of another's writes through its
	// watcher, after the fact, and until then its claim on the record is
	// refused as behind.
	caughtUp := func(st *store, id string) {
		t.Helper()
		sm, err := st.stream.GetLastMsgForSubject(ctx, st.subject(id))
		if err != nil {
			t.Fatalf("the record of %s: %v", id, err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			st.mu.Lock()
			e := st.entries[id]
			current := e != nil && e.rev >= sm.Sequence
			st.mu.Unlock()
			if current {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the index never reached revision %d of %s", sm.Sequence, id)
			}
		}
	}
	leased := func(st *store) []outbox.Leased {
		t.Helper()
		ls, err := st.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: time.Now().Add(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}

	// Put A stores x, Put B returns for it, Put A undoes.
	a := begin(w1, x, false)
	if err := w2.Put(ctx, x); err != nil {
		t.Fatalf("Put B: %v", err)
	}
	// Its message replaced, the undo names x as maybe stored, and does not
	// call that a failure.
	if err := w1.undo(a, errors.New("put A failed")); err == nil || !strings.Contains(err.Error(), `"x"`) || strings.Contains(err.Error(), "also failed") {
		t.Fatalf("undo of Put A: %v; want x named as maybe stored", err)
	}
	held(w1, "after Put B returned and Put A undid")
	if ls := leased(w2); len(ls) != 1 || ls[0].ID != x.ID {
		t.Fatalf("after Put B returned and Put A undid, worker 2 leased %v, want x", ls)
	}

	// The undo first: Put B finds x gone and stores it afresh.
	y := x
	y.ID = "y"
	a = begin(w1, y, false)
	b := begin(w2, y, true)
	w1.undo(a, errors.New("put A failed"))
	if err := w2.adopt(ctx, &b[0]); err != nil || b[0].held || b[0].seq == 0 {
		t.Fatalf("Put B after the undo: adopt %v, held %v, seq %d; want y stored afresh", err, b[0].held, b[0].seq)
	}
	if _, err := w1.stream.GetLastMsgForSubject(ctx, w1.subject(y.ID)); err != nil {
		t.Fatalf("y after Put B stored it afresh: %v", err)
	}

	// Put C adopts z, which Put A stored and returned for, then fails:
	// its undo leaves z be.
	z := x
	z.ID = "z"
	if err := w1.Put(ctx, z); err != nil {
		t.Fatal(err)
	}
	c := begin(w2, z, true)
	if err := w2.adopt(ctx, &c[0]); err != nil || c[0].seq == 0 {
		t.Fatalf("Put C of z: adopt %v, seq %d; want a rewrite", err, c[0].seq)
	}
	w2.undo(c, errors.New("put C failed"))
	held(w1, "after Put C adopted z and undid")

	// A leased record is a rewrite no Put undoes: adopt leaves it as it is.
	caughtUp(w1, z.ID) // Put C's rewrite was worker 2's
	ls := leased(w1)
	var lz *outbox.Leased
	for i := range ls {
		if ls[i].ID == z.ID {
			lz = &ls[i]
		}
	}
	if lz == nil {
		t.Fatalf("worker 1 leased %v, want z among them", ls)
	}
	d := begin(w2, z, true)
	if err := w2.adopt(ctx, &d[0]); err != nil || d[0].seq != 0 {
		t.Fatalf("Put D of leased z: adopt %v, seq %d; want the lease left as it is", err, d[0].seq)
	}
	if errs := w1.Settle(ctx, []outbox.Settlement{{ID: z.ID, Token: lz.Token, Outcome: outbox.Delivered}}); errs[0] != nil {
		t.Fatalf("settling z after Put D: %v (Put D must not have taken the lease)", errs[0])
	}
}

// TestAdoptAllHeld covers a retried batch, more held ids than adoptAll
// settles at once: a Put of 100 deliveries another store holds, beside 10
// new ones, returns nil with each record stored once and pending; and the
// same Put with its context ended by the time it adopts fails and undoes
// only the new ones it stored, leaving every held record as it was.
func TestAdoptAllHeld(t *testing.T) {
	ctx, w1, w2 := twoStores(t, Config{Stream: "ADOPTALL", Subject: "adoptall"})
	due := time.Now().Add(time.Hour)
	batch := func(prefix string, n int) []outbox.Delivery {
		ds := make([]outbox.Delivery, n)
		for i := range ds {
			ds[i] = outbox.Delivery{ID: fmt.Sprintf("%s%03d", prefix, i), Destination: "d", Body: []byte(`{}`), Due: due, Created: due}
		}
		return ds
	}
	const held = 3*adoptAtOnce + 4
	old := batch("held", held)
	if err := w1.Put(ctx, old...); err != nil {
		t.Fatal(err)
	}
	seqs := make(map[string]uint64)
	record := func(id string) (uint64, bool) {
		t.Helper()
		sm, err := w1.stream.GetLastMsgForSubject(ctx, w1.subject(id))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, false
		}
		if err != nil {
			t.Fatalf("the record of %s: %v", id, err)
		}
		r, err := decodeRecord(sm.Header, sm.Data)
		if err != nil || r.State != statePending || r.Until != 0 {
			t.Fatalf("the record of %s is %+v (%v), want it pending and unleased", id, r, err)
		}
		return sm.Sequence, true
	}
	for _, d := range old {
		seqs[d.ID], _ = record(d.ID)
	}

	// The context ends before adoption: the Put fails, its new deliveries
	// are undone, and no held record was touched.
	fresh := batch("lost", 10)
	ps, err := w2.encode(append(slices.Clone(old), fresh...))
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.publish(ctx, ps); err != nil {
		t.Fatal(err)
	}
	ended, end := context.WithCancel(ctx)
	end()
	err = w2.adoptAll(ended, ps)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("adoptAll with its context ended: %v, want context.Canceled", err)
	}
	w2.undo(ps, err)
	for _, d := range fresh {
		if _, ok := record(d.ID); ok {
			t.Errorf("%s is stored after its Put failed and undid", d.ID)
		}
	}
	for _, d := range old {
		if seq, ok := record(d.ID); !ok || seq != seqs[d.ID] {
			t.Errorf("held %s: stored %v at %d, want it left at %d", d.ID, ok, seq, seqs[d.ID])
		}
	}

	// The retry with a live context: every held id adopted, the new ones
	// stored, each record once.
	fresh = batch("new", 10)
	if err := w2.Put(ctx, append(slices.Clone(old), fresh...)...); err != nil {
		t.Fatalf("Put of %d held and %d new: %v", held, len(fresh), err)
	}
	for _, d := range append(old, fresh...) {
		if _, ok := record(d.ID); !ok {
			t.Errorf("%s is not stored after the Put returned nil", d.ID)
		}
	}
	info, err := w1.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(held + len(fresh)); info.State.NumSubjects != want {
		t.Errorf("the stream holds %d subjects, want %d: one record per delivery", info.State.NumSubjects, want)
	}
}

// twoStores opens two stores on one stream of a new server, as two workers
// of a fleet would, with a context that ends with the test or after a
// minute.
func twoStores(t *testing.T, cfg Config) (context.Context, *store, *store) {
	_, js := natstest.Connect(t, natstest.Start(t, nil).ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	open := func() *store {
		st, err := Open(ctx, js, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st.(*store)
	}
	return ctx, open(), open()
}
