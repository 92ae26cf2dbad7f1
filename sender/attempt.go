package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/heraldhq/herald/auth"
)

// Attempt describes one finished attempt of a delivery, as passed to
// [Sender.OnAttempt].
type Attempt struct {
	// ID is the delivery id, the same for every attempt.
	ID string
	// Destination is the destination's name, or its redacted URL.
	Destination string
	// Number counts attempts from 1.
	Number int
	// Status is the HTTP status, 0 when no response came.
	Status int
	// Err is nil on success, else the cause, wrapping a sentinel error.
	Err error
	// Duration is how long the attempt took.
	Duration time.Duration
	// Retry reports whether another attempt follows, after Wait.
	Retry bool
	// Wait is the pause before the next attempt, as the backoff computed
	// it (a capped Retry-After included); zero when Retry is false.
	Wait time.Duration
}

// delivery is the state of one Send, reachable from the go-retryablehttp
// callbacks. It embeds the retryablehttp.Client whose callbacks are bound
// to it, and is pooled so that a delivery allocates neither.
type delivery struct {
	s       *Sender
	rc      retryablehttp.Client
	rreq    retryablehttp.Request
	getBody func() (io.ReadCloser, error) // d.newBody, bound once

	// parent is the context given to Send, kept for the length of one
	// Send call, since go-retryablehttp hands its callbacks only the
	// request's context. actx, a child of parent, is the attempts'
	// context. The per-attempt timeout is one timer per pooled delivery,
	// re-armed for each attempt (startAttempt, endAttempt), which cancels
	// actx with context.DeadlineExceeded as the cause when it fires; the
	// next attempt then gets a fresh child of parent, while an attempt that
	// did not time out leaves actx to the next one. This allocates less
	// than a context.WithTimeout per attempt and spares a timer set-up
	// and tear-down per delivery.
	parent  context.Context
	actx    context.Context
	acancel context.CancelCauseFunc
	timer   *time.Timer // runs onTimeout

	tmu          sync.Mutex              // guards the fields below
	armed        context.CancelCauseFunc // what the timer cancels; nil when disarmed
	deadline     time.Time               // of the armed attempt
	timedOut     bool                    // whether the timer cancelled the current attempt
	timerPending bool                    // whether the timer is set to fire

	dest  Destination
	msg   Message
	id    string
	label string

	start, attemptStart time.Time
	attempts            int
	status              int
	cause               error // of the last attempt; nil on success
	retryable           bool  // whether cause is worth another attempt
	wait                time.Duration
	signErr             error
}

func (s *Sender) getDelivery() *delivery {
	if d, ok := s.pool.Get().(*delivery); ok {
		return d
	}
	d := &delivery{s: s}
	d.getBody = d.newBody
	d.timer = time.AfterFunc(time.Hour, d.onTimeout)
	d.timer.Stop() // until startAttempt
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
	d.parent, d.actx, d.acancel, d.rreq = nil, nil, nil, retryablehttp.Request{}
	d.dest, d.msg = Destination{}, Message{}
	d.id, d.label = "", ""
	d.attempts, d.status, d.wait = 0, 0, 0
	d.cause, d.retryable, d.signErr = nil, false, nil
	s.pool.Put(d)
}

// startAttempt arms the attempt timer for an attempt starting at now and
// returns the attempt's context: actx, or a fresh one if there is none yet
// or the last attempt timed out.
func (d *delivery) startAttempt(now time.Time) context.Context {
	if d.actx == nil || d.actx.Err() != nil {
		if d.acancel != nil {
			d.acancel(nil)
		}
		d.actx, d.acancel = context.WithCancelCause(d.parent)
	}
	d.tmu.Lock()
	d.armed, d.timedOut = d.acancel, false
	d.deadline = now.Add(d.s.timeout)
	// A timer still pending from an earlier attempt fires before this
	// deadline, as the timeout does not change, and onTimeout then
	// re-arms it for the rest: one Reset per timeout period rather than
	// a Reset and a Stop per attempt.
	if !d.timerPending {
		d.timerPending = true
		d.timer.Reset(time.Until(d.deadline))
	}
	d.tmu.Unlock()
	return d.actx
}

// endAttempt disarms the attempt timer; it may still fire, to no effect.
func (d *delivery) endAttempt() {
	d.tmu.Lock()
	d.armed = nil
	d.tmu.Unlock()
}

// finish disarms the attempt timer and releases actx, at the end of Send.
func (d *delivery) finish() {
	d.endAttempt()
	d.acancel(nil)
}

// onTimeout runs when the attempt timer fires. It ends the armed attempt
// if its deadline has passed, re-arms the timer for the rest if it has not
// (the timer was set for an earlier attempt), and does nothing when no
// attempt is armed.
func (d *delivery) onTimeout() {
	d.tmu.Lock()
	d.timerPending = false
	cancel := d.armed
	if cancel == nil {
		d.tmu.Unlock()
		return
	}
	if rest := time.Until(d.deadline); rest > 0 {
		d.timerPending = true
		d.timer.Reset(rest)
		d.tmu.Unlock()
		return
	}
	d.armed, d.timedOut = nil, true
	d.tmu.Unlock()
	cancel(context.DeadlineExceeded)
}

