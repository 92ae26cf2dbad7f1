package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// schema2 is a process of the version before held lines (schema version
// 2), still running against tables that a newer one migrated: its
// statements, as that version sent them, on the tables of t. They know
// nothing of held, of vacancies, or of passing a line on.
type schema2 struct {
	lease, ack, dead, replay, putOneKeyed string
}

func newSchema2(t tables) schema2 {
	const (
		headOfLine = `(x.partition_key = '' OR NOT EXISTS (SELECT 1 FROM {d} e
		WHERE e.destination = x.destination AND e.partition_key = x.partition_key
			AND e.seq < x.seq AND e.dead_ns IS NULL AND e.partition_key <> ''))`
		lineHash     = `hashtextextended(destination || ' ' || encode(partition_key, 'hex'), 0)`
		deadSelected = `dead_ns IS NOT NULL AND ($1 OR ($2 <> '' AND destination = $2) OR id = ANY($3::text[]))`
	)
	r := strings.NewReplacer("{d}", t.deliveries, "{a}", t.attempts)
	return schema2{
		lease: r.Replace(`WITH pick AS (
		SELECT c.id FROM unnest($1::text[], $2::int4[]) WITH ORDINALITY AS a(dest, n, ord)
		CROSS JOIN LATERAL (
			SELECT id, due_ns FROM {d} x
			WHERE destination = a.dest AND dead_ns IS NULL AND due_ns <= $3
				AND (lease_until_ns IS NULL OR lease_until_ns <= $3) AND ` + headOfLine + `
			ORDER BY due_ns, id LIMIT a.n
			FOR UPDATE SKIP LOCKED) c
		ORDER BY a.ord, c.due_ns, c.id LIMIT $4)
	UPDATE {d} d SET lease_token = $5, lease_until_ns = $6
	FROM pick, (SELECT set_config('synchronous_commit', 'off', true)) async WHERE d.id = pick.id
	RETURNING d.id`),
		ack: r.Replace(`DELETE FROM {d} WHERE id = $1 AND lease_token = $2`),
		dead: r.Replace(`WITH u AS (
		UPDATE {d} SET attempts = attempts + 1, dead_ns = $3, reason = $9, lease_token = NULL, lease_until_ns = NULL
		WHERE id = $1 AND lease_token = $2 RETURNING id)
	INSERT INTO {a} (delivery_id, at_ns, status, latency_ns, tries, error) SELECT id, $4, $5, $6, $7, $8 FROM u`),
		replay: r.Replace(`WITH r AS (
		UPDATE {d} SET dead_ns = NULL, reason = NULL, attempts = 0, due_ns = $4, seq = DEFAULT
		WHERE ` + deadSelected + ` AND (SELECT count(*) FROM (SELECT pg_advisory_xact_lock(h) FROM (
		SELECT DISTINCT ` + lineHash + ` AS h FROM {d} WHERE ` + deadSelected + ` AND partition_key <> '') hs ORDER BY h) locked) >= 0 RETURNING 1),
	n AS (SELECT count(*) AS n FROM r)
	SELECT n.n FROM n LEFT JOIN LATERAL (SELECT pg_notify($5, '') WHERE n.n > 0) x ON true`),
		putOneKeyed: r.Replace(`INSERT INTO {d} (id, destination, event_id, topic, content_type, body, due_ns, created_ns, attempts, trace_parent, partition_key)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 WHERE (SELECT count(*) FROM (SELECT pg_advisory_xact_lock(` + lineHash + `)
		FROM (SELECT $2::text, $11::bytea) AS l(destination, partition_key) WHERE partition_key <> '') locked) >= 0
	ON CONFLICT (id) DO NOTHING
	RETURNING pg_current_xact_id()::text`),
	}
}

