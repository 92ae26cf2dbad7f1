package sender

// ErrGaveUp lets the sender_test tests check that an exhausted retryable
// failure says so.
var ErrGaveUp = errGaveUp
