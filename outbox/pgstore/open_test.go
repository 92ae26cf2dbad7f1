package pgstore_test

import (
	"bytes"
	"errors"
	"hash/crc32"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
)

// TestOpenConcurrently: processes that open a new outbox at once (each
// with its own pool) all succeed, and create it once.
func TestOpenConcurrently(t *testing.T) {
	url := pgtest.URL(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		pool := connect(t, url)
		wg.Go(func() {
			ob, err := pgstore.Open(ctx, pool, &pgstore.Options{Schema: "shop", Prefix: "wh_"})
			if err == nil {
				err = ob.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Open: %v", err)
		}
	}
	pool := connect(t, url)
	var v int
	if err := pool.QueryRow(ctx, "SELECT version FROM shop.wh_version").Scan(&v); err != nil || v != 3 {
		t.Fatalf("version %d, %v; want 3", v, err)
	}
	var tables int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'shop'").Scan(&tables); err != nil || tables != 5 {
		t.Errorf("%d tables in the schema (%v), want 5", tables, err)
	}
}

// TestOpenOptions: outboxes of two prefixes in one database are apart;
// NoCreate refuses a missing outbox and creates nothing; tables of a newer
// version than the code knows are refused; a bad prefix is invalid.
func TestOpenOptions(t *testing.T) {
	pool := newPool(t)
	if _, err := pgstore.Open(ctx, pool, &pgstore.Options{NoCreate: true}); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("Open NoCreate of nothing = %v, want ErrNotFound", err)
	}
	var tables int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("NoCreate left %d tables (%v)", tables, err)
	}
	if _, err := pgstore.Open(ctx, pool, &pgstore.Options{Prefix: `x"; DROP TABLE y; --`}); !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("Open with a quoting prefix = %v, want ErrInvalid", err)
	}
	a, b := open(t, pool, nil), open(t, pool, &pgstore.Options{Prefix: "other_"})
	now := time.Now()
	if err := a.Put(ctx, outbox.Delivery{ID: "x", Destination: "d", Body: []byte("a"), Due: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	if s, err := b.Stats(ctx); err != nil || s != (outbox.Stats{}) {
		t.Errorf("the other prefix's Stats = %+v, %v", s, err)
	}
	if _, err := pgstore.Open(ctx, pool, &pgstore.Options{NoCreate: true}); err != nil {
		t.Errorf("Open NoCreate of an existing outbox: %v", err)
	}
	if _, err := pool.Exec(ctx, "UPDATE herald_outbox_version SET version = 99"); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.Open(ctx, pool, nil); !errors.Is(err, outbox.ErrCorrupt) {
		t.Errorf("Open of a newer version = %v, want an error", err)
	}
}

// TestBytes: a topic, content type, error and reason of any bytes (NUL,
// invalid UTF-8) read back as they were put.
func TestBytes(t *testing.T) {
	ob := open(t, newPool(t), nil)
	odd := "a\x00b\xff\xfe"
	now := time.Now()
	d := outbox.Delivery{ID: "odd", Destination: "d", Topic: odd, ContentType: odd, Due: now, Created: now}
	if err := ob.Put(ctx, d); err != nil {
		t.Fatal(err)
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) != 1 || ls[0].Topic != odd || ls[0].ContentType != odd || ls[0].Body == nil || len(ls[0].Body) != 0 {
		t.Fatalf("Lease = %+v, %v", ls, err)
	}
	errs := ob.Settle(ctx, []outbox.Settlement{{ID: "odd", Token: ls[0].Token, Outcome: outbox.DeadLettered,
		Reason: odd, Attempt: outbox.AttemptRecord{At: now, Error: odd}}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	dl, err := ob.DeadLetters(ctx, outbox.DeadLetterQuery{})
	if err != nil || len(dl) != 1 || dl[0].Reason != odd || dl[0].Topic != odd {
		t.Fatalf("DeadLetters = %+v, %v", dl, err)
	}
	h, err := ob.History(ctx, "odd")
	if err != nil || len(h) != 1 || !bytes.Equal([]byte(h[0].Error), []byte(odd)) || !h[0].At.Equal(now) {
		t.Fatalf("History = %+v, %v", h, err)
	}
}

// TestOpenRefusesOtherIsolation: a database (or role, or connection) whose
// transactions default to REPEATABLE READ or SERIALIZABLE is refused at
// Open, with ErrInvalid saying what to set. The store's statements rely on
// READ COMMITTED: under the others its leases failed with serialization
// errors under load, and a line's next delivery, committed after a
// settlement's snapshot, could stay held until the repair walk.
func TestOpenRefusesOtherIsolation(t *testing.T) {
	for _, level := range []string{"repeatable read", "serializable"} {
		cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = level
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		_, err = pgstore.Open(ctx, pool, nil)
		if !errors.Is(err, outbox.ErrInvalid) || !strings.Contains(err.Error(), "read committed") {
			t.Errorf("Open with default_transaction_isolation=%s: %v; want ErrInvalid naming read committed", level, err)
		}
	}
}

// TestOpenSchemaNames: a schema name PostgreSQL cannot hold as given is
// refused with ErrInvalid. One with a NUL opened the tables of the name
// without it (the quoting drops NULs), so that two outboxes the caller
// told apart shared their deliveries; one that is not UTF-8 failed with
// the server's encoding error.
func TestOpenSchemaNames(t *testing.T) {
	pool := newPool(t)
	ab := open(t, pool, &pgstore.Options{Schema: "ab"})
	now := time.Now()
	if err := ab.Put(ctx, outbox.Delivery{ID: "x", Destination: "d", Body: []byte("{}"), Due: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	for _, schema := range []string{"a\x00b", "\x00", "ab\xff"} {
		ob, err := pgstore.Open(ctx, pool, &pgstore.Options{Schema: schema})
		if err == nil {
			st, _ := ob.Stats(ctx)
			ob.Close()
			t.Errorf("Open with schema %q: no error, and it holds %d pending", schema, st.Pending)
		} else if !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Open with schema %q = %v, want ErrInvalid", schema, err)
		}
	}
}

// TestChannelsApart: two outboxes of one database never share a
// notification channel, so that one's Puts do not wake the other's
// workers. The channel was named by the CRC-32 of the schema and prefix,
// and two schemas of the same CRC, easy to find, shared it.
func TestChannelsApart(t *testing.T) {
	const a, b = "s29685295", "s32060020" // found by trying s0, s1, …
	if crc32.ChecksumIEEE([]byte(a+".herald_outbox_")) != crc32.ChecksumIEEE([]byte(b+".herald_outbox_")) {
		t.Fatal("the schemas' names no longer share a CRC-32")
	}
	pool := newPool(t)
	obA, obB := open(t, pool, &pgstore.Options{Schema: a}), open(t, pool, &pgstore.Options{Schema: b})
	if ca, cb := pgstore.Channel(obA), pgstore.Channel(obB); ca == cb {
		t.Errorf("the outboxes of schemas %q and %q share the channel %s", a, b, ca)
	}
}
