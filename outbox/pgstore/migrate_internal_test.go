package pgstore

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// TestMigrateFrom1: tables made by version 1, holding deliveries, migrate
// to the current version on Open: the deliveries read back without trace
// parent or key and are leased as before, keyed deliveries put afterwards
// go out in order behind none of them, and destination states are kept.
func TestMigrateFrom1(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tb := names("public", defaultPrefix)
	if err := migrateTo(ctx, pool, tb, 1); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := pool.Exec(ctx, `INSERT INTO `+tb.deliveries+` (id, destination, body, due_ns, created_ns)
		VALUES ('old1', 'd', '\x7b7d', $1, $1), ('old2', 'd', '', $1, $1)`, wire.Nanos(now)); err != nil {
		t.Fatal(err)
	}
	ob, err := Open(ctx, pool, nil)
	if err != nil {
		t.Fatalf("Open of version 1 tables: %v", err)
	}
	defer ob.Close()
	var v int
	if err := pool.QueryRow(ctx, "SELECT version FROM "+tb.version).Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("version %d, %v; want %d", v, err, len(migrations))
	}
	k1 := outbox.Delivery{ID: "k1", Destination: "d", PartitionKey: "K", TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", Due: now, Created: now}
	k2 := k1
	k2.ID = "k2"
	if err := ob.Put(ctx, k1, k2); err != nil {
		t.Fatal(err)
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: now.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.ID)
		if l.ID == "old1" && (string(l.Body) != "{}" || l.TraceParent != "" || l.PartitionKey != "") {
			t.Errorf("old1 leased as %+v", l.Delivery)
		}
		if l.ID == "k1" && (l.TraceParent != k1.TraceParent || l.PartitionKey != "K") {
			t.Errorf("k1 leased as %+v", l.Delivery)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"k1", "old1", "old2"}) {
		t.Fatalf("leased %v, want [k1 old1 old2]", got)
	}
	st := outbox.DestinationState{Destination: "d", Disabled: now.Truncate(time.Millisecond), Reason: "gone (410)"}
	if err := ob.SetDestinationState(ctx, st); err != nil {
		t.Fatal(err)
	}
	if ss, err := ob.DestinationStates(ctx); err != nil || len(ss) != 1 || !ss[0].Disabled.Equal(st.Disabled) || ss[0].Reason != st.Reason {
		t.Fatalf("DestinationStates = %+v, %v", ss, err)
	}
	_ = ob.Close()
	if _, err := ob.DestinationStates(ctx); !errors.Is(err, outbox.ErrClosed) {
		t.Errorf("DestinationStates after Close = %v, want ErrClosed", err)
	}
	if err := ob.SetDestinationState(ctx, st); !errors.Is(err, outbox.ErrClosed) {
		t.Errorf("SetDestinationState after Close = %v, want ErrClosed", err)
	}
}

// migrateTo brings tables to version v, as a herald that knew no later
// version would.
func migrateTo(ctx context.Context, pool *pgxpool.Pool, t tables, v int) error {
	all := migrations
	defer func() { migrations = all }()
	migrations = migrations[:v]
	return migrate(ctx, pool, t, false)
}

