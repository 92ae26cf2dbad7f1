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
