package sender

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// Sentinel errors. A failed [Sender.Send] returns a [*DeliveryError] whose
// Err wraps one or more of them; match them with [errors.Is].
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
	// ErrServer: the destination kept answering a 5xx status.
	ErrServer = errors.New("destination failed")
	// ErrNetwork: no response came (DNS, connection, TLS or I/O failure).
	ErrNetwork = errors.New("network error")
	// ErrTimeout: an attempt ran past [Sender.AttemptTimeout].
	ErrTimeout = errors.New("attempt timed out")
	// ErrInsecureURL: the URL is http:// and [Sender.AllowHTTP] is false.
	ErrInsecureURL = errors.New("URL is not https")
	// ErrInvalidURL: the destination URL cannot be parsed, has no host, or
	// has a scheme other than https (or http).
	ErrInvalidURL = errors.New("invalid destination URL")
	// ErrBlockedAddr: the destination's address is private, loopback,
	// link-local, reserved or otherwise not public, and not in
	// [Sender.AllowNetworks]. Checked after DNS resolution, at dial time.
	ErrBlockedAddr = errors.New("address not allowed")
	// ErrInvalidMessage: the message's ID or ContentType, or one of the
	// destination's Headers, cannot be sent as a header (too long, not a
	// token name, or with control characters). Send refuses it before any
	// attempt.
	ErrInvalidMessage = errors.New("invalid message")
	// ErrSign: the destination's [auth.Signer] failed. When it failed to
	// reach its key store (a network error or a timeout of a KMS behind a
	// crypto.Signer), [DeliveryError.Retryable] is true.
	ErrSign = errors.New("signing failed")
	// ErrToken: no OAuth2 access token for the destination: its token
	// endpoint refused the client (a 4xx), failed (5xx, network; then
	// [DeliveryError.Retryable]), answered no usable token, or is not a
	// URL the Sender may reach. Its answer is never quoted.
	ErrToken = errors.New("no OAuth2 token")
)

// errGaveUp: retries ran out (attempts, elapsed time, or the caller's
// deadline) while the failure was still retryable, as
// [DeliveryError.Retryable] tells; it prefixes the last cause's text.
var errGaveUp = errors.New("retries exhausted")

// DeliveryError is the error [Sender.Send] returns when a delivery did not
// succeed. Err wraps the sentinel errors that describe the failure, and the
// caller's context error when the context ended it. Its text names the
// delivery and the destination but never a secret, a signature or the URL's
// query string.
type DeliveryError struct {
	// ID is the delivery id.
	ID string
	// Destination is the destination's Name, or its redacted URL
	// (scheme://host/path) when it has none.
	Destination string
	// attempts and status (the last HTTP status) are for the log line and
	// the text; the [Result] Send returns with the error carries both.
	attempts, status int
	// Retryable reports whether trying again later (from an outbox) may
	// succeed: true for network errors, timeouts, 408/425/429, 5xx, a
	// cancelled context, an OAuth2 token endpoint failing in one of these
	// ways, and a Signer that could not reach its key store (a KMS: a
	// network error or a timeout); false for 410, other 4xx, redirects,
	// blocked addresses, bad URLs, invalid messages, other signing
	// failures and a token endpoint refusing the client.
	Retryable bool
	// Err is the cause.
	Err error
}

// Error describes the failure without secrets or query strings.
func (e *DeliveryError) Error() string {
	s := "sender: delivery"
	if e.ID != "" {
		s += " " + e.ID
	}
	if e.Destination != "" {
		s += " to " + e.Destination
	}
	if e.attempts > 0 {
		s += " (" + strconv.Itoa(e.attempts) + " attempt"
		if e.attempts > 1 {
			s += "s"
		}
		s += ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause, so that [errors.Is] sees the sentinels.
func (e *DeliveryError) Unwrap() error { return e.Err }

// setupError is a failure before any request of an attempt was sent, such
// as a token that could not be fetched, with whether trying again later
// may succeed.
type setupError struct {
	err       error
	retryable bool
}

func (e *setupError) Error() string { return e.err.Error() }
func (e *setupError) Unwrap() error { return e.err }

// retryableSetup reports whether err is a setup failure worth trying again
// later (a token endpoint that failed or could not be reached).
func retryableSetup(err error) bool {
	var se *setupError
	return errors.As(err, &se) && se.retryable
}

// signError wraps a Signer's failure in ErrSign. A failure to reach
// where the key is held (a KMS or an HSM behind a crypto.Signer: a
// network error or a timeout) may pass, so it is a retryable setup
// failure; any other is final.
func signError(err error) error {
	err = fmt.Errorf("%w: %w", ErrSign, err)
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return &setupError{err: err, retryable: true}
	}
	return err
}
