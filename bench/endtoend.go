package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
)

// e2eTarget is the least acceptable end-to-end rate with durable enqueue.
const e2eTarget = 5000

// e2eTimeout bounds the wait for one event's webhook to arrive.
const e2eTimeout = 10 * time.Second

// errLost is reported when an accepted event's webhook never arrives.
var errLost = errors.New("e2e: webhook not delivered in time")

// e2eTopic is the topic of the events the pipeline posts.
const e2eTopic = "job:ready"

// pipeline is one end-to-end setup: a verifying HTTPS event source
// (listener.HTTPHandler) whose handler hands each event on, and the
// verifying receiver (auth.Middleware) the webhook ends at.
type pipeline struct {
	// source is the listener's HTTPS server.
	source *tlsServer
	// client posts events to source.
	client *http.Client
	// signer signs the events posted to source.
	signer auth.Signer
	// waiters maps delivery ids to the channel their client waits on.
	waiters *sync.Map
}

// event posts one signed event to the pipeline and waits until the
// receiver has verified its webhook.
func (p *pipeline) event(ctx context.Context, payload []byte) error {
	evID := newID()
	done := make(chan struct{}, 1)
	did := listener.DeliveryID(&listener.Event{ID: evID, Topic: e2eTopic}, benchDest)
	p.waiters.Store(did, done)
	defer p.waiters.Delete(did)

	b := make([]byte, 0, len(payload)+96)
	b = append(b, `{"id":`...)
	b = strconv.AppendQuote(b, evID)
	b = append(b, `,"topic":"`+e2eTopic+`","payload":`...)
	b = append(b, payload...)
	b = append(b, '}')
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.source.URL+"/events", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := p.signer.Sign(req.Header, auth.Message{ID: evID, Body: b}); err != nil {
		return err
	}
	if err := finish(p.client.Do(req)); err != nil {
		return fmt.Errorf("event source: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(e2eTimeout):
		return errLost
	}
}

// runE2E measures section 5: events in through listener.HTTPHandler on
// HTTPS (verified), listener.ForwardPayload into a Queue over a bbolt outbox
// (durable) or through a Sender (not durable), and signed HTTPS delivery to
// a receiver behind auth.Middleware. Each client posts an event
// and waits for its webhook to be verified before posting the next.
func runE2E(cfg config) ([]Row, []error) {
	fail := func(err error) ([]Row, []error) {
		return []Row{failedRow("e2e", "end to end", err)}, []error{fmt.Errorf("e2e: %w", err)}
	}
	inSecret, err := auth.GenerateStandardSecret()
	if err != nil {
		return fail(err)
	}
	outSecret, err := auth.GenerateStandardSecret()
	if err != nil {
		return fail(err)
	}
	inStd, err := auth.NewStandard([]auth.Secret{inSecret})
	if err != nil {
		return fail(err)
	}
	outStd, err := auth.NewStandard([]auth.Secret{outSecret})
	if err != nil {
		return fail(err)
	}

	// The receiver: verify, refuse replays, then wake the waiting client.
	waiters := new(sync.Map)
	receiver := startTLS(auth.Middleware(outStd)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := auth.FromContext(r.Context())
		if ch, ok := waiters.Load(v.ID); ok {
			select {
			case ch.(chan struct{}) <- struct{}{}:
			default:
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})))
	defer receiver.Close()
	dest := sender.Destination{Name: benchDest, URL: receiver.URL + "/hook", Signer: outStd}

	dir, err := os.MkdirTemp("", "herald-bench-e2e-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	store, err := boltstore.Open(filepath.Join(dir, "e2e.db"), nil)
	if err != nil {
		return fail(err)
	}
	defer store.Close()
	qs := &sender.Sender{TLS: receiver.tlsConfig(), AllowNetworks: loopback, Retry: sender.RetryPolicy{MaxAttempts: 2}}
	defer qs.CloseIdleConnections()
	q := &outbox.Queue{
		Outbox: store, Sender: qs, Destinations: []sender.Destination{dest},
		Workers: 64, PerDestination: 64, Poll: 10 * time.Millisecond,
	}
	qctx, qcancel := context.WithCancel(context.Background())
	qdone := make(chan error, 1)
	go func() { qdone <- q.Run(qctx) }()
	defer func() { qcancel(); <-qdone }()

	durable := listener.New()
	if err := durable.On("job:*", listener.ForwardPayload(q, dest)); err != nil {
		return fail(err)
	}
	fs := &sender.Sender{TLS: receiver.tlsConfig(), AllowNetworks: loopback}
	defer fs.CloseIdleConnections()
	forward := listener.New()
	if err := forward.On("job:*", listener.ForwardPayload(fs, dest)); err != nil {
		return fail(err)
	}

	newPipeline := func(l *listener.Listener) *pipeline {
		src := startTLS(&listener.HTTPHandler{Dispatcher: l, Verifier: inStd})
		tr := &http.Transport{TLSClientConfig: src.tlsConfig(), MaxIdleConnsPerHost: 256}
		return &pipeline{source: src, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, signer: inStd, waiters: waiters}
	}
	pd, pf := newPipeline(durable), newPipeline(forward)
	defer pd.source.Close()
	defer pf.source.Close()

	payload := []byte(`{"data":"` + string(bytes.Repeat([]byte("x"), 1<<10-11)) + `"}`)
	var rows []Row
	for _, clients := range cfg.e2eClients {
		r, err := measureE2E(cfg, clients, []*pipeline{pd, pf}, payload)
		rows = append(rows, r...)
		if err != nil {
			return rows, []error{fmt.Errorf("e2e: %w", err)}
		}
	}
	return rows, nil
}

// measureE2E runs the durable pipeline and the Forward one with the given
// number of clients, interleaved, cfg.loadReps times each, and returns the
// rate and CPU rows.
func measureE2E(cfg config, clients int, ps []*pipeline, payload []byte) ([]Row, error) {
	name := fmt.Sprintf("end to end, 1 KiB events, %d clients", clients)
	names := []string{"durable (bbolt outbox)", "listener.Forward (not durable)"}
	for i, p := range ps {
		if _, err := runLoad(clients, cfg.warm, func(ctx context.Context) error { return p.event(ctx, payload) }); err != nil {
			err = fmt.Errorf("%s (warm-up): %w", names[i], err)
			return []Row{failedRow("e2e", name, err)}, err
		}
	}
	rates, p50s, p99s, cpus := make([][]float64, 2), make([][]float64, 2), make([][]float64, 2), make([][]float64, 2)
	for r := range cfg.loadReps {
		for k := range ps {
			i := (k + r) % len(ps)
			p := ps[i]
			c0, err0 := cpuTime()
			res, err := runLoad(clients, cfg.loadDur, func(ctx context.Context) error { return p.event(ctx, payload) })
			c1, err1 := cpuTime()
			if err == nil {
				err = errors.Join(err0, err1)
			}
			if err != nil {
				err = fmt.Errorf("%s: %w", names[i], err)
				return []Row{failedRow("e2e", name, err)}, err
			}
			rates[i] = append(rates[i], res.rate())
			p50s[i] = append(p50s[i], percentile(res.lat, 50))
			p99s[i] = append(p99s[i], percentile(res.lat, 99))
			cpus[i] = append(cpus[i], float64((c1-c0).Microseconds())/float64(res.ops))
		}
	}
	st := make([]loadStat, 2)
	for i := range st {
		st[i] = loadStat{rate: median(rates[i]), p50: median(p50s[i]), p99: median(p99s[i])}
	}
	cd, cf := median(cpus[0]), median(cpus[1])
	return []Row{
		{
			Section: "e2e", Case: name + ", durable",
			Herald:   fmtLoad(st[0], "events/s"),
			Baseline: names[1],
			BaseFig:  fmtLoad(st[1], "events/s"),
			Ratio:    st[0].rate / st[1].rate,
			Target:   "≥ " + groupDigits(e2eTarget) + " events/s",
			Met:      st[0].rate >= e2eTarget,
		},
		{
			Section: "e2e", Case: fmt.Sprintf("CPU per event, %d clients (whole process)", clients),
			Herald:   fmt.Sprintf("%.0f µs (durable)", cd),
			Baseline: names[1],
			BaseFig:  fmt.Sprintf("%.0f µs", cf),
			Ratio:    cd / cf,
		},
	}, nil
}

// cpuTime returns the user plus system CPU time this process has used.
func cpuTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