// TestMigrateHeldLinesFrom2: tables of version 2 holding ordered lines,
// one whose head is leased and one whose head waits for a retry, each
// with deliveries behind it, a dead letter of a line and a delivery
// without a key, migrate on Open: the deliveries behind the heads are
// marked held, the others not, and the lines go on in order (the
// deliveries without a key first, the heads once their lease or retry
// is over, then each next one as the one before it is delivered or dies,
// the replayed dead letter last). The old lease's token no longer settles
// its head: the plain statements refuse a delivery with a key.
func TestMigrateHeldLinesFrom2(t *testing.T) {
	ctx := context.Background()
	pool := internalPool(t)
	tb := names("public", defaultPrefix)
	if err := migrateTo(ctx, pool, tb, 2); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// In seq order: the dead letter x of line K, its head h (leased),
	// then b1 and b2 behind it; j1 of line J, due in an hour, and j2.
	if _, err := pool.Exec(ctx, `INSERT INTO `+tb.deliveries+` (id, destination, body, due_ns, created_ns, partition_key, dead_ns, lease_token, lease_until_ns)
		VALUES ('x', 'd', '', $1, $1, 'K', $1, NULL, NULL), ('h', 'd', '', $1, $1, 'K', NULL, 'v2token', $2),
			('b1', 'd', '', $1, $1, 'K', NULL, NULL, NULL), ('j1', 'd', '', $2, $1, 'J', NULL, NULL, NULL),
			('b2', 'd', '', $1, $1, 'K', NULL, NULL, NULL), ('j2', 'd', '', $1, $1, 'J', NULL, NULL, NULL),
			('u1', 'd', '', $1, $1, '', NULL, NULL, NULL)`, wire.Nanos(now), wire.Nanos(now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	ob, err := Open(ctx, pool, nil)
	if err != nil {
		t.Fatalf("Open of version 2 tables: %v", err)
	}
	defer ob.Close()
	var v int
	if err := pool.QueryRow(ctx, "SELECT version FROM "+tb.version).Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("version %d, %v; want %d", v, err, len(migrations))
	}
	var heldIDs []string
	if err := pool.QueryRow(ctx, "SELECT array_agg(id ORDER BY id) FROM "+tb.deliveries+" WHERE held").Scan(&heldIDs); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(heldIDs, []string{"b1", "b2", "j2"}) {
		t.Fatalf("held after the migration: %v, want [b1 b2 j2]", heldIDs)
	}
	if errs := ob.Settle(ctx, []outbox.Settlement{{ID: "h", Token: "v2token", Outcome: outbox.Delivered}}); !errors.Is(errs[0], outbox.ErrLeaseLost) {
		t.Fatalf("Settle with the lease token of version 2 = %v, want ErrLeaseLost", errs[0])
	}
	at := func(d time.Duration) outbox.LeaseOptions {
		return outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: now.Add(d)}
	}
	steps := []struct {
		o       outbox.LeaseOptions
		want    []string
		outcome outbox.Outcome
	}{
		{at(time.Second), []string{"u1"}, outbox.Delivered},
		{at(2 * time.Hour), []string{"h", "j1"}, outbox.DeadLettered},
		{at(2 * time.Hour), []string{"b1", "j2"}, outbox.Delivered},
		{at(2 * time.Hour), []string{"b2"}, outbox.Delivered},
	}
	for i, s := range steps {
		if i == len(steps)-1 { // x, dead since before the migration, goes to the back of K, behind b2
			if n, err := ob.Replay(ctx, outbox.Selector{IDs: []string{"x"}}); err != nil || n != 1 {
				t.Fatalf("Replay x = %d, %v", n, err)
			}
			s.o.Now = time.Now().Add(time.Second)
		}
		settleAll(t, ob, s.o, s.outcome, s.want...)
	}
	settleAll(t, ob, at(3*time.Hour), outbox.Delivered, "x")
	settleAll(t, ob, at(3*time.Hour), outbox.Delivered)
	if n := Repaired(ob); n != 0 {
		t.Errorf("the repair walk released %d heads: the migration or the statements left them held", n)
	}
}

// settleAll leases with o, fails t unless it leased exactly want (in any
// order), and settles each with outcome.
func settleAll(t *testing.T, ob outbox.Outbox, o outbox.LeaseOptions, outcome outbox.Outcome, want ...string) {
	t.Helper()
	ls, err := ob.Lease(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.ID)
		s := outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outcome, Reason: "gone"}
		if errs := ob.Settle(context.Background(), []outbox.Settlement{s}); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("leased %v at %v, want %v", got, o.Now, want)
	}
}
