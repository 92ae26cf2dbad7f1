package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

const relayDoc = `Relay is a small durable worker: it accepts platform events over HTTP at
POST /events and delivers each one as a signed webhook to every destination
that wants its topic, through a durable outbox (--store): a bbolt file, a
NATS JetStream stream that a fleet of relays shares (see Fleet below), or
PostgreSQL tables (a postgres:// URL) that any number of relays share. On a
bbolt file it runs Go with one processor more than Go would choose, unless
GOMAXPROCS is set: each commit waits for the disk, and Go keeps that
processor meanwhile.

Events come in the native JSON envelope (id, topic, createdAt, context,
payload, namespaces, partitionKey) or as CloudEvents 1.0 in structured mode (binary mode too with
--in-insecure: a signature over the body does not cover its ce-* headers).
Whatever the relay accepts, it signs with the destinations' keys, so it
verifies every event it takes over HTTP with the --in-* scheme flags
(--in-scheme, --in-secret, --in-pubkey, …, with the meaning of the scheme
flags; an inbound jwt must also carry the body_sha256 claim, as herald's
do, so that it signs the event and not only itself); a refused request gets
401. It refuses to start without them
unless --in-insecure is given: then it takes any request, anyone who can
reach --listen can have events signed and delivered, and it logs a warning
saying so.

The relay answers 204 only once the event's deliveries are committed to the
store (fsync, JetStream's acknowledgement or a PostgreSQL commit), 400 for a
malformed event, 503 to a request it can no longer take while it stops (new
connections are refused from the start of the stop): a client that got no
2xx must post the event again, and one that got a 2xx may forget it.

Each delivery's webhook-id is derived from the event's topic, id and
CloudEvents source and the destination name, so an event posted twice is
delivered under one id: a repeated event is dropped while its delivery is
pending, and for 10 minutes after it was delivered by the same relay process
(on a nats:// store, by any relay of the fleet); otherwise it is delivered
again under the same id, so receivers should deduplicate on webhook-id. The
body is the event's native JSON envelope.

Destinations: --dest URL with the scheme flags (--scheme, --secret, --key, …),
--name, --topic and --header; and/or --config FILE, a JSON document:

  {"destinations": [
    {"name": "a", "url": "https://a.example/hook", "topics": ["job:*"],
     "scheme": "standard", "secret": "env:A_SECRET"},
    {"name": "b", "url": "https://b.example/hook", "scheme": "jwt",
     "key": "@b.key", "issuer": "acme", "headers": {"X-Env": "prod"},
     "rate": 10, "burst": 20, "disable_after": "5d"}
  ]}

with the keys name, url, topics, headers, scheme, secret, key, alg, kid,
issuer, audience, ttl, header_name, sha1 and ordered (secret and key: a value,
env:NAME or @FILE, or a list to rotate), client_cert, client_key and oauth2,
and the limits rate, burst and disable_after below. Keep a destination's
name: it is part of the delivery ids and the outbox stores deliveries by
name.

Ordering: a destination with "ordered": true receives the events that share a
partition key (the envelope's "partitionKey", the CloudEvents "partitionkey"
extension) one at a time, in the order the relay accepted them: the next
waits until the previous is delivered or dead-lettered, retries included,
across restarts (and across relays sharing a postgres:// store; a nats://
store cannot keep it). Different keys, and events without one, go in parallel.
Order between two events holds once the first was answered 204: post the
next one after that.

A destination of --config may also authenticate beyond its signature:

  "client_cert": "@client.pem", "client_key": "@client.key"
      a client certificate (mutual TLS), presented to this destination
      only; PEM, as @FILE, a file name or env:NAME.
  "oauth2": {"token_url": "https://auth.example/oauth/token",
             "client_id": "relay", "client_secret": "env:OAUTH_SECRET",
             "scopes": ["webhooks"]}
      OAuth2 client credentials: the token is fetched, cached, renewed
      before it expires and once on a 401, and sent as Authorization:
      Bearer; client_secret is a value, env:NAME or @FILE. The token URL
      is reached like the destination (--cacert, the address guard,
      https only). It combines with the HMAC schemes, not with jwt
      (which uses Authorization itself).

--workers deliveries are sent at once (at most half of them to one
destination). A failed attempt goes back to the store, due again along
--schedule (default 0s,1s,1s,1s,2s,2s,3s,5s,8s,13s,21s,34s,1m,5m,30m,2h,5h,
10h,10h: quick retries for a receiver that fails some requests, then hours
for one that is down; ±20 % jitter), and the worker takes the next delivery:
a retry wait never holds a worker. Only the last attempt is retried in
process, --retries times. A 429 or 503 with Retry-After pauses its
destination, not one worker, for as long as it asks (at most 10 minutes);
20 failures in a row open its circuit breaker for 30 s and more. When the
schedule runs out, or the destination answers a status that is not retried
(a 4xx but 408, 425, 429 and 410; a 5xx but 500, 502, 503 and 504), the
delivery becomes a dead letter: see herald outbox. A 410 Gone disables the
destination instead, and its deliveries wait in the store (see below).

Limits per destination (--config keys): "rate": 10 sends at most 10
deliveries a second to it from each relay (a fleet of n relays sends up to
n times as many; attempts, retries included), with bursts of
"burst" (default 1); its other deliveries wait in the store, so it never
slows the other destinations. "disable_after": "5d" disables a destination
that has failed without a single success for 5 days (also 36h, 90m;
default never); a 410 Gone answer disables it at once. A disabled
destination's deliveries are held in the store, neither sent nor dropped,
and a WARN line says so; "herald outbox enable --store STORE --dest NAME"
resumes it: on a bbolt file while no relay holds it, from the next relay
start; on a nats:// or postgres:// store while relays run, within a poll.
While a relay runs (on a bbolt file too), POST /outbox/destinations/enable
with {"destination":"NAME"} to its loopback --admin-listen resumes it
within a poll, in every relay on the store.

Once ready, relay prints "relay listening on http://ADDR" (https:// with
--tls-cert and --tls-key) to standard error; --listen with port 0 picks a free
port. Logs go to standard error (log/slog text, --log-level), never with a
secret. With --log-format json each line is one JSON object (time, level,
msg, then the attributes; a duration as a Go duration string such as
"1.503s", a character that is not printable as \uXXXX), the ready lines
and a failure to start included; a usage error (exit 2) stays text:

  {"time":"…","level":"INFO","msg":"relay listening","url":"http://ADDR"}

(and "relay admin listening" with its url).

SIGTERM or interrupt stops it gracefully: it stops taking events, lets
the deliveries in flight finish for up to --drain-timeout, gives the
rest back to the store and exits 0 (also while it starts: it stops
connecting to the store); a second signal kills it at once. A killed relay
loses nothing: on restart
it sends what was pending or in flight; on PostgreSQL, the other relays send
what it held once its leases run out (--lease-ttl), under the same
webhook-ids. PostgreSQL wakes every relay as soon as any of them commits an
event, so none waits for its next poll.

Fleet: with --store nats://HOST:PORT (tls:// for TLS; the URLs of a cluster
separated by commas), a nats-server of yours with JetStream enabled (-js;
the relay embeds none), the outbox is a JetStream stream that any number of
relays, on any number of machines, share: each takes events on its own
--listen, and they share the deliveries. A relay that dies holds what it
leased for --lease-ttl; then another relay sends it, under the same id. A
relay rides out a NATS restart: meanwhile it answers events 5xx.
Bound the outbox's disk with the server's max_file_store or the account's
JetStream limits, not with limits on the stream, which every relay puts
back as it starts: a full store answers each event 500 (the log says
"insufficient resources", or "maximum messages exceeded" at a stream's
own limit) until deliveries go out or the limit is raised, and drops
nothing it acknowledged.
Credentials: --nats-creds FILE, or USER:PASSWORD@ or TOKEN@ in the URL
(which ps shows: prefer a creds file; write a comma in a password %2C).
TLS: --nats-cacert, --nats-cert and --nats-key. The URL's query may give
these files too (creds=, cacert=, cert=, key=) and names the stream:
stream=NAME and subject=PREFIX (default HERALD_OUTBOX on herald.outbox.>;
the same for every relay of a fleet), replicas=3 on a three-node cluster
(an existing stream keeps its replicas unless the URL says). The relay
never prints the URL's user information or query.

--events-subject PREFIX (with a NATS --store) takes events from JetStream as
well as over HTTP: an event published on PREFIX.DOMAIN.ACTION (as
natsevents.Publish does) has the topic DOMAIN:ACTION, and one whose own topic
differs is refused and logged. These events are not verified with the
--in-* flags: NATS permissions decide who may publish under PREFIX, so grant
that only to trusted producers. The relays of a fleet share one durable
consumer; an event is acknowledged once its deliveries are committed, and
one that a killed relay held goes to another after --lease-ttl (30s at
most). Events from both intakes are deduplicated and delivered alike.

--admin-listen ADDR serves GET /metrics, in the Prometheus text format:

  herald_deliveries_total{destination,outcome}   delivered, retry_scheduled, dead_letter
  herald_delivery_attempts_total{destination,code}   per HTTP request; code "error": no answer
  herald_delivery_duration_seconds{destination}  histogram, per HTTP request
  herald_outbox_pending, herald_outbox_dead_letters
  herald_destination_state{destination,state}    1 while held: paused, failing, disabled
  herald_events_received_total{outcome}          handled, failed, rejected

An attempt is counted once even when net/http sent it again on a new
connection because a kept-alive one died before any answer (a receiver then
sees it twice, with one webhook-id). retry_scheduled also counts the attempt
that disabled a destination (410 Gone, disable_after), whose delivery is
held, not retried. The two gauges
count the whole outbox, not one relay's share: every relay of a fleet
reports the same figures (take their max, not their sum), sampled about
once a second, and they keep their last value while the store does not
answer (/readyz says so). herald_destination_state is 1, else 0, per
configured destination while it is paused (its breaker open, or a pause it
asked for with Retry-After), failing (recorded failing, not yet disabled by
disable_after) or disabled (held until herald outbox enable), as this relay
saw at its last poll: alert on state="disabled". The log lines say why, and
herald_delivery_attempts_total shows its 429s, 410 or failures.

GET /healthz (200 while the process runs) and GET /readyz (200 while the store
answers and events are taken, 503 while the relay drains or the store does
not answer); on a loopback address, the outbox's dead letters too, as JSON:
GET /outbox/stats, GET /outbox/dead-letters (?destination=NAME&limit=N&after=
CURSOR), GET /outbox/history?id=ID, GET /outbox/destinations (those failing
or disabled, as herald outbox states prints them), POST
/outbox/dead-letters/replay or /outbox/dead-letters/purge with {"ids":[…]},
{"destination":…} or {"all":true} (as herald outbox does), and POST
/outbox/destinations/enable with {"destination":"NAME"} (as herald outbox
enable does; 200 {"enabled":"NAME"}, also for a name not disabled).
It has no authentication: serve it on a private network. --otlp-endpoint URL
exports a span per event, delivery and HTTP attempt over OTLP/HTTP. Either
way, the W3C traceparent of an event (its traceparent header, or its
CloudEvents extension) is sent on with each of its webhooks, after a restart
too; it is tracing metadata that no inbound scheme signs.

` + schemeHelp

