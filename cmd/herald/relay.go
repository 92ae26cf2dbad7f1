package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
)

const relayDoc = `Relay is a small durable worker: it accepts platform events over HTTP at
POST /events and delivers each one as a signed webhook to every destination
that wants its topic, through a durable outbox (a bbolt file, --store).

Events come in the native JSON envelope (id, topic, createdAt, context,
payload) or as CloudEvents 1.0 in structured mode (binary mode too with
--in-insecure: a signature over the body does not cover its ce-* headers).
Whatever the relay accepts, it signs with the destinations' keys, so it
verifies every event with the --in-* scheme flags (--in-scheme, --in-secret,
--in-pubkey, …, with the meaning of the scheme flags); a refused request
gets 401. It refuses to start without them unless --in-insecure is given:
then it takes any request, anyone who can reach --listen can have events
signed and delivered, and it logs a warning saying so.

The relay answers 204 only once the event's deliveries are committed to the
store (fsync), 400 for a malformed event, 503 while it stops: a client that
got no 2xx must post the event again, and one that got a 2xx may forget it.

Each delivery's webhook-id is derived from the event id and the destination
name, so an event posted twice is delivered under one id, once: a repeated
event is dropped while its delivery is pending, and for 10 minutes after it
was delivered (receivers should still deduplicate on webhook-id). The body is
the event's native JSON envelope.

Destinations: --dest URL with the scheme flags (--scheme, --secret, --key, …),
--name, --topic and --header; and/or --config FILE, a JSON document:

  {"destinations": [
    {"name": "a", "url": "https://a.example/hook", "topics": ["job:*"],
     "scheme": "standard", "secret": "env:A_SECRET"},
    {"name": "b", "url": "https://b.example/hook", "scheme": "jwt",
     "key": "@b.key", "issuer": "acme", "headers": {"X-Env": "prod"}}
  ]}

with the keys name, url, topics, headers, scheme, secret, key, alg, kid,
issuer, audience, ttl, header_name and sha1 (secret and key: a value, env:NAME
or @FILE, or a list to rotate). Keep a destination's name: it is part of the
delivery ids and the outbox stores deliveries by name.

--workers deliveries are sent at once. A failed delivery is retried in process
--retries times, then along --schedule (default 0s,5s,5m,30m,2h,5h,10h,10h,
with ±20 % jitter); when the schedule runs out, or the destination answers
410 or another 4xx, it becomes a dead letter: see herald outbox.

Once ready, relay prints "relay listening on http://ADDR" (https:// with
--tls-cert and --tls-key) to standard error; --listen with port 0 picks a free
port. Logs go to standard error (log/slog text, --log-level), never with a
secret. SIGTERM or interrupt stops it gracefully: it stops taking events,
lets the deliveries in flight finish for up to --drain-timeout, gives the
rest back to the store and exits 0. A killed relay loses nothing: on restart
it sends what was pending or in flight.

` + schemeHelp

const relayExample = `herald relay --store relay.db --listen :8080 --in-secret env:IN_SECRET --dest https://example.com/hook --secret env:WH_SECRET
herald relay --store relay.db --config relay.json --in-scheme jwt --in-pubkey platform.pub --in-audience relay --workers 32
herald relay --store dev.db --listen 127.0.0.1:0 --in-insecure --dest https://127.0.0.1:8443/ --secret @secret.txt --cacert cert.pem --allow-private   # local tests only`

// relayDrainGrace is the time, after --drain-timeout, given to the outbox
// to release the leases of cancelled deliveries.
const relayDrainGrace = 5 * time.Second

