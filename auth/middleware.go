package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/httpserver"
)

// defaultMaxBodyBytes is the largest request body [Middleware] reads unless
// told otherwise with [WithMaxBodyBytes]: 1 MiB.
const defaultMaxBodyBytes = 1 << 20

// defaultReplayWindow is how long [Middleware] remembers an accepted
// delivery id unless told otherwise with [WithReplayWindow].
//
// It is twice [defaultTolerance]: a verifier accepts a request signed at T
// from T-tolerance to T+tolerance, so the first and the last moment one
// signed request can pass lie at most 2×tolerance apart. An id remembered
// that long from its first use stays remembered for as long as its
// signature is fresh. Raise it along with WithTolerance. A JWT's id is
// remembered until the token expires (its exp, plus the leeway) when that
// is later, whatever the window.
const defaultReplayWindow = 2 * defaultTolerance

// bodyPrealloc caps the buffer allocated up front from a declared
// Content-Length, so that a client announcing a large body and sending a
// few bytes costs little; larger bodies grow the buffer as they arrive.
const bodyPrealloc = 64 << 10

// ErrReplay: a request with the same id is still being handled, or the
// replay cache is full of ids being handled.
// [Middleware] answers it 503 with Retry-After, so that the sender tries
// again once the first request has finished. (A request whose id was
// handled already is answered 200 without running the handler again.)
var ErrReplay = errors.New("replayed request")

// ErrBodyTooLarge: [Middleware] refused a body over its limit.
var ErrBodyTooLarge = errors.New("request body too large")

// ErrBusy: [Middleware] holds as many request bodies as it may (64 of its
// [WithMaxBodyBytes] at once) and answered 503 with Retry-After before
// reading this one's, so that the sender tries again later. Every body is
// read whole before it can be verified: without the bound, clients that
// promise large bodies and stall would hold that much memory each.
var ErrBusy = errors.New("too many request bodies held at once")

// errReadBody: the request body could not be read (the client went away,
// or sent a malformed chunked body). Answered with 400.
var errReadBody = errors.New("cannot read request body")

// errNoVerifier: Middleware was given a nil Verifier; it refuses everything.
var errNoVerifier = errors.New("auth: no verifier configured")

// A MiddlewareOption tunes [Middleware]. It is a type of its own so that
// scheme options ([StandardOption], [HubOption], [StripeOption], [JWTOption])
// and middleware options cannot be mixed up.
type MiddlewareOption func(*middlewareConfig)

type middlewareConfig struct {
	maxBody int64
	cache   ReplayCache
	window  time.Duration
	onError func(w http.ResponseWriter, r *http.Request, status int, err error)
	logger  *slog.Logger
	now     func() time.Time // test hook
}

// WithMaxBodyBytes sets the largest body [Middleware] accepts; a larger one
// is refused with 413 Request Entity Too Large and [ErrBodyTooLarge], before
// any verification. Default 1 MiB; n <= 0 keeps it.
func WithMaxBodyBytes(n int64) MiddlewareOption {
	return func(c *middlewareConfig) {
		if n > 0 {
			c.maxBody = n
		}
	}
}

// WithReplayCache sets where [Middleware] records accepted delivery ids
// (see the steps of Middleware for what it does with them). Share one cache
// between the receivers of a fleet so that a request cannot be replayed to
// another instance, and a sender's retry is recognised by all of them.
//
// By default each Middleware call gets a private cache of
// 100,000 ids (NewReplayCache(0)). WithReplayCache(nil) disables replay
// checking: a captured request can then be played again for as long as
// its timestamp is within the verifier's tolerance, so do it only when the
// handler deduplicates on [Verified.ID] itself.
func WithReplayCache(c ReplayCache) MiddlewareOption {
	return func(cfg *middlewareConfig) { cfg.cache = c }
}

