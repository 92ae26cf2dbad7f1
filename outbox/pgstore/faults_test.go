//go:build linux

package pgstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/internal/syncbuf"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// ownDatabase starts a cluster of t's own, whose server the test may stop
// or limit, and returns it with the URL of a new database on it.
func ownDatabase(t *testing.T) (*pgtest.Cluster, string) {
	t.Helper()
	c := pgtest.NewCluster(t)
	url, err := pgtest.CreateDB(ctx, c.URL(), "faults")
	if err != nil {
		t.Fatal(err)
	}
	return c, url
}

// deliveries returns n deliveries to rcv's destination, with ids
// prefix-0 to prefix-(n-1) and bodies of size random bytes.
func deliveries(rcv *sendertest.Receiver, prefix string, n, size int) []outbox.Delivery {
	ds := make([]outbox.Delivery, n)
	for i := range ds {
		body := make([]byte, size)
		rand.Read(body)
		ds[i] = outbox.Delivery{ID: fmt.Sprintf("%s-%d", prefix, i), Destination: rcv.Destination(nil).Name,
			Body: body, Due: time.Now(), Created: time.Now()}
	}
	return ds
}

// TestServerRestart stops the database server while a Queue is sending
// (a failover, an upgrade) and starts it again. A Put while it is down
// fails with an error; once it is back, the pool's broken connections are
// replaced, the Queue's notification listener reconnects (the Queue polls
// only once an hour, so only a notification wakes it), and every
// delivery put before, during the sends and after reaches the receiver:
// one whose acknowledgement was lost comes again once its lease ends (the
// Queue wakes for that itself), none is missing, none is left pending.
func TestServerRestart(t *testing.T) {
	c, url := ownDatabase(t)
	pool := connect(t, url)
	ob := open(t, pool, nil)
	rcv := sendertest.NewReceiver(t, nil, sendertest.Delay(10*time.Millisecond))
	var logs syncbuf.Buffer
	q := &outbox.Queue{Outbox: ob, Sender: rcv.Sender(), Workers: 4, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Destinations: []sender.Destination{rcv.Destination(nil)}, Poll: time.Hour, LeaseTTL: 2 * time.Second}
	queuetest.Run(t, q)

	const before, after = 200, 50
	if err := ob.Put(ctx, deliveries(rcv, "before", before, 64)...); err != nil {
		t.Fatal(err)
	}
	if _, err := rcv.WaitFor(20, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c.Stop() // with sends in flight, and most deliveries still pending
	if err := ob.Put(ctx, deliveries(rcv, "down", 1, 64)...); err == nil {
		t.Fatal("Put succeeded with the database server stopped")
	}
	queuetest.WaitFor(t, 10*time.Second, "a Lease to fail, logged", func() bool {
		return strings.Contains(logs.String(), "outbox lease failed")
	})
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// The pool finds its connections broken on first use: a caller retries.
	var err error
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if err = ob.Put(ctx, deliveries(rcv, "after", after, 64)...); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Put after the restart: %v", err)
	}
	queuetest.WaitFor(t, 30*time.Second, "every delivery put received after the restart", func() bool {
		got := map[string]bool{}
		for _, d := range rcv.Deliveries() {
			got[d.ID] = true
		}
		for i := range before {
			if !got[fmt.Sprintf("before-%d", i)] {
				return false
			}
		}
		for i := range after {
			if !got[fmt.Sprintf("after-%d", i)] {
				return false
			}
		}
		return true
	})
	queuetest.WaitFor(t, 10*time.Second, "nothing left pending", func() bool {
		st, err := ob.Stats(ctx)
		return err == nil && st.Pending == 0 && st.Leased == 0
	})
	// An operator who saw the failures is told that leasing works again.
	if !regexp.MustCompile(`level=INFO msg="outbox lease succeeded again" failed_before=[1-9]`).MatchString(logs.String()) {
		t.Errorf("no line says the outbox answers again:\n%s", logs.String())
	}
}

