package natsstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/natsstore"
)

// startCluster starts a three-node JetStream cluster in the test process.
func startCluster(t *testing.T) []*server.Server {
	t.Helper()
	ports := make([]int, 3)
	var routes []*url.URL
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", ports[i])})
	}
	ss := make([]*server.Server, 3)
	for i := range ss {
		ss[i] = natstest.Start(t, &server.Options{ServerName: fmt.Sprint("n", i),
			Cluster: server.ClusterOpts{Name: "herald", Host: "127.0.0.1", Port: ports[i]}, Routes: routes})
	}
	return ss
}

// TestClusterLeaderChange: a clustered stream whose leader changes answers
// none of the publishes it received in the meantime, and a publish's
// acknowledgement has no end of its own. Lease waited for the claims'
// acknowledgements until its context ended, and a Queue's never does: the
// worker leased nothing more, for good. Put did the same, for ever under a
// context without deadline. Workers on each node lease and release, and
// clients put, while the stream's leader steps down again and again; every
// call must return on its own (its context here ends after 30 seconds,
// far beyond the waits Lease and Put now give an acknowledgement).
func TestClusterLeaderChange(t *testing.T) {
	ss := startCluster(t)
	cfg := freshConfig()
	cfg.Replicas = 3
	ctx := context.Background()
	stores := make([]outbox.Store, len(ss))
	var nc *nats.Conn
	for i, s := range ss {
		c, js := natstest.Connect(t, s.ClientURL())
		nc = c
		for try := 0; ; try++ { // until the cluster has formed
			octx, cancel := context.WithTimeout(ctx, 10*time.Second)
			ob, err := natsstore.Open(octx, js, cfg)
			cancel()
			if err == nil {
				stores[i] = ob
				t.Cleanup(func() { ob.Close() })
				break
			}
			if try == 30 {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
		}
	}
	now := time.Now()
	var ds []outbox.Delivery
	for i := range 20 {
		ds = append(ds, outbox.Delivery{ID: fmt.Sprint("d", i), Destination: "d", Body: []byte("{}"), Due: now, Created: now})
	}
	if err := stores[0].Put(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	stuck := make(chan error, 2*len(stores))
	var wg sync.WaitGroup
	for _, ob := range stores {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				ls, err := ob.Lease(lctx, outbox.LeaseOptions{Max: 20, TTL: time.Second, Now: time.Now()})
				cancel()
				if errors.Is(lctx.Err(), context.DeadlineExceeded) {
					stuck <- err
					return
				}
				ss := make([]outbox.Settlement, len(ls))
				for i, l := range ls {
					ss[i] = outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Released}
				}
				ob.Settle(ctx, ss)
			}
		})
	}
	for w, ob := range stores { // and a client putting through each
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				d := outbox.Delivery{ID: fmt.Sprintf("p%d-%d", w, n), Destination: "elsewhere", Body: []byte("{}"), Due: time.Now(), Created: time.Now()}
				pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := ob.Put(pctx, d)
				cancel()
				if errors.Is(pctx.Err(), context.DeadlineExceeded) {
					stuck <- fmt.Errorf("Put: %w", err)
					return
				}
			}
		})
	}
	for range 60 {
		time.Sleep(250 * time.Millisecond)
		_, _ = nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+cfg.Stream, nil, 5*time.Second)
	}
	close(stop)
	wg.Wait()
	close(stuck)
	for err := range stuck {
		t.Errorf("a call waited until its context ended: %v", err)
	}
}