// WithReplayWindow sets how long an accepted id is remembered. It must be at
// least twice the verifiers' tolerance, or a request may be replayed once
// its id is forgotten but its timestamp is still accepted: a verifier
// accepts a request signed at T from T-tolerance to T+tolerance, so the
// first and the last moment one signed request can pass lie 2×tolerance
// apart. Default 10 minutes, twice the default tolerance. Whatever the
// window, a JWT's id is remembered until the token expires (its exp plus
// the leeway), and a Standard or Stripe request's until its timestamp
// leaves the verifier's tolerance, when that is later. d <= 0 keeps the
// default.
func WithReplayWindow(d time.Duration) MiddlewareOption {
	return func(c *middlewareConfig) {
		if d > 0 {
			c.window = d
		}
	}
}

// WithErrorHandler replaces how [Middleware] answers a refused request, for
// instance to write JSON. status is 413 for [ErrBodyTooLarge], 400 when the
// body could not be read, 401 for every verification failure, 503 for
// [ErrReplay] and [ErrBusy] (Retry-After is already set), and 500 if the Middleware has
// no Verifier; err matches the package's sentinel errors with [errors.Is].
// The default writes a short plain-text reason naming the sentinel, and
// never a header value. A nil f keeps the default.
func WithErrorHandler(f func(w http.ResponseWriter, r *http.Request, status int, err error)) MiddlewareOption {
	return func(c *middlewareConfig) {
		if f != nil {
			c.onError = f
		}
	}
}

// WithLogger makes [Middleware] log each refusal at level Warn, with its
// status, reason and the remote address, and each accepted request at
// level Debug with its scheme and key id, and each duplicate it answers
// itself at level Info with its id. It never logs headers or the body. The
// default, nil, logs nothing.
func WithLogger(l *slog.Logger) MiddlewareOption {
	return func(c *middlewareConfig) { c.logger = l }
}

