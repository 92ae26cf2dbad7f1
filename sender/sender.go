// Package sender delivers signed webhooks over HTTPS: one delivery at a time
// with in-process retries ([Sender.Send]), refusing private addresses after
// DNS resolution, and never following redirects.
//
// A delivery is one [Message] sent to one [Destination]. Every attempt of a
// delivery carries the same webhook-id, so receivers can deduplicate, and is
// signed afresh by the destination's [auth.Signer], so timestamps and tokens
// stay fresh. Retries go through go-retryablehttp with herald's own retry
// policy: network errors, 408, 425, 429, 500, 502, 503 and 504 are retried
// with full-jitter exponential backoff, honouring a capped Retry-After;
// everything else ends the delivery with a [*DeliveryError].
//
// A destination may want only some topics ([Destination.Topics], asked
// through [Destination.Wants]). Its patterns follow herald's one topic
// grammar, the one listener.On and the relay use, given with valid and
// invalid examples at [ValidatePattern]: "job:ready", "job:*", "*:created",
// "**" are patterns; "job", "job:ready:now" and "job:**" are not.
//
// A receiver that wants more than a signature gets it per destination: a
// client certificate ([Destination.ClientCert], mutual TLS) and an OAuth2
// access token of the client credentials grant ([OAuth2]), fetched through
// the same guarded connections.
//
// Each attempt is a POST of the Message's body with these headers:
// Destination.Headers first, then User-Agent (herald/ and the version),
// Content-Type (Message.ContentType, else application/json), the
// Signer's headers (for every scheme, webhook-id: the delivery id, which
// Destination.Headers cannot replace), traceparent when the attempt is
// traced (by the Sender, or under the caller's trace), and Authorization:
// Bearer with an OAuth2 token. The topic is not sent apart from the body;
// a JWT signs it as a claim.
//
// Durable, scheduled redelivery (minutes to a day) is the job of an outbox
// built on top of Send; Send itself keeps nothing once it returns.
package sender

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/internal/version"
	"github.com/heraldhq/herald/internal/wire"
)

// userAgent is the User-Agent header value of every request.
var userAgent = []string{"herald/" + version.Version}

// defaultContentType is the Content-Type of a Message without one.
var defaultContentType = []string{"application/json"}

// maxResponseBody bounds how much of a response body is kept in a [Result].
// Up to a further [maxDiscard] bytes are read and dropped, so that the
// connection can be reused; a longer body closes the connection.
const maxResponseBody = 64 << 10

// maxDiscard bounds the response bytes read past maxResponseBody.
const maxDiscard = 256 << 10

// Message is one webhook to deliver.
type Message struct {
	// ID is the delivery id, sent as webhook-id on every attempt (and as
	// the JWT jti). Empty means a new UUIDv7.
	ID string
	// Topic is the event topic, if any; signers may include it (JWT).
	// Routers match it against [Destination.Topics], which select
	// "domain:action" topics only.
	Topic string
	// Body is sent as is, re-read on every attempt and never modified or
	// copied. net/http may still be writing it for a moment after Send
	// returned (to a receiver that answered before it had read it all):
	// do not write to its array afterwards, nor hand the array to
	// another Send meanwhile.
	Body []byte
	// ContentType defaults to application/json.
	ContentType string
	// CallerRetries says the caller tries a failed delivery again later,
	// as an outbox queue with attempts left in its schedule does. Send
	// then makes a single attempt, so that no retry wait holds the
	// caller's goroutine (the caller waits, as it likes, and
	// [Result.RetryAfter] says how long the destination asked for), and
	// logs a failure that may succeed later at Info rather than Warn,
	// leaving the final verdict (and its Warn) to the caller.
	CallerRetries bool
	// EventID is the id of the event this message was made from, if any
	// (listener.Forward sets it). It is not sent on the wire: Send ignores
	// it, and an outbox queue keeps it so that a dead letter can be traced
	// to its event.
	EventID string
	// PartitionKey, if set, names the sequence the message belongs to (an
	// order, an account): an outbox queue delivers the messages of one key
	// to a destination with [Destination.Ordered] one at a time, in the
	// order they were enqueued. At most 256 bytes without control
	// characters. Send ignores it.
	PartitionKey string
}