// TestDiskFull fills the database's disk (each server process may write
// files of 24 MiB at most, as a full disk would stop it): the Put that does
// not fit fails whole, with the server's reason, and stores nothing of its
// batch; every delivery stored before is still leased and acknowledged
// while the disk is full; and once space is reclaimed (VACUUM), Put works
// again.
func TestDiskFull(t *testing.T) {
	c, url := ownDatabase(t)
	if err := c.LimitFiles(ctx, 24<<20); err != nil {
		t.Fatal(err)
	}
	pool := connect(t, url)
	ob := open(t, pool, nil)
	rcv := sendertest.NewReceiver(t, nil)

	const batch = 100
	stored := 0
	var err error
	for b := 0; b < 1000 && err == nil; b++ {
		if err = ob.Put(ctx, deliveries(rcv, fmt.Sprint("b", b), batch, 8<<10)...); err == nil {
			stored += batch
		}
	}
	if err == nil || !strings.Contains(err.Error(), "could not extend file") {
		t.Fatalf("Put onto a full disk: %v; want the server's could not extend file", err)
	}
	if stored == 0 {
		t.Fatal("the disk was full before the first Put: make the limit larger")
	}
	st, serr := ob.Stats(ctx)
	if serr != nil || st.Pending != stored {
		t.Fatalf("Stats = %+v, %v; want the %d of the Puts that succeeded pending, none of the failed one", st, serr, stored)
	}

	for left := stored; left > 0; {
		ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 500, TTL: time.Minute, Now: time.Now()})
		if err != nil || len(ls) == 0 {
			t.Fatalf("leased %d with %d left on a full disk (%v)", len(ls), left, err)
		}
		ss := make([]outbox.Settlement, len(ls))
		for i, l := range ls {
			ss[i] = outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}
		}
		for i, err := range ob.Settle(ctx, ss) {
			if err != nil {
				t.Fatalf("acknowledging %s on a full disk: %v", ss[i].ID, err)
			}
		}
		left -= len(ls)
	}
	if st, err := ob.Stats(ctx); err != nil || st != (outbox.Stats{}) {
		t.Fatalf("after the acknowledgements: Stats = %+v, %v; want none", st, err)
	}

	vctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := pool.Exec(vctx, "VACUUM"); err != nil {
		t.Fatalf("VACUUM: %v", err)
	}
	if err := ob.Put(ctx, deliveries(rcv, "after", batch, 8<<10)...); err != nil {
		t.Fatalf("Put once the space was reclaimed: %v", err)
	}
}

// TestShutdownServerFrozen freezes every process of the database server
// (SIGSTOP: a server that hangs, or a network partition, where calls
// neither answer nor fail) while a Queue sends, and shuts the Queue down.
// Shutdown returns soon after its deadline, though its outbox calls never
// come back; and once the server thaws, another Queue on the outbox
// delivers every delivery, those the first had leased included, once
// their leases end: nothing is lost or left leased.
func TestShutdownServerFrozen(t *testing.T) {
	c, url := ownDatabase(t)
	pool := connect(t, url)
	ob := open(t, pool, nil)
	rcv := sendertest.NewReceiver(t, nil, sendertest.Delay(300*time.Millisecond))
	newQueue := func() *outbox.Queue {
		return &outbox.Queue{Outbox: ob, Sender: rcv.Sender(), Workers: 4,
			Destinations: []sender.Destination{rcv.Destination(nil)}, LeaseTTL: 5 * time.Second}
	}
	stop := queuetest.Start(newQueue())
	const n = 40
	if err := ob.Put(ctx, deliveries(rcv, "x", n, 64)...); err != nil {
		t.Fatal(err)
	}
	if _, err := rcv.WaitFor(2, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Freeze(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		shut, _ := stop(2 * time.Second)
		done <- shut
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want its deadline's error", err)
		}
	case <-time.After(30 * time.Second):
		c.Thaw()
		<-done
		t.Fatal("Shutdown(2 s) still waited 30 s later for a frozen database server")
	}
	c.Thaw()
	queuetest.Run(t, newQueue())
	queuetest.WaitFor(t, time.Minute, "every delivery received after the thaw", func() bool {
		got := map[string]bool{}
		for _, d := range rcv.Deliveries() {
			got[d.ID] = true
		}
		return len(got) == n
	})
	queuetest.WaitFor(t, 20*time.Second, "nothing left pending", func() bool {
		st, err := ob.Stats(ctx)
		return err == nil && st.Pending == 0 && st.Leased == 0
	})
}

// TestLeaseAfterTerminatedConnections terminates the backends of an idle
// Queue's pool (pg_terminate_backend, as an administrator or a failover
// proxy does), but not its listener's, and has another process put a
// delivery. The notification wakes the Queue, whose Lease fails on a
// broken connection; the Queue tries again soon, on a new one, rather than
// at its next poll, an hour later, and the delivery arrives.
func TestLeaseAfterTerminatedConnections(t *testing.T) {
	_, url := ownDatabase(t)
	pool := connect(t, url)
	admin := connect(t, url)
	ob := open(t, pool, nil)
	rcv := sendertest.NewReceiver(t, nil)
	q := &outbox.Queue{Outbox: ob, Sender: rcv.Sender(), Workers: 4,
		Destinations: []sender.Destination{rcv.Destination(nil)}, Poll: time.Hour}
	queuetest.Run(t, q)
	// A first delivery puts the pool's connections to use: pgxpool checks
	// only those idle for over a second before handing them out.
	if err := ob.Put(ctx, deliveries(rcv, "first", 1, 64)...); err != nil {
		t.Fatal(err)
	}
	queuetest.WaitFor(t, 30*time.Second, "the first delivery received and acknowledged", func() bool {
		st, err := ob.Stats(ctx)
		return err == nil && st.Pending == 0 && len(rcv.Deliveries()) == 1
	})
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query NOT LIKE 'LISTEN%'`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("no backend of the Queue's pool to terminate")
	}
	if err := open(t, connect(t, url), nil).Put(ctx, deliveries(rcv, "second", 1, 64)...); err != nil {
		t.Fatal(err)
	}
	queuetest.WaitFor(t, 30*time.Second, "the second delivery received", func() bool { return len(rcv.Deliveries()) == 2 })
}