const relayExample = `herald relay --store relay.db --listen :8080 --in-secret env:IN_SECRET --dest https://example.com/hook --secret env:WH_SECRET
herald relay --store relay.db --config relay.json --in-scheme jwt --in-pubkey platform.pub --in-audience relay --workers 32
herald relay --store nats://nats1:4222 --nats-creds relay.creds --events-subject acme.events --config relay.json --in-secret env:IN_SECRET
herald relay --store relay.db --config relay.json --in-secret env:IN_SECRET --admin-listen 0.0.0.0:9090 --otlp-endpoint http://otel-collector:4318/v1/traces
herald relay --store dev.db --listen 127.0.0.1:0 --in-insecure --dest https://127.0.0.1:8443/ --secret @secret.txt --cacert cert.pem --allow-private   # local tests only`

// relayDrainGrace is the time, after --drain-timeout, given to the outbox
// to release the leases of cancelled deliveries.
const relayDrainGrace = 5 * time.Second

// runRelay implements "herald relay": parse the command line, build the
// relay, run it until a signal.
func runRelay(args []string, stdout, stderr io.Writer) int {
	f, code, ok := parseRelay(args, stdout, stderr)
	if !ok {
		return code
	}
	// A signal during start-up (a store may take 30 s to connect) stops
	// the relay as it stops one that runs: exit 0.
	ctx, stop := signalContext()
	defer stop()
	logger := f.log.logger(stderr)
	r, err := buildRelay(ctx, f, logger)
	if err != nil {
		if ctx.Err() != nil {
			logger.Info("relay stopped while starting: signal received", "err", err)
			return exitOK
		}
		var ue usageError
		if errors.As(err, &ue) {
			return usageErr(stderr, "relay", "%v", err)
		}
		return f.log.fail(stderr, logger, "relay", err)
	}
	return r.run(ctx, stop, stderr)
}

