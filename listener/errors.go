package listener

import "errors"

// Sentinel errors. Match them with [errors.Is]; they are always wrapped with
// details.
var (
	// ErrInvalidEvent: an event is malformed (missing id or topic, bad
	// topic syntax, unknown or duplicate envelope fields, trailing data).
	ErrInvalidEvent = errors.New("listener: invalid event")
	// ErrInvalidPayload: a typed handler could not decode or validate the
	// payload. It is always [Permanent].
	ErrInvalidPayload = errors.New("listener: invalid payload")
	// ErrUnhandled: no handler matched the event, reported only when the
	// listener was built with [WithRequireHandler]. It is always [Permanent].
	ErrUnhandled = errors.New("listener: no handler for event")
	// ErrPanic: a handler panicked; the error carries the panic value, the
	// stack goes to the log.
	ErrPanic = errors.New("listener: handler panicked")
	// ErrUnsupported: an HTTP request uses a content type or CloudEvents
	// feature the listener does not accept (batches, non-JSON data).
	ErrUnsupported = errors.New("listener: unsupported event format")
	// ErrStopped: the listener is draining and accepts no new events.
	ErrStopped = errors.New("listener: stopped")
	// ErrDrainTimeout: Run gave up waiting for in-flight handlers.
	ErrDrainTimeout = errors.New("listener: drain deadline exceeded")
)

// Errors no caller handles apart: the text of a 413 answer, and a
// programming error of On and Handle.
var (
	errTooLarge   = errors.New("listener: event too large")
	errNilHandler = errors.New("listener: nil handler")
)

// permanentError marks an error as not worth retrying.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: retrying the same event cannot succeed
// (a malformed payload, a rejected request). Sources answer it with 400 and
// do not ask for redelivery; the [Retry] middleware does not retry it.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil || isMarked(err) {
		return err
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err is permanent. A joined error (from
// [errors.Join], as Dispatch returns) is permanent only when every one of its
// errors is, so that one retryable failure still gets the event redelivered.
func IsPermanent(err error) bool {
	for err != nil {
		if isMarked(err) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			errs := u.Unwrap()
			if len(errs) == 0 {
				return false
			}
			for _, e := range errs {
				if !IsPermanent(e) {
					return false
				}
			}
			return true
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return false
		}
	}
	return false
}

func isMarked(err error) bool {
	_, ok := err.(*permanentError)
	return ok
}
