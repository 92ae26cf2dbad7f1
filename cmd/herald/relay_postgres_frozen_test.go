package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestRelayPostgresFrozenStops: a relay whose database server hangs (its
// processes stopped with SIGSTOP: calls neither answer nor fail) stops on
// SIGTERM, in its drain timeout and some seconds more (pgx gives a
// connection it cannot close cleanly 15 s), rather than waiting for the
// server for ever; its last line says it could not count the outbox,
// rather than reporting it empty. Once the server thaws, another relay
// delivers every event the first acknowledged.
func TestRelayPostgresFrozenStops(t *testing.T) {
	dir := t.TempDir()
	c := pgtest.NewCluster(t)
	ctx := context.Background()
	db, err := pgtest.CreateDB(ctx, c.URL(), "frozen")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), pgPassword)
	rcv := sendertest.NewReceiver(t, nil, sendertest.Delay(200*time.Millisecond))
	writeFile(t, dir, "ca.pem", receiverCertPEM(t, rcv))
	p := startRelay(t, dir, nil, "--store", u.String(), "--dest", rcv.URL(), "--secret", "whsec_"+strings.Repeat("QUJD", 8),
		"--cacert", "ca.pem", "--allow-private", "--drain-timeout", "1s", "--workers", "4", "--lease-ttl", "4s")
	for i := range 20 {
		p.mustPost(t, event(fmt.Sprint("f-", i), "job:ready"), nil)
	}
	waitOK(t, rcv, 2, p)
	if err := c.Freeze(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Thaw()
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d, want 0\n%s", code, p.stderr())
	}
	if !strings.Contains(p.stderr(), `msg="relay stopped" stats_err=`) {
		t.Errorf("the relay's last line does not say it could not count the outbox:\n%s", p.stderr())
	}
	noLeak(t, p.stderr(), pgPassword)
	c.Thaw()
	startRelay(t, dir, nil, "--store", u.String(), "--dest", rcv.URL(), "--secret", "whsec_"+strings.Repeat("QUJD", 8),
		"--cacert", "ca.pem", "--allow-private")
	eventually(t, func() string {
		return fmt.Sprintf("%d of 20 events delivered after the thaw", len(idCount(okDeliveries(rcv))))
	},
		func() bool { return len(idCount(okDeliveries(rcv))) == 20 })
}
