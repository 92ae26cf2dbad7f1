package sender

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/deadline"
	"github.com/heraldhq/herald/internal/telemetry"
	"github.com/heraldhq/herald/internal/wire"
)

// delivery is the state of one Send, reachable from the go-retryablehttp
// callbacks. It embeds the retryablehttp.Client whose callbacks are bound
// to it, and is pooled so that a delivery allocates neither.
//
// The retry loop is go-retryablehttp's Client.Do, with herald's policy in
// four callbacks of this type. One delivery runs as follows:
//
//  1. Send fills the first request (fill: headers, webhook-id, a fresh
//     signature), gives it an attempt context (startAttempt: the caller's
//     context, bounded by AttemptTimeout), and calls rc.Do.
//  2. Do sends the request. Whatever happens, it calls checkRetry, which
//     classifies the outcome (classify: success, retryable or final,
//     wrapping this package's sentinel errors), reports the attempt
//     (OnAttempt and the log), and decides: no retry on success, on a
//     final failure, when MaxAttempts is reached, when the wait would end
//     past MaxElapsed or the caller's deadline. It computes the wait
//     (RetryPolicy.wait: Retry-After, capped, else full-jitter backoff).
//  3. On a retry, Do drains the response body, asks backoff for the wait
//     (the one checkRetry computed), and sleeps on the caller's context,
//     so cancelling it stops the wait at once.
//  4. Do calls prepareRetry, which re-signs with fresh headers, gives the
//     request a fresh body and a new attempt context, and goes back to 2.
//
// When Do returns, Send turns what checkRetry recorded (attempts, status,
// cause, retryable) into a Result and a [*DeliveryError]. Redirects are
// never followed (noRedirect), and go-retryablehttp logs nothing: the
// Sender's Logger does.
type delivery struct {
	s       *Sender
	rc      retryablehttp.Client
	rreq    retryablehttp.Request
	getBody func() (io.ReadCloser, error) // d.newBody, bound once

	// parent is the context given to Send, kept for the length of one
	// Send call, since go-retryablehttp hands its callbacks only the
	// request's context. attempt bounds each attempt with
	// Sender.AttemptTimeout: its contexts are children of parent, shared
	// by consecutive attempts until one times out (see internal/deadline).
	parent  context.Context
	attempt deadline.Timer

	dest  Destination
	msg   Message
	id    string
	label string

	start, attemptStart time.Time
	attempts            int
	max                 int // attempts this Send may make
	status              int
	retryAfter          time.Duration // asked for by the last 429 or 503
	cause               error         // of the last attempt; nil on success
	retryable           bool          // whether cause is worth another attempt
	wait                time.Duration
	signErr             error

	// tokens is the destination's OAuth2 token cache, nil without OAuth2;
	// bearer is the token the current attempt carries, and reauthed says
	// that a 401 has already made it fetch a new one and try again.
	tokens   *tokenCache
	bearer   string
	reauthed bool

	// span and attemptSpan are the spans of this Send and of its current
	// attempt, nil when tracing is off; callerTrace is then the
	// traceparent of the caller's span context, sent on every attempt.
	span, attemptSpan trace.Span
	callerTrace       string
}