// relayFlags is relay's command line, and what parseRelay derives from it.
type relayFlags struct {
	out, in            schemeFlags
	inInsecure         bool
	listen, store      string
	dest, name, config string
	serveTLS           serveTLSFlags
	delivery           deliveryFlags
	schedule           string
	log                logFlags
	topics, headers    stringList
	maxBody            int64
	workers, retries   int
	timeout, drain     time.Duration
	leaseTTL           time.Duration
	nats               natsFlags
	eventsSubject      string
	given              map[string]bool // the flags set on the command line
	tel                telemetryFlags

	delays   []time.Duration
	dests    []sender.Destination
	verifier auth.Verifier // nil with --in-insecure
}

// register defines relay's flags on fs.
func (f *relayFlags) register(fs *flagSet) {
	f.out.register(fs)
	// What the relay accepts it signs and delivers: a token must sign the
	// event (the body), not only itself.
	f.in = schemeFlags{prefix: "in-", requireBodyHash: true}
	f.in.register(fs)
	fs.BoolVar(&f.inInsecure, "in-insecure", false, "accept events without verifying them: anyone who can reach --listen can have events signed and delivered")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "`address` to accept events on (POST /events); port 0 picks a free one")
	f.serveTLS.register(fs)
	fs.Int64Var(&f.maxBody, "max-body", 1<<20, "largest event accepted, in bytes")
	fs.StringVar(&f.store, "store", "", "the outbox: a bbolt `file`, created if missing; nats://HOST:PORT for a JetStream outbox, or a postgres://user@host/db URL (its password from PGPASSWORD or ~/.pgpass, which ps does not show as it shows a URL's; a Unix socket: postgres://user@/db?host=/run/postgresql; optional ?herald_schema=S&herald_prefix=P), either shared by any number of relays (required)")
	f.nats.register(fs)
	fs.StringVar(&f.eventsSubject, "events-subject", "", "also take events from JetStream, published under this subject `prefix` (events.job.ready for job:ready); needs a nats:// --store")
	fs.StringVar(&f.dest, "dest", "", "deliver to this `URL`, signed with the scheme flags; @FILE or env:NAME reads it from a file or the environment, so that a token in it stays out of ps")
	fs.StringVar(&f.name, "name", "default", "`name` of the --dest destination (part of its delivery ids)")
	fs.Var(&f.topics, "topic", "topic `pattern` the --dest destination wants (job:*, *:created, **); repeatable; default every topic")
	fs.Var(&f.headers, "header", headerFlagHelp+" (for --dest)")
	fs.StringVar(&f.config, "config", "", "JSON `file` of destinations with topic filters (see above)")
	f.delivery.register(fs)
	fs.IntVar(&f.workers, "workers", 64, "deliveries sent at once")
	fs.IntVar(&f.retries, "retries", 1, "in-process retries of the last attempt of --schedule (earlier attempts make one request each and wait in the store)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "bound on each HTTP request of a delivery")
	fs.StringVar(&f.schedule, "schedule", "", "retry `delays`, comma-separated, the first before the first attempt (default 0s,1s,1s,1s,2s,2s,3s,5s,8s,13s,21s,34s,1m,5m,30m,2h,5h,10h,10h)")
	fs.DurationVar(&f.drain, "drain-timeout", 10*time.Second, "on SIGTERM, how long deliveries in flight may finish")
	fs.DurationVar(&f.leaseTTL, "lease-ttl", 5*time.Minute, "how long a relay holds a delivery it sends (each attempt gets half); another relay of a fleet (NATS, PostgreSQL) takes over a killed relay's deliveries after it (and its --events-subject events after it, up to 30s)")
	f.log.register(fs)
	f.tel.register(fs)
}