// leaseOld leases, as the old process, up to 100 due deliveries of dest
// under token, and returns their ids in order.
func (o schema2) leaseOld(t *testing.T, ob *store, dest, token string, now time.Time) []string {
	t.Helper()
	rows, err := ob.pool.Query(context.Background(), o.lease, []string{dest}, []int32{100}, wire.Nanos(now), 100, token,
		wire.Nanos(now.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

// exec runs one of the old process's statements, and fails t unless it
// affected a row.
func (o schema2) exec(t *testing.T, ob *store, sql string, args ...any) {
	t.Helper()
	tag, err := ob.pool.Exec(context.Background(), sql, args...)
	if err != nil || tag.RowsAffected() == 0 {
		t.Fatalf("old statement: %v, %d rows", err, tag.RowsAffected())
	}
}

// keyed is a delivery of line key of destination dest, due at due.
func keyed(id, dest, key string, due time.Time) outbox.Delivery {
	return outbox.Delivery{ID: id, Destination: dest, PartitionKey: key, Body: []byte("{}"), Due: due, Created: due}
}

// TestSchema2ProcessCannotStrandALine: a process of the previous version
// runs on after another migrated the tables to held lines (a rolling
// upgrade). It delivers a head, dead-letters another, and replays a dead
// letter that was held into an empty line, none of which passes a line
// on, and puts a delivery unheld behind a held line. The new store still
// leases every line's next delivery, in order, within a few Leases
// repairEvery apart, each once.
func TestSchema2ProcessCannotStrandALine(t *testing.T) {
	ctx := context.Background()
	pool := internalPool(t)
	s, err := Open(ctx, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ob := s.(*store)
	old := newSchema2(names("public", defaultPrefix))
	now := time.Now().Add(-time.Hour)
	if err := ob.Put(ctx, keyed("k1", "d", "K", now), keyed("k2", "d", "K", now), keyed("k3", "d", "K", now),
		keyed("j1", "d", "J", now), keyed("j2", "d", "J", now),
		keyed("r1", "e", "R", now), keyed("r2", "e", "R", now)); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	if got := old.leaseOld(t, ob, "d", "old", at); !slices.Equal(got, []string{"j1", "k1"}) {
		t.Fatalf("the old process leased %v, want the heads [j1 k1]", got)
	}
	old.exec(t, ob, old.ack, "k1", "old")
	old.exec(t, ob, old.dead, "j1", "old", wire.Nanos(at), wire.Nanos(at), 500, int64(0), 1, []byte("e"), []byte("gone"))
	// Line R: r1 delivered, then r2 (held) leased and dead-lettered by
	// the old process, and replayed by it into its line, now empty.
	if got := old.leaseOld(t, ob, "e", "old", at); !slices.Equal(got, []string{"r1"}) {
		t.Fatalf("the old process leased %v, want [r1]", got)
	}
	old.exec(t, ob, old.ack, "r1", "old")
	if got := old.leaseOld(t, ob, "e", "old2", at); !slices.Equal(got, []string{"r2"}) {
		t.Fatalf("the old process leased %v, want [r2]", got)
	}
	old.exec(t, ob, old.dead, "r2", "old2", wire.Nanos(at), wire.Nanos(at), 500, int64(0), 1, []byte("e"), []byte("gone"))
	old.exec(t, ob, old.replay, false, "", []string{"r2"}, wire.Nanos(at), ob.channel)
	// The old process puts k4 into K, unheld, behind k2 and k3.
	old.exec(t, ob, old.putOneKeyed, "k4", "d", "", []byte{}, []byte{}, []byte("{}"), wire.Nanos(now), wire.Nanos(now), int32(0),
		[]byte{}, []byte("K"))
	var got []string
	for i := range 8 {
		o := outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: at.Add(time.Duration(i+1) * repairEvery)}
		ls, err := ob.Lease(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			got = append(got, l.ID)
			if errs := ob.Settle(ctx, []outbox.Settlement{{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}}); errs[0] != nil {
				t.Fatal(errs[0])
			}
		}
	}
	line := func(prefix string) []string {
		return slices.DeleteFunc(slices.Clone(got), func(id string) bool { return !strings.HasPrefix(id, prefix) })
	}
	if k, j, r := line("k"), line("j"), line("r"); !slices.Equal(k, []string{"k2", "k3", "k4"}) || !slices.Equal(j, []string{"j2"}) ||
		!slices.Equal(r, []string{"r2"}) {
		t.Fatalf("after 8 Leases %v apart, leased %v: K %v (want [k2 k3 k4]), J %v (want [j2]), R %v (want [r2])",
			repairEvery, got, k, j, r)
	}
	var left int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+names("public", defaultPrefix).deliveries+" WHERE dead_ns IS NULL").Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d deliveries left pending (%v)", left, err)
	}
}

// TestRepairWalksEveryLine: lines stranded by the old process (their
// heads deleted as its sqlAck does), more than one walk reads, are all
// repaired by the walks of a few Leases repairEvery apart, each going on
// where the last stopped; and those stranded while no process of this
// version runs are repaired by the next Open.
func TestRepairWalksEveryLine(t *testing.T) {
	ctx := context.Background()
	pool := internalPool(t)
	tb := names("public", defaultPrefix)
	strand := func(ob *store, n int, prefix string) {
		t.Helper()
		now := time.Now().Add(-time.Hour)
		var ds []outbox.Delivery
		for i := range n {
			key := fmt.Sprintf("%s%05d", prefix, i)
			ds = append(ds, keyed(key+"a", "d", key, now), keyed(key+"b", "d", key, now))
		}
		if err := ob.Put(ctx, ds...); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, "DELETE FROM "+tb.deliveries+" WHERE NOT held"); err != nil {
			t.Fatal(err)
		}
	}
	heldHeads := func() (n int) {
		t.Helper()
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+tb.deliveries+" x WHERE held AND "+
			strings.ReplaceAll(headOfLine, "{d}", tb.deliveries)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	s, err := Open(ctx, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ob := s.(*store)
	lines := 2*repairLines + repairLines/2
	strand(ob, lines, "a")
	at := time.Now()
	nothing := outbox.LeaseOptions{Max: 1, TTL: time.Minute, Allow: func(string) int { return 0 }}
	for i := range 3 {
		if n := heldHeads(); n != lines-i*repairLines {
			t.Fatalf("after %d walks, %d lines have a held head, want %d", i, n, lines-i*repairLines)
		}
		nothing.Now = at.Add(time.Duration(i) * repairEvery)
		if _, err := ob.Lease(ctx, nothing); err != nil {
			t.Fatal(err)
		}
		nothing.Now = nothing.Now.Add(repairEvery / 2) // too soon for another walk
		if _, err := ob.Lease(ctx, nothing); err != nil {
			t.Fatal(err)
		}
	}
	if n := heldHeads(); n != 0 {
		t.Fatalf("after 3 walks, %d lines have a held head", n)
	}
	strand(ob, 10, "b")
	s2, err := Open(ctx, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n := heldHeads(); n != 0 {
		t.Fatalf("after Open, %d lines have a held head", n)
	}
}