func (s *Sender) getDelivery() *delivery {
	if d, ok := s.pool.Get().(*delivery); ok {
		return d
	}
	d := &delivery{s: s}
	d.getBody = d.newBody
	d.rc = retryablehttp.Client{
		HTTPClient:   s.client,
		Logger:       nil, // logging goes through Sender.Logger only
		RetryMax:     s.policy.MaxAttempts - 1,
		CheckRetry:   d.checkRetry,
		Backoff:      d.backoff,
		PrepareRetry: d.prepareRetry,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	return d
}

func (s *Sender) putDelivery(d *delivery) {
	d.parent, d.rreq = nil, retryablehttp.Request{}
	d.dest, d.msg = Destination{}, Message{}
	d.id, d.label = "", ""
	d.attempts, d.status, d.wait, d.retryAfter = 0, 0, 0, 0
	d.cause, d.retryable, d.signErr = nil, false, nil
	d.tokens, d.bearer, d.reauthed = nil, "", false
	d.span, d.attemptSpan, d.callerTrace = nil, nil, ""
	s.pool.Put(d)
}

// startAttempt arms the attempt timer for an attempt starting at now and
// returns the attempt's context.
func (d *delivery) startAttempt(now time.Time) context.Context {
	return d.attempt.Start(d.parent, now, d.s.timeout)
}

// newBody returns a reader over the message body for one attempt (and is
// the request's GetBody, so that net/http can replay a request that died on
// a stale pooled connection). Each attempt gets its own reader, as net/http
// may still be reading the previous one when the next attempt starts. It is
// an io.NopCloser around a *bytes.Reader because net/http recognises that
// pair as in-memory and then sends headers and body in one TLS record
// instead of flushing the headers first.
func (d *delivery) newBody() (io.ReadCloser, error) {
	if len(d.msg.Body) == 0 {
		return http.NoBody, nil
	}
	return io.NopCloser(bytes.NewReader(d.msg.Body)), nil
}

// setBody gives req a fresh body for the next attempt.
func (d *delivery) setBody(req *http.Request) {
	req.ContentLength = int64(len(d.msg.Body))
	req.GetBody = d.getBody
	req.Body, _ = d.newBody()
}

// fill sets the headers of one attempt on h and signs them afresh.
func (d *delivery) fill(h http.Header) error {
	for k, vs := range d.dest.Headers {
		if len(vs) > 0 {
			h[textproto.CanonicalMIMEHeaderKey(k)] = append([]string(nil), vs...)
		}
	}
	h["User-Agent"] = userAgent
	if d.msg.ContentType != "" {
		h["Content-Type"] = []string{d.msg.ContentType}
	} else {
		h["Content-Type"] = defaultContentType
	}
	// Retrying the same delivery is safe (receivers deduplicate on the
	// id), so let net/http replay a request that died on a stale pooled
	// connection. An empty value marks it without sending the header; one
	// that Destination.Headers set marks it as well, and is sent.
	if _, set := h["Idempotency-Key"]; !set {
		h["Idempotency-Key"] = nil
	}
	// webhook-id is the delivery id, whatever Destination.Headers says.
	// auth's signers set it along with their own headers, as cheaply as
	// their scheme allows; only a signer that does not (or none) leaves
	// it to be set here.
	if len(d.dest.Headers) > 0 {
		delete(h, auth.HeaderWebhookID)
	}
	if d.dest.Signer != nil {
		err := d.dest.Signer.Sign(h, auth.Message{ID: d.id, Body: d.msg.Body, URL: d.dest.URL, Topic: d.msg.Topic})
		if err != nil {
			return signError(err)
		}
		if err := checkSigned(h); err != nil {
			return err
		}
	}
	if h[auth.HeaderWebhookID] == nil {
		h[auth.HeaderWebhookID] = []string{d.id}
	}
	telemetry.SetHeader(h, d.traceparent())
	if d.tokens != nil {
		return d.authorize(h)
	}
	return nil
}

// checkSigned refuses headers that a Signer of the caller's set and that
// net/http would not send (a name that is not a token, a value with a line
// break or NUL, a header of the connection): every attempt would fail as a
// network error, retried in vain. It is a signing failure, not retried.
func checkSigned(h http.Header) error {
	for name, vs := range h {
		for _, v := range vs {
			if err := wire.CheckHeader(name, v); err != nil {
				return fmt.Errorf("%w: the Signer set an unsendable header: %w", ErrSign, err)
			}
		}
	}
	return nil
}

// authorize sets the OAuth2 access token on h, fetching one if needed.
func (d *delivery) authorize(h http.Header) error {
	if h["Authorization"] != nil {
		return errAuthorizationTaken
	}
	tok, err := d.tokens.token(d.parent)
	if err != nil {
		return err
	}
	d.bearer = tok
	h["Authorization"] = []string{"Bearer " + tok}
	return nil
}

// checkRetry is the go-retryablehttp CheckRetry: it classifies the attempt,
// decides whether another is worth making within the policy and the
// caller's deadline, computes the wait, and reports the attempt.
func (d *delivery) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	now := time.Now()
	d.attempts++
	d.status, d.retryAfter = 0, 0
	if resp != nil {
		d.status = resp.StatusCode
		if d.status == http.StatusTooManyRequests || d.status == http.StatusServiceUnavailable {
			d.retryAfter, _ = retryAfter(resp.Header, now)
		}
	}
	d.cause, d.retryable = classify(resp, err, d.s.timeout)
	if err != nil && errors.Is(err, context.Canceled) && d.attempt.TimedOut() {
		// The attempt timer cancelled the attempt's context, and net/http
		// reported the context's error rather than its cause (HTTP/2 does).
		d.cause, d.retryable = classify(nil, context.DeadlineExceeded, d.s.timeout)
	}
	d.wait = 0
	if d.cause == nil {
		d.report(ctx, now, false)
		return false, nil
	}
	// ctx is the attempt's; whether to go on depends on the caller's.
	ctx = d.parent
	if cerr := ctx.Err(); cerr != nil {
		if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			d.cause = cerr // the caller's context ended the attempt, not the attempt timeout
		}
		d.report(ctx, now, false)
		return false, cerr
	}
	if d.status == http.StatusUnauthorized && d.tokens != nil && !d.reauthed {
		return d.reauthorize(ctx, now)
	}
	retry := d.retryable && !errors.Is(d.cause, errCertificate) && d.attempts < d.max+btoi(d.reauthed)
	if retry {
		d.wait = d.s.policy.wait(d.attempts, resp, now)
		next := now.Add(d.wait)
		if next.Sub(d.start) > d.s.policy.MaxElapsed {
			retry = false
		} else if dl, ok := ctx.Deadline(); ok && !next.Before(dl) {
			retry = false // waiting would only end in the caller's deadline
		}
		if !retry {
			d.wait = 0
		}
	}
	if retry {
		// go-retryablehttp waits on the request's context: make it the
		// caller's, since the attempt's may have expired.
		d.rreq.Request = d.rreq.Request.WithContext(ctx)
	}
	d.report(ctx, now, retry)
	return retry, nil
}