// parseRelay parses and checks relay's command line. When ok is false, the
// command is over, with exit code code (help, or a usage error reported).
func parseRelay(args []string, stdout, stderr io.Writer) (f *relayFlags, code int, ok bool) {
	fs := newFlagSet("relay", "herald relay --store FILE|nats://HOST:PORT|postgres://… (--dest URL [scheme flags] | --config FILE) [--listen ADDR] [--tls-cert FILE --tls-key FILE] (--in-scheme S --in-secret V ... | --in-insecure) [--workers N] [--schedule D,D,...] [--drain-timeout D] [--admin-listen ADDR] [--otlp-endpoint URL] [--log-level L] [--log-format text|json]", relayDoc, relayExample)
	f = &relayFlags{given: map[string]bool{}}
	f.register(fs)
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return nil, code, false
	}
	fs.Visit(func(fl *flagFlag) { f.given[fl.Name] = true })
	if fs.NArg() > 0 {
		return nil, usageErr(stderr, "relay", "unexpected argument %s", showArg(fs.Args()[0])), false
	}
	if err := f.check(); err != nil {
		return nil, usageErr(stderr, "relay", "%v", err), false
	}
	return f, exitOK, true
}

// check validates the flags and fills log, delays, dests and verifier.
func (f *relayFlags) check() error {
	if err := f.serveTLS.check(); err != nil {
		return err
	}
	if err := f.tel.check(); err != nil {
		return err
	}
	switch {
	case f.store == "":
		return errors.New("missing --store FILE|URL (the durable outbox)")
	case looksSecret(f.store):
		return errors.New("--store: the name looks like a key, not a file (not shown)")
	case f.dest == "" && f.config == "":
		return errors.New("missing --dest URL or --config FILE: nowhere to deliver")
	case f.workers <= 0:
		return errors.New("--workers must be positive")
	case f.workers > limits.Workers:
		// Refused before the relay listens, as the Queue would refuse
		// it (it crashed the relay out of memory once listening).
		return fmt.Errorf("--workers must be at most %d", limits.Workers)
	case f.retries < 0:
		return errors.New("--retries must not be negative")
	case f.timeout <= 0:
		return errors.New("--timeout must be positive")
	case f.drain < 0:
		return errors.New("--drain-timeout must not be negative")
	case f.leaseTTL < time.Second:
		return errors.New("--lease-ttl must be at least 1s")
	case storeEngine(f.store) != "nats" && (f.nats.given() || f.eventsSubject != ""):
		return errors.New("--nats-* flags and --events-subject need a nats:// or tls:// --store")
	case f.maxBody <= 0:
		return errors.New("--max-body must be positive")
	}
	if err := f.log.check(); err != nil {
		return err
	}
	if f.dest == "" {
		for _, name := range append([]string{"name", "topic", "header"}, schemeFlagNames...) {
			if f.given[name] {
				return fmt.Errorf("--%s applies to --dest, which is not given (a --config destination has its own keys)", name)
			}
		}
	}
	if f.eventsSubject != "" {
		if err := checkEventsSubject(f.eventsSubject); err != nil {
			return err
		}
	}
	if f.schedule != "" {
		var err error
		if f.delays, err = parseSchedule(f.schedule); err != nil {
			return err
		}
	}
	if err := f.destinations(); err != nil {
		return err
	}
	var err error
	f.verifier, err = inboundVerifier(&f.in, f.given, f.inInsecure)
	return err
}

