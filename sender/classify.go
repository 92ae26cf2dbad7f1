package sender

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/wire"
)

// The causes of a failed attempt, as classify finds them in the answer or
// the network error; [DeliveryError.Err] wraps one of them.
var (
	// ErrGone: the destination answered 410 Gone. It asks not to be called
	// again, so callers should disable it rather than retry later.
	ErrGone = errors.New("destination is gone (410)")
	// ErrRejected: the destination answered a 4xx status that is not worth
	// retrying (anything but 408, 425, 429 and 410), or a 3xx: redirects
	// are never followed, since a signed request must reach the URL it was
	// signed for.
	ErrRejected = errors.New("rejected by the destination")
	// ErrRateLimited: the destination kept answering 429 Too Many Requests
	// (or 408, 425) until the retries ran out.
	ErrRateLimited = errors.New("rate limited by the destination")
	// ErrServer: the destination answered a 5xx status: 500, 502, 503 or
	// 504 until the retries ran out, or once any other, which is not
	// retried.
	ErrServer = errors.New("destination failed")
	// ErrNetwork: no response came (DNS, connection, TLS or I/O failure).
	ErrNetwork = errors.New("network error")
	// ErrTimeout: an attempt ran past [Sender.AttemptTimeout].
	ErrTimeout = errors.New("attempt timed out")
)

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
			// Not now, but later: a receiver renews an expired
			// certificate or fixes its chain, and an outbox's schedule
			// gives it hours to.
			return fmt.Errorf("%w: %w: %w", ErrNetwork, errCertificate, clipped{err}), true
		default:
			return fmt.Errorf("%w: %w", ErrNetwork, clipped{err}), true
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
		return fmt.Errorf("%w: redirect refused, status %d", ErrRejected, code), false
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

// clipped is an error whose text is cut to 1 KiB (limits.Reason) and
// shows as itself. net/http and crypto/x509 quote what a receiver sent in
// some errors (a malformed status line of up to the 64 KiB of headers
// read, a certificate's host names, which may hold control characters),
// and that text would go into every log line of the attempt. It unwraps
// to the error, so errors.Is and errors.As see the whole chain.
type clipped struct{ err error }

// Error returns the first 1 KiB of the error's text, with every character
// that would not show as itself (wire.DisplayableRune: a control
// character, line separator or bidi control, or a byte that is not UTF-8)
// written as U+FFFD.
func (c clipped) Error() string {
	text := c.err.Error()
	if _, ok := wire.Displayable(text); !ok {
		text = strings.Map(func(r rune) rune {
			if !wire.DisplayableRune(r) {
				return utf8.RuneError
			}
			return r
		}, text) // strings.Map also writes each invalid byte as U+FFFD
	}
	return limits.Clip(text)
}

// Unwrap returns the error.
func (c clipped) Unwrap() error { return c.err }

// errCertificate marks a TLS failure of the receiver's making: Send does
// not retry it within its own few seconds, which cannot change it, but it
// is Retryable, for an outbox to try again later.
var errCertificate = errors.New("the receiver's TLS certificate or handshake failed")

// isCertError reports whether err is a TLS failure that retrying at once
// cannot fix: an untrusted, expired or mismatched certificate, or a peer
// that does not speak TLS.
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

// retryableStatus reports whether a response status is worth retrying:
// 408 Request Timeout, 425 Too Early, 429 Too Many Requests, and the 5xx
// statuses that signal a passing condition (500, 502, 503, 504).
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