// reauthorize answers a 401 to an OAuth2 destination, once per delivery:
// the token is dropped, and the next attempt, made at once and not counted
// against MaxAttempts, fetches a new one.
func (d *delivery) reauthorize(ctx context.Context, now time.Time) (bool, error) {
	d.reauthed = true
	d.tokens.invalidate(ctx, d.bearer)
	d.rreq.Request = d.rreq.Request.WithContext(ctx)
	d.report(ctx, now, true)
	return true, nil
}

// btoi is 1 for true, 0 for false.
func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// backoff is the go-retryablehttp Backoff: the wait checkRetry computed.
func (d *delivery) backoff(_, _ time.Duration, _ int, _ *http.Response) time.Duration {
	return d.wait
}

// prepareRetry is the go-retryablehttp PrepareRetry: fresh headers and a
// fresh signature for the next attempt, on the copy of the request that
// go-retryablehttp made.
func (d *delivery) prepareRetry(req *http.Request) error {
	d.attempt.End() // the previous response body has been drained
	d.attemptStart = time.Now()
	h := make(http.Header, len(d.dest.Headers)+8)
	if err := d.fill(h); err != nil {
		d.signErr = err
		return err
	}
	req.Header = h
	d.setBody(req)
	d.rreq.Request = req.WithContext(d.startAttempt(d.attemptStart))
	return nil
}

// discard reads and drops up to maxDiscard bytes so that the connection can
// go back to the pool.
func discard(r io.Reader) {
	_, _ = io.CopyN(io.Discard, r, maxDiscard)
}