// Result describes a finished delivery, successful or not.
type Result struct {
	// ID is the delivery id: Message.ID or the one Send made.
	ID string
	// Attempts is how many requests were made.
	Attempts int
	// Status is the last HTTP status, 0 when no response came.
	Status int
	// Latency runs from the start of Send to its end, waits included.
	Latency time.Duration
	// Body holds at most 64 KiB of the last response body.
	Body []byte
	// RetryAfter is the wait the destination asked for with the
	// Retry-After header of its last answer, when that was 429 or 503;
	// zero otherwise. An outbox queue pauses the destination for it.
	RetryAfter time.Duration
}

// Sender delivers messages. Its zero value is ready to use with the
// defaults; set fields before the first Send and do not change them after.
// A Sender keeps a pool of connections: share one across goroutines (it is
// safe for concurrent use) rather than making one per delivery.
type Sender struct {
	// Retry bounds the in-process retries of each delivery.
	Retry RetryPolicy
	// AttemptTimeout bounds each attempt, from dialing to the response
	// headers; default 30 seconds. The context given to Send
	// bounds the whole delivery.
	AttemptTimeout time.Duration
	// TLS configures root CAs and client certificates (mTLS). It is
	// cloned; MinVersion is raised to TLS 1.2 and a session cache added.
	TLS *tls.Config
	// AllowHTTP permits http:// URLs, for local development. Without it
	// they fail with [ErrInsecureURL].
	AllowHTTP bool
	// AllowNetworks exempts prefixes from the address guard, which
	// otherwise refuses loopback, private, link-local, CGNAT, ULA,
	// multicast and reserved addresses with [ErrBlockedAddr]. For tests
	// (127.0.0.0/8) and internal deployments.
	AllowNetworks []netip.Prefix
	// Logger receives a line per retry (Info) and per failed delivery
	// (Warn; Info when Message.CallerRetries and the failure is
	// retryable), and per successful one (Debug). Nil means no logs. Lines
	// carry ids, statuses and redacted URLs, never secrets, signatures,
	// tokens or query strings. Through an outbox Queue, whose every
	// attempt is one Send (attempts=1), they also carry outbox_attempt,
	// the number of the Queue's attempt.
	Logger *slog.Logger
	// LookupNetIP resolves destination host names, as the method of
	// *net.Resolver does; nil means net.DefaultResolver.LookupNetIP. Tests
	// set it to make a name resolve to any address. It is called from
	// net/http's dialing goroutine: a panic in it is recovered, logged at
	// Error with its stack (through Logger, else slog.Default), and fails
	// the attempt as a DNS failure would.
	LookupNetIP func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// OnAttempt, if set, is called after every attempt, from the
	// goroutine running Send, for metrics and tests. It must not block.
	OnAttempt func(Attempt)
	// TracerProvider makes a span per Send ("herald.send"; through an
	// outbox Queue, with the Queue's attempt number) with a child per HTTP
	// request ("herald.attempt": delivery id, destination name, attempt
	// number, status, retry wait; never a URL, header value, signature or
	// secret). Nil means the otel global provider as it is at
	// the first Send: while no program has set it, no span is made. Either
	// way, each request carries the W3C traceparent header of its span, or
	// of the span context in Send's ctx, if any.
	TracerProvider trace.TracerProvider
	// MeterProvider records herald_delivery_attempts_total{destination,code}
	// and herald_delivery_duration_seconds{destination} for every HTTP
	// request the Sender makes (net/http may, unseen, send one again on
	// another connection when a kept-alive one died before any answer:
	// the receiver then sees two or more for one count, at most one per
	// connection the Sender keeps to it, within the attempt's
	// AttemptTimeout). Nil means the otel global
	// provider, by the rule of TracerProvider. An outbox Queue counts
	// through its Sender's.
	MeterProvider metric.MeterProvider

	initOnce  sync.Once
	tel       *senderTelemetry // nil when telemetry is off
	policy    RetryPolicy
	timeout   time.Duration
	transport *http.Transport
	client    *http.Client
	pool      sync.Pool // of *delivery
	urls      sync.Map  // of destination URL string to *destURL
	nurls     atomic.Int64
	certs     sync.Map // of *tls.Certificate to its *http.Client
	ncerts    atomic.Int64
	tokens    sync.Map // of tokenKey to *tokenCache
	ntokens   atomic.Int64
}