// destinations builds f.dests from --dest and its flags, and --config.
func (f *relayFlags) destinations() error {
	if f.dest != "" {
		if err := checkDestName(f.name); err != nil {
			return fmt.Errorf("--name: %v", err)
		}
		if err := checkTopics(f.topics); err != nil {
			return fmt.Errorf("--topic: %v", err)
		}
		signer, err := f.out.signer()
		if err != nil {
			return err
		}
		h, err := parseHeaderFlags(f.headers)
		if err != nil {
			return err
		}
		u, err := urlArg("--dest", f.dest)
		if err != nil {
			return err
		}
		f.dests = append(f.dests, sender.Destination{Name: f.name, URL: u, Signer: signer, Headers: h, Topics: f.topics})
	}
	if f.config != "" {
		c, err := loadRelayConfig(f.config)
		if err != nil {
			return err
		}
		for i := range c.Destinations {
			d, err := c.Destinations[i].destination(i + 1)
			if err != nil {
				return err
			}
			f.dests = append(f.dests, d)
		}
	}
	seen := map[string]bool{}
	for _, d := range f.dests {
		if seen[d.Name] {
			return fmt.Errorf("two destinations are named %q; names must be distinct", d.Name)
		}
		seen[d.Name] = true
	}
	return nil
}

// relay is a built relay, ready to run.
type relay struct {
	f      *relayFlags
	logger *slog.Logger
	sender *sender.Sender
	store  store
	queue  *outbox.Queue
	srv    *http.Server
	ln     net.Listener
	proto  string
	events *eventIntake // nil without --events-subject
	l      *listener.Listener
	tel    *relayTelemetry
	admin  *adminServer // nil without --admin-listen
}

