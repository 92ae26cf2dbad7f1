package listener

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/internal/telemetry"
)

// defaultMaxBodyBytes bounds an HTTP event's body when
// [HTTPHandler.MaxBodyBytes] is zero.
const defaultMaxBodyBytes = 1 << 20

// errTooLarge is the text of a 413 answer: no caller handles it apart.
var errTooLarge = errors.New("listener: event too large")

// A Dispatcher delivers an event to handlers. *Listener is one; [Listener.Run]
// gives its sources one that bounds concurrency and refuses events while
// draining.
type Dispatcher interface {
	Dispatch(ctx context.Context, ev *Event) error
}

// HTTPHandler is an HTTP source: an http.Handler that receives one event per
// POST request, in the native JSON envelope (application/json) or as a
// CloudEvent 1.0 in binary (ce-* headers) or structured
// (application/cloudevents+json) mode, dispatches it and answers:
//
//	204 the handlers succeeded (or the event was a duplicate)
//	400 malformed event, a Permanent handler error, or binary mode with a
//	    Verifier: do not redeliver
//	401 the Verifier refused the request
//	403 without a Verifier, a browser's request from another site
//	405 not a POST
//	413 body over MaxBodyBytes
//	415 unsupported content type (non-JSON data, batches, data_base64)
//	500 a handler failed: redeliver later
//	503 the listener is draining, or it holds as many bodies as it may
//	    (see MaxBodyBytes): redeliver later (under [Listener.Run], a
//	    request beyond [WithConcurrency] waits for a slot)
//
// Handlers run before the response is written, so a 2xx means handled.
// A W3C traceparent header puts the event in that trace (see
// [WithTelemetry]); it is not covered by the Verifier's signature, and
// decides nothing but tracing. Only the fields are read; set them before
// serving.
type HTTPHandler struct {
	// Dispatcher receives the events, usually a *Listener. Required
	// (HTTPServer sets it).
	Dispatcher Dispatcher
	// Verifier authenticates each request against its exact body; nil
	// accepts unsigned requests, but not those a browser marks as sent
	// by a page of another site (Sec-Fetch-Site: cross-site or
	// same-site), answered 403: any web page could otherwise post events
	// to an unverified listener on its visitor's machine. Everything that identifies or routes the
	// event must then come from signed bytes, so binary-mode CloudEvents,
	// whose id, type and source are ce-* headers that no scheme signs, are
	// refused with 400; the native envelope and structured mode carry them
	// in the body. It checks signatures and timestamps only. Against
	// replays, give the Listener WithDedupe with a window longer than the
	// Verifier's tolerance (its defaults, 10 minutes against 5, are): a
	// replayed event, whose id and topic come from the signed body, is then
	// skipped while its timestamp is fresh and refused (401) once it is
	// stale. That works under an HTTPServer too, whose handler cannot be
	// wrapped; auth.Middleware around a handler mounted on your own server
	// does the same per request, with a replay cache that also turns away
	// concurrent copies of one request, which WithDedupe runs each (the
	// handler then refuses binary mode as well, seeing the auth.Verified
	// in the request's context). A scheme that signs no timestamp (Hub)
	// cannot make a replay stale: one after the dedupe window runs again.
	// On success the auth.Verified is in the handlers' context
	// (auth.FromContext).
	Verifier auth.Verifier
	// MaxBodyBytes bounds the body; 0 means 1 MiB. At most 64 bodies of
	// this size (by their Content-Length, or this size when they give
	// none) are held in memory at once: a request beyond them is answered
	// 503 before its body is read.
	MaxBodyBytes int64

	// bodies counts the memory the bodies being read or handled hold.
	bodies httpserver.Bodies
}