// Middleware returns net/http middleware that lets through only requests
// that v verifies. For each request it
//
//  1. reads the body, at most [WithMaxBodyBytes] bytes (413 beyond),
//     when it holds fewer than 64 bodies of that size (by their
//     Content-Length, or that size when they give none; 503 with
//     Retry-After and [ErrBusy] otherwise, before reading it);
//  2. calls v.Verify with the headers and the exact body (401 on failure,
//     with the reason as plain text);
//  3. when the verified request has an ID (every scheme of this package
//     gives one, from signed bytes only: see [Verified.ID]), looks it up
//     in the replay cache (see [WithReplayCache]): a request whose id was
//     handled already is answered 200 without calling next, and one
//     whose id is still being handled 503 with Retry-After and
//     [ErrReplay], as is any new id while the cache is full of ids being
//     handled;
//  4. calls next with the body restored, so that next reads the same bytes,
//     and the [Verified] result in the request context (see [FromContext]).
//
// Senders retry with the same id whenever they did not see a success,
// including when the answer was lost or the sender died before recording
// it. So an id counts as handled only once next answers with a status
// below 400; if next fails or panics the id is dropped from the cache, and
// the retry runs next afresh. A captured request played again within its
// tolerance gets the same 200 and never runs next twice. Each id is
// remembered for the replay window (see [WithReplayWindow]), or until its
// JWT expires if that is later.
//
// When v also has a method VerifyContext(ctx, header, body), as every [*Scheme] does,
// Middleware calls it with the request's context, which then bounds any key
// fetch (a [*JWKS]).
//
// Middleware does not restrict methods or content types; next decides.
// A nil v (or a nil *Scheme, such as a constructor returns with an error,
// or a zero one) refuses every request with 500; a nil next answers 200.
func Middleware(v Verifier, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	if s, ok := v.(*Scheme); ok && !s.usable() {
		v = nil
	}
	cfg := middlewareConfig{
		maxBody: defaultMaxBodyBytes,
		cache:   NewReplayCache(0),
		window:  defaultReplayWindow,
		onError: writeError,
		now:     time.Now,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	return func(next http.Handler) http.Handler {
		if next == nil {
			next = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
		}
		h := &verifyHandler{v: v, next: next, cfg: cfg}
		h.cv, _ = v.(contextVerifier)
		return h
	}
}

// verifyHandler is the http.Handler that Middleware wraps around next.
type verifyHandler struct {
	v    Verifier
	cv   contextVerifier // v, when it takes a context; else nil
	next http.Handler
	cfg  middlewareConfig
	// bodies counts the memory the bodies being read or handled hold.
	bodies httpserver.Bodies
}

func (h *verifyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.v == nil {
		h.refuse(w, r, http.StatusInternalServerError, errNoVerifier)
		return
	}
	taken, ok := h.bodies.Take(r.ContentLength, h.cfg.maxBody)
	if !ok {
		w.Header().Set("Retry-After", "1")
		h.refuse(w, r, http.StatusServiceUnavailable, fmt.Errorf("auth: %w", ErrBusy))
		return
	}
	defer h.bodies.Give(taken)
	body, err := readBody(r, h.cfg.maxBody)
	if err != nil {
		if errors.Is(err, ErrBodyTooLarge) {
			// The rest of the body is not worth reading: end the connection
			// after the answer, as http.MaxBytesReader would.
			w.Header().Set("Connection", "close")
		}
		h.refuse(w, r, statusFor(err), err)
		return
	}
	var ver Verified
	if h.cv != nil {
		ver, err = h.cv.VerifyContext(r.Context(), r.Header, body)
	} else {
		ver, err = h.v.Verify(r.Header, body)
	}
	if err != nil {
		h.refuse(w, r, statusFor(err), err)
		return
	}
	finish, ok := h.beginReplay(w, r, ver)
	if !ok {
		return
	}
	if l := h.cfg.logger; l != nil {
		l.LogAttrs(r.Context(), slog.LevelDebug, "auth: webhook verified",
			slog.String("scheme", ver.Scheme), slog.String("key_id", ver.KeyID))
	}

	// One allocation holds the restored body and, when needed, the writer
	// that watches next's status.
	p := &passState{}
	r2 := r.WithContext(NewContext(r.Context(), ver))
	r2.ContentLength = int64(len(body))
	if len(body) == 0 {
		r2.Body = http.NoBody
	} else {
		p.body.Reset(body)
		r2.Body = &p.body
	}

	if finish == nil {
		h.next.ServeHTTP(w, r2)
		return
	}
	sw := &p.w
	sw.ResponseWriter = w
	returned := false
	defer func() {
		finish(returned && sw.status < http.StatusBadRequest)
	}()
	h.next.ServeHTTP(sw, r2)
	returned = true
}

// beginReplay looks ver.ID up in the replay cache, recording it as running
// until the end of the window, or until the request stops passing
// verification if that is later. It answers a duplicate, or a request that
// must wait, itself and returns ok false, as it does, with 500, a state
// the cache should not answer; else it returns the finish of the new run,
// nil when there is no cache or no ID.
func (h *verifyHandler) beginReplay(w http.ResponseWriter, r *http.Request, ver Verified) (finish func(handled bool), ok bool) {
	if h.cfg.cache == nil || ver.ID == "" {
		return nil, true
	}
	until := h.cfg.now().Add(h.cfg.window)
	if ver.replayUntil.After(until) {
		until = ver.replayUntil
	}
	state, finish := h.cfg.cache.Begin(ver.ID, until)
	switch state {
	case ReplayDone:
		h.duplicate(w, r, ver)
		return nil, false
	case ReplayRunning:
		w.Header().Set("Retry-After", "1")
		h.refuse(w, r, http.StatusServiceUnavailable, fmt.Errorf("auth: delivery id is being handled, or the replay cache is full of ids being handled: %w", ErrReplay))
		return nil, false
	case ReplayNew:
		return finish, true
	}
	// A cache of the program's own that answers none of the three: fail
	// closed, as running the handler would drop the replay protection.
	if finish != nil {
		finish(false)
	}
	h.refuse(w, r, http.StatusInternalServerError, fmt.Errorf("auth: the replay cache answered %v, none of new, running and done", state))
	return nil, false
}

// duplicate answers a request whose id was handled already: 200, so that
// the sender records the delivery as done, and next does not run again.
func (h *verifyHandler) duplicate(w http.ResponseWriter, r *http.Request, ver Verified) {
	if l := h.cfg.logger; l != nil {
		l.LogAttrs(r.Context(), slog.LevelInfo, "auth: duplicate webhook acknowledged",
			slog.String("id", ver.ID), slog.String("scheme", ver.Scheme))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, duplicateText+"\n")
}

// duplicateText is the body of the answer to a duplicate.
const duplicateText = "duplicate delivery, already handled"

// contextVerifier is a Verifier whose verification a context can bound.
type contextVerifier interface {
	VerifyContext(ctx context.Context, h http.Header, body []byte) (Verified, error)
}

// refuse logs a refusal, if there is a logger, and answers it.
func (h *verifyHandler) refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	if l := h.cfg.logger; l != nil {
		l.LogAttrs(r.Context(), slog.LevelWarn, "auth: webhook rejected",
			slog.Int("status", status),
			slog.String("reason", reason(err, status)),
			slog.String("remote_addr", r.RemoteAddr))
	}
	h.cfg.onError(w, r, status, err)
}

