package natsstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/outbox"
)

// TestPutAllOrNothing: a Put whose batch the stream refuses in part
// stores none of it, and a retry of the same ids after the refusal is
// stored, not dropped as a duplicate. The stream is made to refuse the
// one delivery whose body exceeds a MaxMsgSize set on it after Open, in
// the middle of a batch larger than one round of publishes.
func TestPutAllOrNothing(t *testing.T) {
	js, cfg, ob := freshStore(t)
	ctx := context.Background()
	str, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	sc := str.CachedInfo().Config
	sc.MaxMsgSize = 4096
	if _, err := js.UpdateStream(ctx, sc); err != nil {
		t.Fatalf("UpdateStream: %v", err)
	}
	now := time.Now()
	mk := func(id string, body []byte) outbox.Delivery {
		return outbox.Delivery{ID: id, Destination: "d", Body: body, Due: now, Created: now}
	}
	var batch []outbox.Delivery
	for i := range 600 {
		batch = append(batch, mk(fmt.Sprintf("ok-%03d", i), []byte("{}")))
	}
	big := mk("big", bytes.Repeat([]byte("x"), 8192))
	batch = append(batch[:300], append([]outbox.Delivery{big}, batch[300:]...)...)

	if err := ob.Put(ctx, batch...); err == nil {
		t.Fatal("Put of a batch the stream refuses in part succeeded")
	}
	if st, err := ob.Stats(ctx); err != nil || st != (outbox.Stats{}) {
		t.Fatalf("after a refused Put: Stats = %+v, %v; want nothing stored", st, err)
	}
	if info, err := str.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("after a refused Put the stream holds %d messages (%v)", info.State.Msgs, err)
	}
	if ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 1000, TTL: time.Minute, Now: time.Now()}); err != nil || len(ls) != 0 {
		t.Fatalf("after a refused Put leased %d (%v)", len(ls), err)
	}

	// The same ids again, without the refused one: every one is stored.
	retry := append(batch[:300:300], batch[301:]...)
	if err := ob.Put(ctx, retry...); err != nil {
		t.Fatalf("retried Put: %v", err)
	}
	if st, err := ob.Stats(ctx); err != nil || st.Pending != 600 {
		t.Fatalf("after the retry: Stats = %+v, %v; want 600 pending", st, err)
	}
}

// TestPutRefusesWhatItCannotStore: a delivery the record format cannot
// hold (an empty id, an id that is not UTF-8 or that the id rule refuses,
// a body over max_payload) is refused with ErrInvalid before anything of
// its batch is published. (An id of 4000 bytes used to make a subject past
// the server's max_control_line: the server closed the store's connection
// and the Put hung.)
func TestPutRefusesWhatItCannotStore(t *testing.T) {
	js := jetStream(t)
	ob := open(t, js, freshConfig())
	ctx := context.Background()
	now := time.Now()
	good := outbox.Delivery{ID: "good", Destination: "d", Body: []byte("{}"), Due: now, Created: now}
	for _, bad := range []outbox.Delivery{
		{Destination: "d"},
		{ID: "x"},
		{ID: "\xff", Destination: "d"},
		{ID: "huge", Destination: "d", Body: make([]byte, limits.Body)},
		// Its subject would pass max_control_line, and the server would
		// close the store's connection.
		{ID: strings.Repeat("a", 4000), Destination: "d"},
	} {
		if err := ob.Put(ctx, good, bad); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Put(%q, %q): %v, want ErrInvalid", bad.ID, bad.Destination, err)
		}
	}
	if st, err := ob.Stats(ctx); err != nil || st != (outbox.Stats{}) {
		t.Fatalf("Stats = %+v, %v; want nothing stored", st, err)
	}
}