// spareProcessor gives the Go runtime one processor more than it chose,
// unless GOMAXPROCS is set (getenv reads the environment). A relay on a
// bbolt file commits often, and each commit waits for the disk in
// fdatasync while Go keeps its processor: on few cores that idles part of
// the relay (see the boltstore package documentation, which has the
// figures). Like any call that sets the number, it stops Go from following
// a container's CPU limit that changes while the relay runs. It returns
// the number of processors now in use.
func spareProcessor(getenv func(string) string) int {
	n := runtime.GOMAXPROCS(0)
	if getenv("GOMAXPROCS") != "" {
		return n
	}
	runtime.GOMAXPROCS(n + 1)
	return n + 1
}

// buildRelay makes the sender, opens the store and the listening socket,
// and wires events to the queue with listener.Forward. Its errors are
// usageErrors when the command line is at fault. It stops connecting to
// the store when ctx ends. The telemetry set-up takes ctx too, though it
// does not wait on the network: the OTLP exporter connects only to export
// (TestRelayOTLPCollectorSilent).
func buildRelay(ctx context.Context, f *relayFlags, logger *slog.Logger) (*relay, error) {
	r := &relay{f: f, logger: logger}
	var err error
	if r.sender, err = f.newSender(r.logger); err != nil {
		return nil, usageError{err}
	}
	if r.tel, err = f.tel.newTelemetry(ctx, r.logger); err != nil {
		return nil, err
	}
	r.sender.TracerProvider, r.sender.MeterProvider = r.tel.tracerProvider(), r.tel.meterProvider()
	tlsConfig, err := f.serveTLS.config()
	if err != nil {
		return nil, usageError{err}
	}
	f.nats.logger = r.logger
	if storeEngine(f.store) == "bolt" {
		spareProcessor(os.Getenv)
	}
	if r.store, err = openStore(ctx, f.store, storeCreate, &f.nats); err != nil {
		if storeUsage(err, f.store) {
			return nil, usageError{storeError(err, f.store, storeCreate)}
		}
		return nil, storeError(err, f.store, storeCreate)
	}
	if err := checkOrdered(f.dests, r.store); err != nil {
		r.store.Close()
		return nil, err
	}
	r.queue = &outbox.Queue{
		Outbox: r.store, Sender: r.sender, Destinations: f.dests, Workers: f.workers,
		Schedule: outbox.Schedule{Delays: f.delays}, Logger: slog.New(enableHint{r.logger.Handler()}), LeaseTTL: f.leaseTTL,
	}
	// Events in: a Listener (for deduplication of repeated events) whose
	// one handler commits a delivery per destination that wants the event,
	// all in one write, before the event is answered.
	l := listener.New(listener.WithDedupe(0, 0), listener.WithLogger(r.logger),
		listener.WithTelemetry(r.tel.tracerProvider(), r.tel.meterProvider()))
	if err := l.On("**", listener.Forward(r.queue, f.dests...)); err != nil {
		r.store.Close()
		return nil, err
	}
	r.l = l
	if f.eventsSubject != "" {
		if r.events, err = newEventIntake(r.store, f.eventsSubject, f.leaseTTL, r.logger); err != nil {
			r.store.Close()
			return nil, err
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/events", &listener.HTTPHandler{Dispatcher: l, Verifier: f.verifier, MaxBodyBytes: f.maxBody})
	r.srv = httpserver.New(mux, slog.NewLogLogger(r.logger.Handler(), slog.LevelWarn))
	if r.ln, err = net.Listen("tcp", f.listen); err != nil {
		r.store.Close()
		return nil, err
	}
	if f.verifier == nil && isLoopback(r.ln.Addr()) {
		r.srv.Handler = loopbackHost(mux) // see loopbackHost: no signature refuses a rebound page
	}
	if f.tel.adminListen != "" {
		if r.admin, err = newAdmin(f.tel.adminListen, r.tel, r.store, r.logger); err != nil {
			r.ln.Close()
			r.store.Close()
			return nil, err
		}
	}
	r.proto = "http"
	if tlsConfig != nil {
		r.ln, r.proto = tls.NewListener(r.ln, tlsConfig), "https"
	}
	return r, nil
}

// newSender makes the Sender of deliveries and checks every destination
// against it.
func (f *relayFlags) newSender(logger *slog.Logger) (*sender.Sender, error) {
	s := &sender.Sender{
		Retry:          sender.RetryPolicy{MaxAttempts: f.retries + 1},
		AttemptTimeout: f.timeout,
		Logger:         logger,
	}
	if err := f.delivery.apply(s); err != nil {
		return nil, err
	}
	for _, d := range f.dests {
		if err := s.Validate(d); err != nil {
			return nil, fmt.Errorf("destination %q: %v%s", d.Name, err, validationHint(err))
		}
	}
	return s, nil
}

// run serves events and delivers until a signal or a failure, then stops
// in the order listener's package doc gives: no new events, the handlers
// in flight (srv.Shutdown waits for them), the deliveries in flight (queue
// Shutdown finishes them), the store. ctx ends at a signal; stop
// unregisters it.
func (r *relay) run(ctx context.Context, stop context.CancelFunc, stderr io.Writer) int {
	defer r.sender.CloseIdleConnections()
	defer r.store.Close()
	ran := make(chan error, 1)
	// Not ctx: a Queue whose Run context ends gives its deliveries in
	// flight back unfinished; Shutdown below lets them finish.
	go func() { ran <- r.queue.Run(context.Background()) }()
	served := make(chan error, 1)
	go func() { served <- r.srv.Serve(r.ln) }()
	events := r.events.start(r.l)
	r.logStart(ctx)
	r.serveAdmin(stderr)
	r.f.log.announce(stderr, r.logger, "relay listening", fmt.Sprintf("%s://%s", r.proto, r.ln.Addr()))

	code := exitOK
	select {
	case <-ctx.Done():
	case err := <-served:
		r.logger.Error("relay: event server failed", "err", err)
		code = exitFail
	case err := <-ran:
		r.logger.Error("relay: queue stopped", "err", err)
		ran <- err
		code = exitFail
	case <-events:
		r.logger.Error("relay: event intake from NATS stopped", "err", r.events.err)
		code = exitFail
	}
	stop() // a second signal kills at once (signalContext: a signal did already)
	return r.shutdown(ran, code)
}

// logStart logs what the relay starts with.
func (r *relay) logStart(ctx context.Context) {
	stats, _ := r.store.Stats(ctx)
	names := make([]string, len(r.f.dests))
	for i, d := range r.f.dests {
		names[i] = d.Name
	}
	r.logger.Info("relay started", "store", storeName(r.f.store), "destinations", strings.Join(names, ","),
		"workers", r.f.workers, "pending", stats.Pending, "dead", stats.Dead, "verify", r.f.verifier != nil,
		"events_subject", r.f.eventsSubject)
	if r.f.verifier == nil {
		r.logger.Warn("relay: --in-insecure: events are not verified; anyone who can reach the listen address can have events signed and delivered",
			"listen", r.ln.Addr().String())
	}
}

// shutdown drains: no new events and the handlers in flight, then the
// deliveries in flight, then the store. ran delivers Run's result; code
// is the exit code so far, and the one returned unless stopping fails.
func (r *relay) shutdown(ran <-chan error, code int) int {
	r.logger.Info("relay stopping", "drain_timeout", r.f.drain.String())
	if r.admin != nil {
		r.admin.draining.Store(true) // /readyz answers 503 from now on
	}
	httpCtx, cancel := context.WithTimeout(context.Background(), r.f.drain+relayDrainGrace)
	if err := r.srv.Shutdown(httpCtx); err != nil {
		r.logger.Warn("relay: event requests cut short", "err", err)
		r.srv.Close()
	}
	cancel()
	r.events.close()
	qctx, cancel := context.WithTimeout(context.Background(), r.f.drain)
	if err := r.queue.Shutdown(qctx); err != nil {
		r.logger.Warn("relay: deliveries still in flight after --drain-timeout were cut short; "+
			"those the store did not record as given back go out again once their leases end", "err", err)
	}
	cancel()
	if err := <-ran; err != nil && code == exitOK {
		r.logger.Error("relay: queue failed", "err", err)
		code = exitFail
	}
	// A store that hangs (a database server frozen) must not hold the
	// exit: the counts are only for the last log line.
	sctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	stats, serr := r.store.Stats(sctx)
	cancel()
	if err := r.store.Close(); err != nil && !errors.Is(err, outbox.ErrClosed) {
		r.logger.Error("relay: closing the store", "err", err)
		code = exitFail
	}
	if serr != nil {
		r.logger.Info("relay stopped", "stats_err", serr)
	} else {
		r.logger.Info("relay stopped", "pending", stats.Pending, "dead", stats.Dead)
	}
	r.stopObservability()
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