// readBody reads the whole body, refusing more than maxBytes bytes. The error
// matches ErrBodyTooLarge or errReadBody. It never holds more than maxBytes+1
// bytes, whatever the body or its declared length.
func readBody(r *http.Request, maxBytes int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > maxBytes {
		return nil, errTooLarge(maxBytes)
	}
	limit := int(min(maxBytes, math.MaxInt-1)) + 1 // read one byte more to see an excess
	size := 512
	if r.ContentLength >= 0 {
		size = int(min(r.ContentLength, bodyPrealloc-1)) + 1 // +1: room to see EOF; no overflow at MaxInt64
	}
	buf := make([]byte, 0, min(size, limit))
	for {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(max(2*cap(buf), 512), limit))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case len(buf) == limit:
			return nil, errTooLarge(maxBytes)
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return nil, fmt.Errorf("auth: %w: %w", errReadBody, err)
		}
	}
}

func errTooLarge(maxBytes int64) error {
	return fmt.Errorf("auth: body over %d bytes: %w", maxBytes, ErrBodyTooLarge)
}

// statusFor maps a refusal to its HTTP status.
func statusFor(err error) int {
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errReadBody):
		return http.StatusBadRequest
	default:
		return http.StatusUnauthorized
	}
}

// reasons lists, most specific first, the sentinels whose text is a safe
// public reason for a refusal.
var reasons = []error{
	ErrBodyTooLarge, errReadBody, ErrReplay, ErrBusy,
	ErrNoSignature, ErrMalformed, errNotYetValid, ErrExpired,
	errBodyMismatch, ErrClaims, errAlgorithm, ErrUnknownKey,
	ErrBadSignature, ErrBadKey, errNoPrivateKey,
}

// Reason returns the text of the package's sentinel error that err
// matches (an exported one, or a finer one of the package's own such as
// "timestamp in the future" or "algorithm not allowed"), or "" when it
// matches none: a reason for refusing a request
// that is safe to tell the client, since it never includes the details
// wrapped around the sentinel (which may quote header values, or name a
// key server and why it cannot be reached). Middleware answers with it;
// so should a handler that verifies requests itself, logging the whole
// error instead.
func Reason(err error) string {
	for _, s := range reasons {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return ""
}

// reason is [Reason], else the status text.
func reason(err error, status int) string {
	if r := Reason(err); r != "" {
		return r
	}
	return http.StatusText(status)
}

// writeError is the default error handler: the reason as plain text.
func writeError(w http.ResponseWriter, _ *http.Request, status int, err error) {
	http.Error(w, reason(err, status), status)
}

// passState is what ServeHTTP hands to next, allocated together.
type passState struct {
	body bodyReader
	w    statusWriter
}

// bodyReader is the restored request body.
type bodyReader struct{ bytes.Reader }

// Close does nothing: the bytes stay readable until the reader is dropped.
func (*bodyReader) Close() error { return nil }

// statusWriter records the status that the next handler answers with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush lets handlers that assert http.Flusher keep streaming.
func (s *statusWriter) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