// init builds the transport and client on first use.
func (s *Sender) init() {
	s.initOnce.Do(func() {
		s.policy = s.Retry.withDefaults()
		s.timeout = positiveOr(s.AttemptTimeout, defaultAttemptTimeout)
		s.transport = s.newTransport()
		s.client = &http.Client{Transport: idleKeeper{s.transport}, CheckRedirect: noRedirect}
		s.tel = s.newTelemetry()
	})
}

// CloseIdleConnections closes the pooled connections that are idle. Call it
// when the Sender is no longer needed.
func (s *Sender) CloseIdleConnections() {
	s.init()
	s.transport.CloseIdleConnections()
	s.closeCertIdle()
}

// Send delivers msg to dest, retrying as [Sender.Retry] allows, and returns
// once the destination answered 2xx or the delivery failed. The Result is
// filled in both cases. A failure is a [*DeliveryError] wrapping the
// sentinel errors of this package, and ctx's error when ctx ended the
// delivery; cancelling ctx stops a retry wait at once.
func (s *Sender) Send(ctx context.Context, dest Destination, msg Message) (Result, error) {
	s.init()
	start := time.Now()
	if ctx == nil {
		ctx = context.Background()
	}
	id := msg.ID
	if id == "" {
		id = newID(start)
	}
	res := Result{ID: id}
	if err := checkMessage(dest.Name, id, msg.ContentType, dest.Headers); err != nil {
		return Result{}, &DeliveryError{Destination: shownName(dest.Name), Err: err}
	}
	fail := func(label string, err error) (Result, error) {
		res.Latency = time.Since(start)
		derr := &DeliveryError{ID: id, Destination: label, Err: err, Retryable: retryableSetup(err)}
		s.logFailure(ctx, derr, msg.CallerRetries)
		return res, derr
	}

	du, label, err := s.parseURL(dest.URL)
	if dest.Name != "" {
		label = dest.Name
	}
	if err != nil {
		return fail(label, err)
	}
	client, tokens := s.client, (*tokenCache)(nil)
	if dest.ClientCert != nil || dest.OAuth2 != nil {
		if client, tokens, err = s.destClient(&dest); err != nil {
			return fail(label, err)
		}
	}

	d := s.getDelivery()
	defer s.putDelivery(d)
	d.rc.HTTPClient, d.tokens = client, tokens
	d.parent = ctx
	d.dest, d.msg, d.id, d.label, d.start, d.attemptStart = dest, msg, id, label, start, start
	d.startTrace()
	d.max = s.policy.MaxAttempts
	if msg.CallerRetries {
		d.max = 1 // the caller waits and retries, not this goroutine
	}
	d.rc.RetryMax = d.max - 1
	if tokens != nil {
		d.rc.RetryMax++ // room for the retry after a 401
	}
	if err := d.firstRequest(du, start); err != nil {
		d.attempt.Release()
		d.endSpan(err)
		return fail(label, err)
	}

	resp, err := d.rc.Do(&d.rreq)
	if resp != nil {
		if d.signErr == nil {
			res.Body = readBody(resp)
		} else {
			resp.Body.Close() // already drained by go-retryablehttp
		}
	}
	d.attempt.Release()
	res.Attempts, res.Status, res.RetryAfter = d.attempts, d.status, d.retryAfter
	res.Latency = time.Since(start)

	if d.signErr == nil && d.cause == nil && err == nil {
		d.endSpan(nil)
		s.logSuccess(ctx, &res, label)
		return res, nil
	}
	derr := d.failure(ctx, err)
	d.endSpan(derr)
	s.logFailure(ctx, derr, msg.CallerRetries)
	return res, derr
}

// firstRequest makes the first attempt's request, signed, with its body and
// the first attempt's context, as d.rreq.
func (d *delivery) firstRequest(du *destURL, start time.Time) error {
	// The request is what http.NewRequestWithContext would make of
	// dest.URL. It shares the cached URL, which nothing modifies: net/http
	// treats Request.URL as read-only (it clones it before any change),
	// and so do go-retryablehttp and this package.
	tmpl := http.Request{
		Method: http.MethodPost, URL: du.url, Host: du.url.Host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, len(d.dest.Headers)+8),
	}
	req := tmpl.WithContext(d.startAttempt(start))
	if err := d.fill(req.Header); err != nil {
		return err
	}
	// The body is set here and in prepareRetry rather than through
	// go-retryablehttp's SetBody, which would allocate closures for it.
	d.setBody(req)
	d.rreq.Request = req
	return nil
}

