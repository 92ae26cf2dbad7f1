package sender

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// errGaveUp: retries ran out (attempts, elapsed time, or the caller's
// deadline) while the failure was still retryable, as
// [DeliveryError.Retryable] tells; it prefixes the last cause's text.
var errGaveUp = errors.New("retries exhausted")

// DeliveryError is the error [Sender.Send] returns when a delivery did not
// succeed. Err wraps the sentinel errors that describe the failure (match
// them with [errors.Is]), and the caller's context error when the context
// ended it. The sentinels stand beside what returns them: the answer or
// network failure of an attempt ([ErrGone], [ErrRejected], [ErrRateLimited],
// [ErrServer], [ErrNetwork], [ErrTimeout]), the URL ([ErrInsecureURL],
// [ErrInvalidURL], [ErrBlockedAddr]), the message ([ErrInvalidMessage]),
// the signature ([ErrSign]) and the OAuth2 token ([ErrToken]). Its text names the
// delivery and the destination but never a secret, a signature or the URL's
// query string.
type DeliveryError struct {
	// ID is the delivery id.
	ID string
	// Destination is the destination's Name, or its redacted URL
	// (scheme://host/…) when it has none.
	Destination string
	// attempts and status (the last HTTP status) are for the log line and
	// the text; the [Result] Send returns with the error carries both.
	attempts, status int
	// Retryable reports whether trying again later (from an outbox) may
	// succeed: true for network errors, timeouts, 408/425/429, 500, 502,
	// 503 and 504, a cancelled context, an OAuth2 token endpoint failing in one of these
	// ways, a Signer that could not reach its key store (a KMS: a network
	// error or a timeout), and a receiver's certificate that does not
	// verify (expired, untrusted, for another host: Send itself makes no
	// second attempt, which could not change that, but the receiver may
	// fix it within hours); false for 410, other 4xx and 5xx, redirects, blocked
	// addresses, bad URLs, invalid messages, other signing failures and a
	// token endpoint refusing the client.
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

// ErrSign: the destination's [auth.Signer] failed, or set a header that
// cannot be sent (a line break in a value, a name that is not a token, a
// header of the connection). When it failed to
// reach its key store (a network error or a timeout of a KMS behind a
// crypto.Signer), [DeliveryError.Retryable] is true.
var ErrSign = errors.New("signing failed")

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
