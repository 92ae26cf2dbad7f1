package pgstore_test

import (
	"crypto/rand"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
	"github.com/heraldhq/herald/sender"
)

// neighbours is a database with two roles besides the superuser: app,
// which runs herald, and mallory, a hostile
// neighbour who may create objects in the schema public (as a DBA allows
// when PUBLIC keeps CREATE there, PostgreSQL's default before 15).
type neighbours struct {
	admin              *pgxpool.Pool
	dbURL, db          string // the database's URL, and its name
	app, mallory       string // the roles' names
	appURL, malloryURL string
}

// newNeighbours creates the database and the roles, dropped when t ends.
func newNeighbours(t *testing.T) *neighbours {
	t.Helper()
	n := &neighbours{dbURL: pgtest.URL(t)}
	n.admin = connect(t, n.dbURL)
	u, err := url.Parse(n.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	n.app, n.mallory = db+"_app", db+"_mallory"
	t.Cleanup(func() { // roles are the server's, not the database's
		_, _ = n.admin.Exec(ctx, "DROP OWNED BY "+n.app+", "+n.mallory)
		_, _ = n.admin.Exec(ctx, "DROP ROLE "+n.app+", "+n.mallory)
	})
	role := func(name string) string {
		pw := rand.Text()
		exec(t, n.admin, "CREATE ROLE "+name+" LOGIN PASSWORD '"+pw+"'")
		v := *u
		v.User = url.UserPassword(name, pw)
		return v.String()
	}
	n.appURL, n.malloryURL = role(n.app), role(n.mallory)
	n.db = db
	exec(t, n.admin, "GRANT CREATE ON SCHEMA public TO "+n.mallory)
	return n
}

// exec runs sql on pool, failing t on an error.
func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// plantShadows has mallory create, in public, functions that match the
// calls of herald's statements more closely than pg_catalog's (an exact
// argument type where pg_catalog's takes another or is polymorphic), each
// of which writes what it saw into mallory's table public.loot before
// doing what the original does: a function
// runs with the rights of the role that calls it, so one reads the
// outbox's deliveries. PostgreSQL picks the closest match on the
// whole search_path, pg_catalog's only on a tie.
const plantShadows = `
	CREATE TABLE public.loot (who text, what text);
	GRANT INSERT ON public.loot TO PUBLIC;
	CREATE FUNCTION public.pg_advisory_xact_lock(integer) RETURNS void LANGUAGE sql AS $$
		INSERT INTO public.loot VALUES (current_user, 'pg_advisory_xact_lock');
		SELECT pg_catalog.pg_advisory_xact_lock($1::bigint) $$;
	SET check_function_bodies = off;
	CREATE FUNCTION public.hashtextextended(text, integer) RETURNS bigint LANGUAGE sql AS $$
		INSERT INTO public.loot SELECT current_user, 'body ' || pg_catalog.encode(body, 'escape') FROM herald.herald_outbox_deliveries;
		SELECT pg_catalog.hashtextextended($1, $2) $$;
	CREATE FUNCTION public.unnest(bytea[]) RETURNS SETOF bytea LANGUAGE sql AS $$
		INSERT INTO public.loot SELECT current_user, 'unnest ' || pg_catalog.encode(b, 'escape') FROM pg_catalog.unnest($1) b;
		SELECT pg_catalog.unnest($1) $$;
	CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE sql AS $$
		INSERT INTO public.loot SELECT current_user, 'unnest ' || b FROM pg_catalog.unnest($1) b;
		SELECT pg_catalog.unnest($1) $$;
	CREATE FUNCTION public.json_build_array(text, text, boolean) RETURNS json LANGUAGE sql AS $$
		INSERT INTO public.loot VALUES (current_user, 'json_build_array ' || $1);
		SELECT pg_catalog.json_build_array($1, $2, $3) $$;
	CREATE FUNCTION public.loot_append(text[], text) RETURNS text[] LANGUAGE sql AS $$
		INSERT INTO public.loot VALUES (current_user, 'array_agg ' || $2);
		SELECT pg_catalog.array_append($1, $2) $$;
	CREATE AGGREGATE public.array_agg(text) (SFUNC = public.loot_append, STYPE = text[]);`

// TestSearchPathShadowing: a neighbour with CREATE on public, which is on
// the search_path of herald's role (its default, "$user", public), plants
// functions there that match herald's calls more closely than
// pg_catalog's. herald's statements, its own and those it runs in a
// caller's transaction, called them: they ran as herald's role and copied
// webhook bodies, destinations and partition keys into the neighbour's
// table (and could have done anything that role may). They now call
// pg_catalog's functions by name.
func TestSearchPathShadowing(t *testing.T) {
	n := newNeighbours(t)
	exec(t, n.admin, "GRANT CREATE ON DATABASE "+n.db+" TO "+n.app)
	mallory := connect(t, n.malloryURL)
	exec(t, mallory, plantShadows)
	pool := connect(t, n.appURL)
	ob := open(t, pool, &pgstore.Options{Schema: "herald"})
	exerciseAll(t, pool, n.appURL, ob)
	rows, err := n.admin.Query(ctx, "SELECT who || ': ' || what FROM public.loot")
	if err != nil {
		t.Fatal(err)
	}
	loot, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(loot) > 0 {
		t.Errorf("herald called %d times functions a neighbour planted in public, e.g. %q", len(loot), loot)
	}
}

// exerciseAll runs every kind of statement of the store ob on pool: a
// Put with and without keys, an Enqueue through pgx and database/sql
// (url), Lease, every Settle, Replay, Purge, the admin reads, the
// destination states, and a wake-up.
func exerciseAll(t *testing.T, pool *pgxpool.Pool, url string, ob outbox.Store) {
	t.Helper()
	now := time.Now()
	wake := ob.(interface{ Wake() <-chan struct{} }).Wake()
	body := []byte(`{"card":"4111 1111 1111 1111"}`)
	if err := ob.Put(ctx, outbox.Delivery{ID: "plain", Destination: "d", Body: body, Due: now, Created: now},
		outbox.Delivery{ID: "keyed", Destination: "d", PartitionKey: "k", Body: body, Due: now, Created: now},
		outbox.Delivery{ID: "keyed2", Destination: "d", PartitionKey: "k", Body: body, Due: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	q := &outbox.Queue{Outbox: ob, Destinations: []sender.Destination{{Name: "d", URL: "https://d.example/", Ordered: true}}}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.Enqueue(ctx, tx, q, "d", sender.Message{ID: "tx", Body: body, PartitionKey: "k2"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	db := openSQL(t, url)
	stx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.EnqueueSQL(ctx, stx, q, "d", sender.Message{ID: "sqltx", Body: body, PartitionKey: "k3"}); err != nil {
		t.Fatal(err)
	}
	if err := stx.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Error("no wake-up")
	}
	settleAll(t, ob, now)
	adminAll(t, ob)
}

// settleAll leases what is due in ob and settles it with every outcome.
func settleAll(t *testing.T, ob outbox.Store, now time.Time) {
	t.Helper()
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: now.Add(time.Second)})
	if err != nil || len(ls) != 4 {
		t.Fatalf("Lease = %v, %v; want 4", ls, err)
	}
	outcomes := []outbox.Outcome{outbox.Delivered, outbox.DeadLettered, outbox.Retrying, outbox.Released}
	var ss []outbox.Settlement
	for i, l := range ls {
		ss = append(ss, outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outcomes[i], Due: now,
			Reason: "r", Attempt: outbox.AttemptRecord{At: now, Status: 500, Error: "e"}})
	}
	for i, err := range ob.Settle(ctx, ss) {
		if err != nil {
			t.Errorf("Settle %s: %v", ss[i].ID, err)
		}
	}
}

// adminAll runs ob's admin and destination state methods.
func adminAll(t *testing.T, ob outbox.Store) {
	t.Helper()
	if _, err := ob.DeadLetters(ctx, outbox.DeadLetterQuery{}); err != nil {
		t.Error(err)
	}
	if _, err := ob.Replay(ctx, outbox.Selector{All: true}); err != nil {
		t.Error(err)
	}
	if _, err := ob.Purge(ctx, outbox.Selector{All: true}); err != nil {
		t.Error(err)
	}
	if _, err := ob.Stats(ctx); err != nil {
		t.Error(err)
	}
	for _, id := range []string{"plain", "keyed", "keyed2", "tx", "sqltx"} {
		if _, err := ob.History(ctx, id); err != nil && !errors.Is(err, outbox.ErrNotFound) {
			t.Error(err)
		}
	}
	ds := ob.(outbox.DestinationStore)
	if err := ds.SetDestinationState(ctx, outbox.DestinationState{Destination: "d", Disabled: time.Now()}); err != nil {
		t.Error(err)
	}
	if _, err := ds.DestinationStates(ctx); err != nil {
		t.Error(err)
	}
}

// TestTablesOfAnotherRole: a neighbour who may create in public makes
// the outbox's tables there first, as herald would, and lets herald's
// role use them. Open took them for its own, and the neighbour, their
// owner, read every webhook body put in them (and could have given them
// triggers that run as whoever writes). Open now refuses tables its role
// does not own, directly or through a role it is a member of.
func TestTablesOfAnotherRole(t *testing.T) {
	n := newNeighbours(t)
	mallory := connect(t, n.malloryURL)
	if _, err := pgstore.Open(ctx, mallory, nil); err != nil {
		t.Fatal(err)
	}
	exec(t, mallory, "GRANT ALL ON ALL TABLES IN SCHEMA public TO "+n.app)
	exec(t, mallory, "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "+n.app)
	ob, err := pgstore.Open(ctx, connect(t, n.appURL), nil)
	if err == nil {
		defer ob.Close()
		now := time.Now()
		if err := ob.Put(ctx, outbox.Delivery{ID: "x", Destination: "d", Body: []byte("secret"), Due: now, Created: now}); err != nil {
			t.Fatal(err)
		}
		var body string
		if err := mallory.QueryRow(ctx, "SELECT convert_from(body, 'UTF8') FROM public.herald_outbox_deliveries").Scan(&body); err != nil {
			t.Fatal(err)
		}
		t.Fatalf("Open took the tables another role made, which read the body %q", body)
	}
	if !errors.Is(err, outbox.ErrInvalid) || !strings.Contains(err.Error(), "herald_outbox_") {
		t.Errorf("Open of another role's tables = %v, want ErrInvalid naming the table", err)
	}
	// A role the owner is a member of still opens them.
	exec(t, n.admin, "GRANT "+n.mallory+" TO "+n.app)
	open(t, connect(t, n.appURL), nil)
}

// TestTablesOfTheSchemaOwner: the least-privilege setup opens. A
// migration role owns a schema and makes the outbox's tables in it;
// herald's role is granted only their use, and is no member of the
// owner's role. The schema's owner could replace its tables anyway, so
// trusting the tables it made trusts no one new.
func TestTablesOfTheSchemaOwner(t *testing.T) {
	n := newNeighbours(t)
	owner := connect(t, n.malloryURL) // here, the migration role
	exec(t, n.admin, "CREATE SCHEMA ops AUTHORIZATION "+n.mallory)
	mig, err := pgstore.Open(ctx, owner, &pgstore.Options{Schema: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	mig.Close()
	exec(t, owner, "GRANT USAGE ON SCHEMA ops TO "+n.app)
	exec(t, owner, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ops TO "+n.app)
	exec(t, owner, "GRANT USAGE ON ALL SEQUENCES IN SCHEMA ops TO "+n.app)
	ob, err := pgstore.Open(ctx, connect(t, n.appURL), &pgstore.Options{Schema: "ops"})
	if err != nil {
		t.Fatalf("Open by a role granted the use of the schema owner's tables: %v", err)
	}
	defer ob.Close()
	now := time.Now()
	if err := ob.Put(ctx, outbox.Delivery{ID: "x", Destination: "d", Body: []byte("{}"), Due: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) != 1 {
		t.Fatalf("Lease = %d, %v; want the delivery", len(ls), err)
	}
	if errs := ob.Settle(ctx, []outbox.Settlement{{ID: "x", Token: ls[0].Token, Outcome: outbox.Delivered}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
}

// TestOpenInExistingSchema: a role that may create tables in an existing
// schema, but not schemas, opens a new outbox there. Open ran CREATE
// SCHEMA IF NOT EXISTS, which PostgreSQL refuses without CREATE on the
// database even when the schema exists; it now creates only a missing
// schema.
func TestOpenInExistingSchema(t *testing.T) {
	n := newNeighbours(t)
	exec(t, n.admin, "CREATE SCHEMA outbox")
	exec(t, n.admin, "GRANT USAGE, CREATE ON SCHEMA outbox TO "+n.app)
	open(t, connect(t, n.appURL), &pgstore.Options{Schema: "outbox"})
}

// plantOperators has mallory create, in public, operators of the same
// types as pg_catalog's that herald's statements use, each writing what
// it saw into her table public.loot. They are picked only where the
// search_path names public before pg_catalog.
const plantOperators = `
	CREATE TABLE public.loot (who text, what text);
	GRANT INSERT ON public.loot TO PUBLIC;
	CREATE FUNCTION public.eq(text, text) RETURNS boolean LANGUAGE sql AS $$
		INSERT INTO public.loot VALUES (current_user, '= ' || $1 || ' ' || $2);
		SELECT pg_catalog.texteq($1, $2) $$;
	CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.eq);
	CREATE FUNCTION public.ne(bytea, bytea) RETURNS boolean LANGUAGE sql AS $$
		INSERT INTO public.loot VALUES (current_user, '<> ' || pg_catalog.encode($1, 'escape'));
		SELECT pg_catalog.byteane($1, $2) $$;
	CREATE OPERATOR public.<> (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = public.ne);`

// loot returns what mallory's planted objects saw.
func loot(t *testing.T, n *neighbours) []string {
	t.Helper()
	rows, err := n.admin.Query(ctx, "SELECT who || ': ' || what FROM public.loot")
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSearchPathCatalogLast: on a search_path that names pg_catalog
// after public, whose CREATE a neighbour has, the neighbour's operators
// of the same types as pg_catalog's are the ones PostgreSQL uses. Open
// took such a pool, and every statement of the store ran the neighbour's
// code as herald's role; it now refuses it. Enqueue runs in the caller's
// transaction, whatever its search_path: its statements name pg_catalog's
// operators and types.
func TestSearchPathCatalogLast(t *testing.T) {
	n := newNeighbours(t)
	exec(t, n.admin, "GRANT CREATE ON DATABASE "+n.db+" TO "+n.app)
	mallory := connect(t, n.malloryURL)
	cfg, err := pgxpool.ParseConfig(n.appURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = "public, pg_catalog"
	last, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer last.Close()
	ob, err := pgstore.Open(ctx, last, &pgstore.Options{Schema: "herald"})
	exec(t, mallory, plantOperators) // after: pg_catalog's are needed to index
	if err == nil {
		defer ob.Close()
		exerciseAll(t, last, cfg.ConnString(), ob)
		t.Errorf("Open took a pool whose search_path names pg_catalog last; the store called a neighbour's operators %d times, e.g. %q",
			len(loot(t, n)), loot(t, n)[:min(len(loot(t, n)), 3)])
	} else if !errors.Is(err, outbox.ErrInvalid) || !strings.Contains(err.Error(), "pg_catalog") {
		t.Errorf("Open of a pool whose search_path names pg_catalog last = %v, want ErrInvalid naming pg_catalog", err)
	}
	exec(t, mallory, "TRUNCATE public.loot")
	pool := connect(t, n.appURL)
	ob = open(t, pool, &pgstore.Options{Schema: "herald"})
	q := &outbox.Queue{Outbox: ob, Destinations: []sender.Destination{{Name: "d", URL: "https://d.example/", Ordered: true}}}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	if _, err := tx.Exec(ctx, "SET LOCAL search_path = public, pg_catalog"); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "k"} {
		if _, err := pgstore.Enqueue(ctx, tx, q, "d", sender.Message{Body: []byte("{}"), PartitionKey: key}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := loot(t, n); len(got) > 0 {
		t.Errorf("Enqueue in a transaction whose search_path names pg_catalog last called a neighbour's operators %d times, e.g. %q",
			len(got), got[:min(len(got), 3)])
	}
}