// failure is the DeliveryError of a delivery that did not succeed, from
// what checkRetry recorded and the error go-retryablehttp returned: a
// signing failure, the caller's context ending it (with the last cause),
// retries exhausted on a retryable cause (errGaveUp; the cause alone when
// the caller retries), or a final cause.
func (d *delivery) failure(ctx context.Context, err error) *DeliveryError {
	derr := &DeliveryError{ID: d.id, Destination: d.label, status: d.status, attempts: d.attempts}
	cause := d.cause
	switch {
	case d.signErr != nil:
		derr.Err = d.signErr
		derr.Retryable = retryableSetup(d.signErr)
	case ctx.Err() != nil:
		derr.Retryable = true
		// The cause, when the context was cancelled with one: a Queue
		// cuts an attempt at half its lease with DeadlineExceeded.
		ended := context.Cause(ctx)
		switch {
		case cause == nil || errors.Is(cause, ctx.Err()) || errors.Is(cause, ended):
			derr.Err = ended
		default:
			derr.Err = fmt.Errorf("%w (last attempt: %w)", ended, cause)
		}
	case cause == nil:
		// go-retryablehttp failed without a classified attempt.
		derr.Retryable = true
		derr.Err, _ = classify(nil, err, d.s.timeout)
	case d.retryable && d.msg.CallerRetries:
		derr.Retryable = true
		derr.Err = cause // nothing ran out: the caller tries again
	case d.retryable:
		derr.Retryable = true
		derr.Err = fmt.Errorf("%w: %w", errGaveUp, cause)
	default:
		derr.Err = cause
	}
	return derr
}

// ErrInvalidMessage: the message's ID or ContentType, or one of the
// destination's Headers, cannot be sent as a header (too long, not a
// token name, with control characters, or a header of the connection:
// Connection, Upgrade, Transfer-Encoding, TE), or the destination's Name
// would not show as itself in a log (not UTF-8, or with a control
// character, line separator or bidi control). Send refuses it before any
// attempt, and Deliver refuses destinations and messages that differ in
// number.
var ErrInvalidMessage = errors.New("invalid message")

// checkMessage refuses a destination name that would not show as itself
// in a log (wire.CheckText), and an id, content type or destination header
// that cannot be sent as a header, before any attempt, rather than letting
// net/http fail every attempt. An empty id is fine: Send makes one.
func checkMessage(name, id, contentType string, headers http.Header) error {
	if err := wire.CheckText(name); err != nil {
		// Not quoted: it is what is wrong.
		return fmt.Errorf("%w: Destination.Name %w", ErrInvalidMessage, err)
	}
	if id != "" {
		if err := wire.CheckID(id); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
		}
	}
	if len(contentType) > wire.MaxIDLen {
		return fmt.Errorf("%w: ContentType longer than %d bytes", ErrInvalidMessage, wire.MaxIDLen)
	}
	if err := wire.CheckHeader("Content-Type", contentType); err != nil {
		return fmt.Errorf("%w: ContentType: %w", ErrInvalidMessage, err)
	}
	for name, vs := range headers {
		for _, v := range vs {
			if err := wire.CheckHeader(name, v); err != nil {
				// The value is not quoted: it may be a credential.
				return fmt.Errorf("%w: Destination.Headers: %w", ErrInvalidMessage, err)
			}
		}
	}
	return nil
}

// shownName is name when it shows as itself in an error and a log line,
// else "" (see [Destination.Name]).
func shownName(name string) string {
	if _, ok := wire.Displayable(name); ok {
		return name
	}
	return ""
}

// readBody keeps at most maxResponseBody bytes of the body, discards up to
// maxDiscard more so the connection can be reused, and closes it.
func readBody(resp *http.Response) []byte {
	defer resp.Body.Close()
	if resp.ContentLength == 0 { // Send only POSTs, so no HEAD case
		return nil
	}
	size := int64(512)
	if resp.ContentLength > 0 {
		size = min(resp.ContentLength, maxResponseBody)
	}
	buf := make([]byte, 0, size)
	for len(buf) < maxResponseBody {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := resp.Body.Read(buf[len(buf):min(cap(buf), maxResponseBody)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return buf
		}
	}
	discard(resp.Body)
	return buf
}
