package listener

import "errors"

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
// [errors.Join], or the errors of several handlers that Dispatch returns)
// is permanent only when every one of its errors is, so that one retryable
// failure still gets the event redelivered.
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

// handlerErrors are the errors of the handlers of one event, joined as
// [errors.Join] joins them (one per line; errors.Is and errors.As look
// into each). Dispatch returns them in a type of its own so that the HTTP
// source can tell a sender the error that is its fault without telling it
// another handler's (see rejection).
type handlerErrors []error

func (e handlerErrors) Error() string { return errors.Join(e...).Error() }

func (e handlerErrors) Unwrap() []error { return e }

// joinHandlerErrors returns errs as one error, nil when there is none.
func joinHandlerErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return handlerErrors(errs)
}
