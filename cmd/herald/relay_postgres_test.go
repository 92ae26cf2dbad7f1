package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/sender/sendertest"
)

// pgPassword is put in the test URLs (the throwaway cluster trusts its
// socket, so it is never checked): no output may show it.
const pgPassword = "pw-Zq81kLm0vX"

// pgStoreURL returns a postgres:// --store for a new database, with a
// password.
func pgStoreURL(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), pgPassword)
	return u.String()
}

// TestRelayPostgres: a relay on a postgres:// store delivers, and herald
// outbox stats, list, replay and purge work on the same URL while it runs;
// a destination answering 400 leaves a dead letter (a 410 would disable
// it: see TestRelayPostgresGoneDisablesAndOutboxEnable) that a replay
// sends once the destination accepts it. No output shows the URL's password.
func TestRelayPostgres(t *testing.T) {
	dir := t.TempDir()
	store := pgStoreURL(t) + "&herald_schema=relay&herald_prefix=hk_"
	var reject atomic.Bool
	secret, rcv := relayReceiver(t, dir, sendertest.Respond(func(int) (int, http.Header, []byte) {
		if reject.Load() {
			return http.StatusBadRequest, nil, nil
		}
		return 0, nil, nil
	}))
	p := startRelay(t, dir, nil, "--store", store, "--dest", rcv.URL(), "--secret", secret, "--cacert", "ca.pem", "--allow-private")
	o := runOpts{dir: dir}
	var outputs []string
	run := func(want string, args ...string) {
		t.Helper()
		r := must(t, o, append([]string{"outbox"}, append(args, "--store", store)...)...)
		outputs = append(outputs, r.all())
		if !strings.Contains(r.stdout, want) {
			t.Errorf("outbox %v printed %q, want %q", args, r.stdout, want)
		}
	}
	p.mustPost(t, event("p-1", "job:ready"), nil)
	waitOK(t, rcv, 1, p)
	reject.Store(true)
	p.mustPost(t, event("p-2", "job:ready"), nil)
	id := listener.DeliveryID(&listener.Event{ID: "p-2", Topic: "job:ready"}, "default")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if pending, dead := outboxStats(t, dir, store); pending == 0 && dead == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter:\n%s", p.stderr())
		}
	}
	run(`"id":"`+id+`"`, "list")
	run(`"dead":1`, "stats")
	reject.Store(false)
	run("replayed 1", "replay", "--dest", "default") // the running relay is woken, and sends it
	ds := waitOK(t, rcv, 2, p)
	if ds[1].ID != id {
		t.Errorf("replayed delivery has id %q, want %q", ds[1].ID, id)
	}
	run("purged 0", "purge", "--all")
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d\n%s", code, p.stderr())
	}
	run(`{"pending":0,"leased":0,"dead":0}`, "stats")
	noLeak(t, p.stderr()+strings.Join(outputs, ""), pgPassword)
	// Without credentials, with the outbox's schema and prefix.
	if !strings.Contains(p.stderr(), `store="postgres:///`) || !strings.Contains(p.stderr(), `?herald_prefix=hk_&herald_schema=relay" `) {
		t.Errorf("the relay did not log its store without credentials, with its schema and prefix:\n%s", p.stderr())
	}
}

// TestOutboxPostgresMissing: herald outbox on a database without an
// outbox refuses it and creates nothing.
func TestOutboxPostgresMissing(t *testing.T) {
	store := pgStoreURL(t)
	for _, action := range [][]string{{"stats"}, {"list"}, {"replay", "--all"}, {"purge", "--all"}} {
		r := expect(t, runOpts{dir: t.TempDir()}, 2, []string{"no herald outbox there"}, append(append([]string{"outbox"}, action...), "--store", store)...)
		noLeak(t, r.all(), pgPassword)
	}
	pool := connectPG(t, store)
	var tables int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("herald outbox left %d tables (%v)", tables, err)
	}
	expect(t, runOpts{dir: t.TempDir()}, 1, []string{"--store postgres:///nope"}, "outbox", "stats", "--store",
		"postgres://u:"+pgPassword+"@/nope?host=/nonexistent&connect_timeout=2")
	r := expect(t, runOpts{dir: t.TempDir()}, 2, []string{"not valid (not shown)"}, "outbox", "stats", "--store",
		"postgres://u:"+pgPassword+"@/db?connect_timeout=soon")
	noLeak(t, r.all(), pgPassword)
}

// connectPG opens a pool on a test URL, closed when t ends.
func connectPG(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