// attemptTimedOut reports whether the timer ended the current attempt.
func (d *delivery) attemptTimedOut() bool {
	d.tmu.Lock()
	defer d.tmu.Unlock()
	return d.timedOut
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
	// connection. An empty value marks it without sending the header.
	h["Idempotency-Key"] = nil
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
			return fmt.Errorf("%w: %w", ErrSign, err)
		}
	}
	if h[auth.HeaderWebhookID] == nil {
		h[auth.HeaderWebhookID] = []string{d.id}
	}
	return nil
}

// checkRetry is the go-retryablehttp CheckRetry: it classifies the attempt,
// decides whether another is worth making within the policy and the
// caller's deadline, computes the wait, and reports the attempt.
func (d *delivery) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	now := time.Now()
	d.attempts++
	d.status = 0
	if resp != nil {
		d.status = resp.StatusCode
	}
	d.cause, d.retryable = classify(resp, err, d.s.timeout)
	if err != nil && errors.Is(err, context.Canceled) && d.attemptTimedOut() {
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
	retry := d.retryable && d.attempts < d.s.policy.MaxAttempts
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

// backoff is the go-retryablehttp Backoff: the wait checkRetry computed.
func (d *delivery) backoff(_, _ time.Duration, _ int, _ *http.Response) time.Duration {
	return d.wait
}

// prepareRetry is the go-retryablehttp PrepareRetry: fresh headers and a
// fresh signature for the next attempt, on the copy of the request that
// go-retryablehttp made.
func (d *delivery) prepareRetry(req *http.Request) error {
	d.endAttempt() // the previous response body has been drained
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

// report tells OnAttempt and the logger about the attempt that just ended.
func (d *delivery) report(ctx context.Context, now time.Time, retry bool) {
	s := d.s
	if s.OnAttempt != nil {
		s.OnAttempt(Attempt{
			ID: d.id, Destination: d.label, Number: d.attempts, Status: d.status,
			Err: d.cause, Duration: now.Sub(d.attemptStart), Retry: retry, Wait: d.wait,
		})
	}
	if retry && s.Logger != nil && s.Logger.Enabled(ctx, slog.LevelInfo) {
		s.Logger.LogAttrs(ctx, slog.LevelInfo, "webhook attempt failed, retrying",
			slog.String("id", d.id), slog.String("destination", d.label),
			slog.Int("attempt", d.attempts), slog.Int("status", d.status),
			slog.String("error", d.cause.Error()), slog.Duration("wait", d.wait))
	}
}

// classify turns the outcome of one attempt into a cause (nil on success)
// that wraps this package's sentinels, and says whether it is worth
// retrying. It drops the *url.Error wrapper of net/http, whose text quotes
// the whole URL, query string included.
func classify(resp *http.Response, err error, timeout time.Duration) (error, bool) {
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var ne net.Error
		switch {
		case errors.Is(err, ErrBlockedAddr), errors.Is(err, ErrInvalidURL):
			return err, false
		case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
			return fmt.Errorf("%w (limit %s per attempt)", ErrTimeout, timeout), true
		case isCertError(err):
			return fmt.Errorf("%w: %w", ErrNetwork, err), false
		default:
			return fmt.Errorf("%w: %w", ErrNetwork, err), true
		}
	}
	if resp == nil {
		return fmt.Errorf("%w: no response", ErrNetwork), true
	}
	code := resp.StatusCode
	switch {
	case code >= 200 && code <= 299:
		return nil, false
	case code == http.StatusGone:
		return ErrGone, false
	case code >= 300 && code <= 399:
		// The Location header is not quoted: it may carry a query string.
		return fmt.Errorf("%w: status %d", ErrRedirect, code), false
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code == http.StatusTooManyRequests:
		return fmt.Errorf("%w: status %d", ErrRateLimited, code), true
	case code >= 500 && code <= 599:
		return fmt.Errorf("%w: status %d", ErrServer, code), retryableStatus(code)
	case code >= 400 && code <= 499:
		return fmt.Errorf("%w: status %d", ErrRejected, code), false
	default:
		return fmt.Errorf("%w: unexpected status %d", ErrRejected, code), false
	}
}

// isCertError reports whether err is a TLS failure that retrying cannot
// fix: an untrusted or mismatched certificate, or a peer that does not
// speak TLS.
func isCertError(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		rh tls.RecordHeaderError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) ||
		errors.As(err, &ci) || errors.As(err, &rh)
}

// discard reads and drops up to maxDiscard bytes so that the connection can
// go back to the pool.
func discard(r io.Reader) {
	_, _ = io.CopyN(io.Discard, r, maxDiscard)
}
