package natsstore_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/natsstore"
)

// TestStatesBucketPerStream: the states bucket was named after the stream
// with every character a bucket name cannot hold replaced by '_', so the
// outboxes of streams A+B, A_B and AéB shared one bucket, and a destination
// disabled in one was disabled in the others. Each stream now has a bucket
// of its own, and a stream whose name needs no replacement keeps the
// bucket it had (HERALD_OUTBOX_DEST), with the states recorded in it.
func TestStatesBucketPerStream(t *testing.T) {
	js := jetStream(t)
	ctx := context.Background()
	disabled := outbox.DestinationState{Destination: "hooks", Disabled: time.Now().UTC().Truncate(time.Second), Reason: "gone (410)"}

	first := open(t, js, natsstore.Config{Stream: "A+B", Subject: "states.plus"})
	if err := first.(outbox.DestinationStore).SetDestinationState(ctx, disabled); err != nil {
		t.Fatal(err)
	}
	for i, stream := range []string{"A_B", "A-B", "AéB", "A,B", "A-2BB"} {
		o := open(t, js, natsstore.Config{Stream: stream, Subject: "states.other" + string(rune('a'+i))})
		got, err := o.(outbox.DestinationStore).DestinationStates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("stream %q sees the states of stream A+B: %+v", stream, got)
		}
	}

	// A name that needs no replacement keeps its bucket: the stream's name
	// with _DEST added.
	plain := open(t, js, natsstore.Config{Stream: "PLAIN_OUT-1", Subject: "states.plain"})
	if err := plain.(outbox.DestinationStore).SetDestinationState(ctx, disabled); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, "PLAIN_OUT-1_DEST")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, base64.RawURLEncoding.EncodeToString([]byte("hooks"))); err != nil {
		t.Errorf("the state of stream PLAIN_OUT-1 is not in bucket PLAIN_OUT-1_DEST: %v", err)
	}
}

// TestStreamNameTooLongForItsBucket: a stream name whose states bucket
// cannot be made (the bucket's stream, KV_ and the bucket's name, would be
// over the server's 255 bytes) was found out only after Open had created
// the stream, with the server's error. It is now refused first, with
// ErrInvalid, and no stream is left behind.
func TestStreamNameTooLongForItsBucket(t *testing.T) {
	js := jetStream(t)
	ctx := context.Background()
	for i, name := range []string{strings.Repeat("A", 250), strings.Repeat("é", 60)} {
		cfg := natsstore.Config{Stream: name, Subject: fmt.Sprint("long.s", i)}
		if _, err := natsstore.Open(ctx, js, cfg); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Open of a %d-byte stream name: %v; want ErrInvalid", len(name), err)
		}
		if _, err := js.Stream(ctx, name); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("Open of a %d-byte stream name left a stream behind (%v)", len(name), err)
		}
	}
	// The longest names whose bucket fits still open.
	open(t, js, natsstore.Config{Stream: strings.Repeat("A", 247), Subject: "long.fit"})
}

// TestStatesAfterServerRestart restarts the server (same store, same port)
// under two workers, then one disables a destination and enables it
// again: the other sees both within seconds, as before the restart. Its
// key-value watcher used to go on without them for some 20 seconds after
// the restart, until nats.go noticed the missed heartbeats and made its
// consumer again, and meanwhile the worker sent to a destination another
// had disabled (or held one an operator had enabled).
func TestStatesAfterServerRestart(t *testing.T) {
	dir := t.TempDir()
	s := natstest.Start(t, &server.Options{StoreDir: dir})
	_, jsA := natstest.Connect(t, s.ClientURL())
	_, jsB := natstest.Connect(t, s.ClientURL())
	cfg := freshConfig()
	a := open(t, jsA, cfg).(outbox.DestinationStore)
	b := open(t, jsB, cfg).(outbox.DestinationStore)
	ctx := context.Background()
	disabledIn := func(ds outbox.DestinationStore, dest string) bool {
		list, err := ds.DestinationStates(ctx)
		return err == nil && slices.ContainsFunc(list, func(s outbox.DestinationState) bool {
			return s.Destination == dest && !s.Disabled.IsZero()
		})
	}
	set := func(st outbox.DestinationState) {
		t.Helper()
		var err error
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if err = a.SetDestinationState(ctx, st); err == nil {
				return
			}
		}
		t.Fatalf("SetDestinationState after the restart: %v", err)
	}
	disabled := outbox.DestinationState{Destination: "before", Disabled: time.Now().UTC().Truncate(time.Second), Reason: "gone (410)"}
	set(disabled)
	queuetest.WaitFor(t, 10*time.Second, "the other worker to see a destination disabled", func() bool { return disabledIn(b, "before") })

	port := natstest.Port(s)
	s.Shutdown()
	s.WaitForShutdown()
	natstest.Start(t, &server.Options{StoreDir: dir, Port: port})

	disabled.Destination = "after"
	set(disabled)
	queuetest.WaitFor(t, 10*time.Second, "the other worker to see a destination disabled after the restart",
		func() bool { return disabledIn(b, "after") })
	set(outbox.DestinationState{Destination: "before"}) // enabled
	queuetest.WaitFor(t, 10*time.Second, "the other worker to see a destination enabled after the restart",
		func() bool { return !disabledIn(b, "before") })
}

// TestRemovingUnrecordedStateWritesNothing: removing the state of a
// destination the bucket holds none for (an enable of a name never
// recorded) writes no key; each such enable used to leave one in the
// bucket for good. Removing a recorded state still removes it, for this
// worker and another.
func TestRemovingUnrecordedStateWritesNothing(t *testing.T) {
	js := jetStream(t)
	ctx := context.Background()
	o := open(t, js, natsstore.Config{Stream: "UNRECORDED", Subject: "states.unrecorded"})
	other := open(t, js, natsstore.Config{Stream: "UNRECORDED", Subject: "states.unrecorded"})
	ds := o.(outbox.DestinationStore)
	for i := range 50 {
		if err := ds.SetDestinationState(ctx, outbox.DestinationState{Destination: fmt.Sprint("never-", i)}); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := js.KeyValue(ctx, "UNRECORDED_DEST")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := kv.Status(ctx); err != nil || st.Values() != 0 {
		t.Fatalf("after removing 50 unrecorded states the bucket holds %v values (%v); want none", st.Values(), err)
	}
	disabled := outbox.DestinationState{Destination: "hooks", Disabled: time.Now().UTC().Truncate(time.Second), Reason: "gone (410)"}
	if err := ds.SetDestinationState(ctx, disabled); err != nil {
		t.Fatal(err)
	}
	waitStates(t, other.(outbox.DestinationStore), 1)
	if err := other.(outbox.DestinationStore).SetDestinationState(ctx, outbox.DestinationState{Destination: "hooks"}); err != nil {
		t.Fatal(err)
	}
	waitStates(t, ds, 0)
}

// waitStates waits up to 10 s for ds to hold n destination states.
func waitStates(t *testing.T, ds outbox.DestinationStore, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err := ds.DestinationStates(context.Background())
		if err == nil && len(got) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("states %+v, %v; want %d", got, err, n)
		}
	}
}