// ServeHTTP implements http.Handler.
func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, r, http.StatusMethodNotAllowed, "method not allowed", nil)
		return
	}
	if h.Dispatcher == nil {
		h.fail(w, r, http.StatusInternalServerError, "listener: HTTPHandler has no Dispatcher", nil)
		return
	}
	if site := r.Header.Get("Sec-Fetch-Site"); h.Verifier == nil && (site == "cross-site" || site == "same-site") {
		h.fail(w, r, http.StatusForbidden, "forbidden: a browser request from another site, and no Verifier", nil)
		return
	}
	limit := h.MaxBodyBytes
	if limit <= 0 {
		limit = defaultMaxBodyBytes
	}
	if r.ContentLength > limit {
		h.fail(w, r, http.StatusRequestEntityTooLarge, errTooLarge.Error(), nil)
		return
	}
	// Room first: a body is held whole until its event is handled, and
	// clients that stall on large ones must not hold memory without end.
	taken, ok := h.bodies.Take(r.ContentLength, limit)
	if !ok {
		w.Header().Set("Retry-After", "1")
		h.fail(w, r, http.StatusServiceUnavailable, "too many event bodies held at once: retry later", nil)
		return
	}
	defer h.bodies.Give(taken)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.fail(w, r, http.StatusRequestEntityTooLarge, errTooLarge.Error(), nil)
			return
		}
		h.fail(w, r, http.StatusBadRequest, "cannot read body", err)
		return
	}
	ctx := r.Context()
	mode, err := modeOf(r.Header)
	if h.Verifier != nil {
		var ok bool
		if ctx, ok = h.verify(w, r, body, mode, err == nil); !ok {
			return
		}
	} else if v, verified := auth.FromContext(ctx); verified && err == nil && mode == modeBinary {
		// Verified by auth.Middleware around the handler: the signature
		// covers the body, not the ce-* headers, which would name the
		// event (its topic and id) from unsigned bytes.
		h.fail(w, r, http.StatusBadRequest, unsignedAttributes(v.Scheme), nil)
		return
	}
	var ev *Event
	if err == nil {
		ev, err = parseAs(mode, r.Header, body)
	}
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrUnsupported) {
			status = http.StatusUnsupportedMediaType
		}
		h.fail(w, r, status, err.Error(), nil)
		return
	}
	// The W3C trace context of the request, unsigned metadata, decides
	// only which trace the event's deliveries join.
	ctx = telemetry.WithTraceparent(ctx, telemetry.HeaderValue(r.Header))
	if err := h.Dispatcher.Dispatch(ctx, ev); err != nil {
		status, msg := statusFor(err)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		h.reply(w, r, status, msg, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// verify checks the signature of the request r with body, and returns the
// request's context with the auth.Verified in it, or answers the refusal
// and returns false. mode is the request's CloudEvents mode, when known.
func (h *HTTPHandler) verify(w http.ResponseWriter, r *http.Request, body []byte, mode httpMode, known bool) (context.Context, bool) {
	var v auth.Verified
	var err error
	if cv, ok := h.Verifier.(interface {
		VerifyContext(context.Context, http.Header, []byte) (auth.Verified, error)
	}); ok {
		// The request's context bounds any key fetch (a JWKS), as in
		// auth.Middleware.
		v, err = cv.VerifyContext(r.Context(), r.Header, body)
	} else {
		v, err = h.Verifier.Verify(r.Header, body)
	}
	if err != nil {
		// The answer names the sentinel only, as auth.Middleware's does:
		// the whole text can describe the verifier's own configuration (a
		// JWKS URL and why it cannot be fetched). The log has it.
		reason := auth.Reason(err)
		if reason == "" {
			reason = "verification failed"
		}
		h.fail(w, r, http.StatusUnauthorized, "unauthorized: "+reason, err)
		return nil, false
	}
	if known && mode == modeBinary {
		h.fail(w, r, http.StatusBadRequest, unsignedAttributes(v.Scheme), nil)
		return nil, false
	}
	return auth.NewContext(r.Context(), v), true
}

// statusFor maps a dispatch error to a status and a reply that does not
// reveal handler internals (except for payload validation, which concerns
// the sender).
func statusFor(err error) (int, string) {
	switch {
	case IsPermanent(err):
		if reason, ok := rejection(err); ok {
			return http.StatusBadRequest, "event rejected: " + reason
		}
		return http.StatusBadRequest, "event rejected"
	case errors.Is(err, ErrStopped), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "temporarily unavailable"
	default:
		return http.StatusInternalServerError, "handler failed"
	}
}

// rejection returns the first line of the error of err that says the
// event itself is at fault (an invalid payload or event, or one no handler
// takes), and false when there is none. Of the errors of several handlers
// only such a one is told: the first line of them all may be another
// handler's own failure, which the sender must not see.
func rejection(err error) (string, bool) {
	var hs handlerErrors
	if errors.As(err, &hs) {
		for _, e := range hs {
			if reason, ok := rejection(e); ok {
				return reason, true
			}
		}
		return "", false
	}
	if errors.Is(err, ErrInvalidPayload) || errors.Is(err, ErrInvalidEvent) || errors.Is(err, ErrUnhandled) {
		return firstLine(err.Error()), true
	}
	return "", false
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// fail refuses a request before its event is dispatched: it counts as a
// rejected event (see WithTelemetry).
func (h *HTTPHandler) fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	telemetryOf(h.Dispatcher).count(r.Context(), "rejected")
	h.reply(w, r, status, msg, err)
}

// reply logs why a request failed and answers it with status and msg.
func (h *HTTPHandler) reply(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	attrs := []any{"status", status, "reason", msg, "remote", r.RemoteAddr}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	loggerOf(h.Dispatcher).WarnContext(r.Context(), "listener: event refused", attrs...)
	http.Error(w, msg, status)
}

// parseHTTP decodes the event carried by an HTTP request with the given
// header and body, as [HTTPHandler] does, and validates it. The body is a
// structured CloudEvent when Content-Type is application/cloudevents+json, a
// binary-mode CloudEvent when a ce-specversion header is present, and the
// native JSON envelope otherwise (Content-Type application/json or none).
// Errors match [ErrInvalidEvent] or, for content it does not accept,
// [ErrUnsupported].
//
// parseHTTP does not verify anything. In binary mode the event's id, type
// and source come from ce-* headers, which no auth scheme signs: a caller
// that verifies requests itself must refuse binary mode, as HTTPHandler
// does when it has a Verifier.
func parseHTTP(header http.Header, body []byte) (*Event, error) {
	mode, err := modeOf(header)
	if err != nil {
		return nil, err
	}
	return parseAs(mode, header, body)
}

// httpMode is the form an HTTP request carries its event in.
type httpMode int

const (
	modeEnvelope   httpMode = iota // the native envelope: everything in the body
	modeStructured                 // CloudEvents structured: everything in the body
	modeBinary                     // CloudEvents binary: attributes in ce-* headers
)

// modeOf tells the form of a request from its headers, or why it is not
// accepted (an error matching [ErrUnsupported]).
func modeOf(header http.Header) (httpMode, error) {
	mt := ""
	if ct := header.Get("Content-Type"); ct != "" {
		var params map[string]string
		var err error
		if mt, params, err = mime.ParseMediaType(ct); err != nil {
			return 0, fmt.Errorf("%w: malformed Content-Type", ErrUnsupported)
		}
		if !utf8Charset(params) {
			return 0, fmt.Errorf("%w: a charset other than UTF-8 (JSON is UTF-8)", ErrUnsupported)
		}
	}
	switch {
	case mt == contentTypeCloudEvents:
		return modeStructured, nil
	case mt == contentTypeCloudEventsBatch:
		return 0, fmt.Errorf("%w: CloudEvents batches", ErrUnsupported)
	case header.Get("Ce-Specversion") != "":
		return modeBinary, nil
	case mt == "" || mt == "application/json":
		return modeEnvelope, nil
	default:
		return 0, fmt.Errorf("%w: content type %.64q", ErrUnsupported, mt)
	}
}

// utf8Charset reports whether the parameters of a media type name no
// charset, or UTF-8: JSON is UTF-8 (RFC 8259, section 8.1), and a body
// declared in another would be forwarded as UTF-8 JSON, its label lost.
func utf8Charset(params map[string]string) bool {
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8")
}

// parseAs decodes and validates the event of a request in the given mode.
func parseAs(mode httpMode, header http.Header, body []byte) (*Event, error) {
	switch mode {
	case modeStructured:
		return parseStructured(body)
	case modeBinary:
		return parseBinary(header, body)
	default:
		return decodeEnvelope(body)
	}
}

// unsignedAttributes is the reason a verified request in binary mode is
// refused: its ce-* headers, which name, type and place the event, are
// outside what the scheme signs, so a captured request could be replayed
// under another id or type.
func unsignedAttributes(scheme string) string {
	if scheme == "" {
		scheme = "the verifier"
	}
	return "binary-mode CloudEvents attributes are not signed by " + scheme +
		"; send structured mode (Content-Type: " + contentTypeCloudEvents + ")"
}