// runRelay implements "herald relay".
func runRelay(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("relay", "herald relay --store FILE (--dest URL [scheme flags] | --config FILE) [--listen ADDR] [--tls-cert FILE --tls-key FILE] (--in-scheme S --in-secret V ... | --in-insecure) [--workers N] [--schedule D,D,...] [--drain-timeout D]", relayDoc, relayExample)
	var out schemeFlags
	out.register(fs)
	in := schemeFlags{prefix: "in-"}
	in.register(fs)
	inInsecure := fs.Bool("in-insecure", false, "accept events without verifying them: anyone who can reach --listen can have events signed and delivered")
	listen := fs.String("listen", "127.0.0.1:8080", "`address` to accept events on (POST /events); port 0 picks a free one")
	var serveTLS serveTLSFlags
	serveTLS.register(fs)
	tlsCert, tlsKey := &serveTLS.cert, &serveTLS.key
	maxBody := fs.Int64("max-body", listener.DefaultMaxBodyBytes, "largest event accepted, in bytes")
	store := fs.String("store", "", "the outbox: a bbolt `file`, created if missing (required)")
	dest := fs.String("dest", "", "deliver to this `URL`, signed with the scheme flags")
	name := fs.String("name", "default", "`name` of the --dest destination (part of its delivery ids)")
	var topics, headers stringList
	fs.Var(&topics, "topic", "topic `pattern` the --dest destination wants (job:*, *:created, **); repeatable; default every topic")
	fs.Var(&headers, "header", "extra request `header` \"Name: value\" for --dest; repeatable")
	config := fs.String("config", "", "JSON `file` of destinations with topic filters (see above)")
	var df deliveryFlags
	df.register(fs)
	cacert, allowPrivate, insecureHTTP := &df.cacert, &df.allowPrivate, &df.insecureHTTP
	workers := fs.Int("workers", 8, "deliveries sent at once")
	retries := fs.Int("retries", outbox.DefaultBurst-1, "in-process retries of an attempt before it counts as failed")
	timeout := fs.Duration("timeout", sender.DefaultAttemptTimeout, "bound on each HTTP request of a delivery")
	schedule := fs.String("schedule", "", "retry `delays`, comma-separated, the first before the first attempt (default 0s,5s,5m,30m,2h,5h,10h,10h)")
	drain := fs.Duration("drain-timeout", 10*time.Second, "on SIGTERM, how long deliveries in flight may finish")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	usage := func(format string, a ...any) int { return usageErr(stderr, "relay", format, a...) }

	// Which flags were given, to tell defaults from choices.
	given := map[string]bool{}
	fs.Visit(func(f *flagFlag) { given[f.Name] = true })

	var level slog.Level
	switch {
	case fs.NArg() > 0:
		return usage("unexpected argument %s", showArg(fs.Args()[0]))
	case *store == "":
		return usage("missing --store FILE (the durable outbox)")
	case looksSecret(*store):
		return usage("--store: the name looks like a key, not a file (not shown)")
	case *dest == "" && *config == "":
		return usage("missing --dest URL or --config FILE: nowhere to deliver")
	case (*tlsCert == "") != (*tlsKey == ""):
		return usage("--tls-cert and --tls-key go together")
	case *workers <= 0:
		return usage("--workers must be positive")
	case *retries < 0:
		return usage("--retries must not be negative")
	case *timeout <= 0:
		return usage("--timeout must be positive")
	case *drain < 0:
		return usage("--drain-timeout must not be negative")
	case *maxBody <= 0:
		return usage("--max-body must be positive")
	case level.UnmarshalText([]byte(*logLevel)) != nil:
		return usage("unknown --log-level %s (want debug, info, warn or error)", showArg(*logLevel))
	}
	if *dest == "" {
		for _, f := range append([]string{"name", "topic", "header"}, schemeFlagNames...) {
			if given[f] {
				return usage("--%s applies to --dest, which is not given (a --config destination has its own keys)", f)
			}
		}
	}
	var delays []time.Duration
	if *schedule != "" {
		var err error
		if delays, err = parseSchedule(*schedule); err != nil {
			return usage("%v", err)
		}
	}

	// Destinations.
	var dests []sender.Destination
	if *dest != "" {
		if err := checkDestName(*name); err != nil {
			return usage("--name: %v", err)
		}
		if err := checkTopics(topics); err != nil {
			return usage("--topic: %v", err)
		}
		signer, err := out.signer()
		if err != nil {
			return usage("%v", err)
		}
		h, err := parseHeaderFlags(headers)
		if err != nil {
			return usage("%v", err)
		}
		dests = append(dests, sender.Destination{Name: *name, URL: *dest, Signer: signer, Headers: h, Topics: topics})
	}
	if *config != "" {
		c, err := loadRelayConfig(*config)
		if err != nil {
			return usage("%v", err)
		}
		for i := range c.Destinations {
			d, err := c.Destinations[i].destination(i + 1)
			if err != nil {
				return usage("%v", err)
			}
			dests = append(dests, d)
		}
	}
	seen := map[string]bool{}
	for _, d := range dests {
		if seen[d.Name] {
			return usage("two destinations are named %q; names must be distinct", d.Name)
		}
		seen[d.Name] = true
	}

	verifier, err := inboundVerifier(&in, given, *inInsecure)
	if err != nil {
		return usage("%v", err)
	}

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	s := &sender.Sender{
		Retry:          sender.RetryPolicy{MaxAttempts: *retries + 1},
		AttemptTimeout: *timeout,
		AllowHTTP:      *insecureHTTP,
		Logger:         logger,
	}
	if *allowPrivate {
		s.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	}
	if *cacert != "" {
		pem, err := readFileLimited(*cacert, "--cacert file", maxKeyFile)
		if err != nil {
			return usage("%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return usage("--cacert file %s holds no PEM certificate", *cacert)
		}
		s.TLS = &tls.Config{RootCAs: pool}
	}
	defer s.CloseIdleConnections()
	for _, d := range dests {
		if err := s.Validate(d); err != nil {
			switch {
			case errors.Is(err, sender.ErrInsecureURL):
				return usage("destination %q: %v (use --insecure-http to allow http://)", d.Name, err)
			case errors.Is(err, sender.ErrBlockedAddr):
				return usage("destination %q: %v (--allow-private disables this guard)", d.Name, err)
			default:
				return usage("destination %q: %v", d.Name, err)
			}
		}
	}

	var tlsConfig *tls.Config
	if *tlsCert != "" {
		cert, err := loadTLSPair(*tlsCert, *tlsKey)
		if err != nil {
			return usage("%v", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	// The outbox and its workers.
	st, err := boltstore.Open(*store, nil)
	if err != nil {
		if errors.Is(err, boltstore.ErrLocked) {
			err = fmt.Errorf("%w (is another relay or herald outbox using %s?)", err, *store)
		}
		return failure(stderr, "relay", err)
	}
	defer st.Close()
	q := &outbox.Queue{
		Outbox:       st,
		Sender:       s,
		Destinations: dests,
		Workers:      *workers,
		Schedule:     outbox.Schedule{Delays: delays},
		Logger:       logger,
	}

	// Events in: a Listener (for deduplication of repeated events) whose one
	// handler enqueues a delivery per destination that wants the event.
	l := listener.New(listener.WithDedupe(0, 0), listener.WithLogger(logger))
	r := &relay{queue: q, dests: dests, logger: logger}
	if err := l.On("**", r.enqueue); err != nil {
		return failure(stderr, "relay", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/events", &listener.HTTPHandler{Dispatcher: l, Verifier: verifier, MaxBodyBytes: *maxBody, Logger: logger})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return failure(stderr, "relay", err)
	}
	proto := "http"
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
		proto = "https"
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- q.Run(context.Background()) }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	stats, _ := st.Stats(ctx)
	names := make([]string, len(dests))
	for i, d := range dests {
		names[i] = d.Name
	}
	logger.Info("relay started", "store", *store, "destinations", strings.Join(names, ","),
		"workers", *workers, "pending", stats.Pending, "dead", stats.Dead, "verify", verifier != nil)
	if verifier == nil {
		logger.Warn("relay: --in-insecure: events are not verified; anyone who can reach the listen address can have events signed and delivered",
			"listen", ln.Addr().String())
	}
	fmt.Fprintf(stderr, "relay listening on %s://%s\n", proto, ln.Addr())

	code := exitOK
	select {
	case <-ctx.Done():
	case err := <-served:
		logger.Error("relay: event server failed", "err", err)
		code = exitFail
	case err := <-ran:
		logger.Error("relay: queue stopped", "err", err)
		ran <- err
		code = exitFail
	}
	stop() // a second signal kills at once

	// Drain: no new events, then the deliveries in flight, then the store.
	logger.Info("relay stopping", "drain_timeout", drain.String())
	httpCtx, cancel := context.WithTimeout(context.Background(), *drain+relayDrainGrace)
	if err := srv.Shutdown(httpCtx); err != nil {
		logger.Warn("relay: event requests cut short", "err", err)
		srv.Close()
	}
	cancel()
	qctx, cancel := context.WithTimeout(context.Background(), *drain)
	if err := q.Shutdown(qctx); err != nil {
		logger.Warn("relay: deliveries still in flight after --drain-timeout were given back to the store", "err", err)
	}
	cancel()
	if err := <-ran; err != nil && code == exitOK {
		logger.Error("relay: queue failed", "err", err)
		code = exitFail
	}
	stats, _ = st.Stats(context.Background())
	if err := st.Close(); err != nil && !errors.Is(err, outbox.ErrClosed) {
		logger.Error("relay: closing the store", "err", err)
		code = exitFail
	}
	logger.Info("relay stopped", "pending", stats.Pending, "dead", stats.Dead)
	return code
}

// errNoInbound is relay's usage error when it was given no way to verify
// events, nor --in-insecure.
var errNoInbound = errors.New("refusing to sign and deliver unverified events: give an inbound verifier " +
	"(--in-scheme with --in-secret, --in-key or --in-pubkey, and the other --in-* scheme flags), " +
	"or --in-insecure to accept events from anyone who can reach --listen")

// inboundVerifier builds the verifier of incoming events from the --in-*
// scheme flags in, given the flags set on the command line. Without any,
// it fails unless insecure (--in-insecure) says to take unverified events,
// and then returns nil.
func inboundVerifier(in *schemeFlags, given map[string]bool, insecure bool) (auth.Verifier, error) {
	set := false
	for _, f := range schemeFlagNames {
		set = set || given[in.prefix+f]
	}
	switch {
	case set && insecure:
		return nil, errors.New("give --in-insecure or the --in-* scheme flags of an inbound verifier, not both")
	case insecure:
		return nil, nil
	case !set:
		return nil, errNoInbound
	}
	v, err := in.verifier()
	if err != nil {
		return nil, fmt.Errorf("inbound verification: %w", err)
	}
	return v, nil
}

// flagFlag is flag.Flag, named here for fs.Visit.
type flagFlag = flag.Flag

// relay turns events into outbox deliveries.
type relay struct {
	queue  *outbox.Queue
	dests  []sender.Destination
	logger *slog.Logger
}

// enqueue stores one delivery of ev per destination that wants its topic
// and returns once all are committed. The delivery id is derived from the
// event id and the destination name (listener.DeliveryID), and Enqueue is
// idempotent on it, so an event posted again while its deliveries are
// pending adds nothing, and one whose enqueue failed half way can be posted
// again safely.
func (r *relay) enqueue(ctx context.Context, ev *listener.Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return listener.Permanent(fmt.Errorf("relay: encoding event: %w", err))
	}
	n := 0
	for _, d := range r.dests {
		if !d.Wants(ev.Topic) {
			continue
		}
		msg := sender.Message{ID: listener.DeliveryID(ev, d.Name), Topic: ev.Topic, Body: body, ContentType: "application/json"}
		if _, err := r.queue.Enqueue(ctx, d.Name, msg); err != nil {
			if errors.Is(err, outbox.ErrInvalid) {
				return listener.Permanent(fmt.Errorf("relay: event %s for %s: %w", ev.ID, d.Name, err))
			}
			return fmt.Errorf("relay: event %s for %s: %w", ev.ID, d.Name, err)
		}
		r.logger.Debug("relay: enqueued", "event", ev.ID, "topic", ev.Topic, "destination", d.Name, "delivery", msg.ID)
		n++
	}
	if n == 0 {
		r.logger.Info("relay: no destination wants the event", "event", ev.ID, "topic", ev.Topic)
	}
	return nil
}
