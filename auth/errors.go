package auth

import "errors"

// The errors a failed Verify returns, wrapped with details; match them with
// [errors.Is]. The other sentinels stand beside what returns them:
// [ErrBadKey] with the key constructors, [ErrClaims] and [ErrUnknownKey]
// with the JWT scheme, [ErrReplay], [ErrBodyTooLarge] and [ErrBusy] with
// [Middleware].
var (
	// ErrNoSignature: the request carries no signature header of the scheme.
	ErrNoSignature = errors.New("no signature")
	// ErrMalformed: a signature, timestamp or token header cannot be parsed,
	// or is longer than the scheme allows.
	ErrMalformed = errors.New("malformed signature header")
	// ErrBadSignature: no signature in the request matches any key; for a
	// JWT also a token whose algorithm the keys do not allow ("algorithm not
	// allowed") or whose body_sha256 claim does not match the body ("body
	// does not match the token").
	ErrBadSignature = errors.New("signature mismatch")
	// ErrExpired: the signed timestamp (or the token's exp) is too old, or
	// the timestamp (or the token's iat/nbf) is too far in the future; the
	// error text says which ("timestamp too old", "timestamp in the future").
	ErrExpired = errors.New("timestamp too old")
)

// errNoPrivateKey is the error of Sign on a verifier built from public keys
// only: a configuration mistake, which no caller handles differently from
// any other failure to sign, so it is not exported.
var errNoPrivateKey = errors.New("no private key to sign with")

// Refinements of the sentinels: the text names the case, errors.Is matches
// the sentinel a caller acts on.
var (
	errNotYetValid  = refinedError{"timestamp in the future", ErrExpired}
	errBodyMismatch = refinedError{"body does not match the token", ErrBadSignature}
	errAlgorithm    = refinedError{"algorithm not allowed", ErrBadSignature}
)

// refinedError is an error with its own text that matches base.
type refinedError struct {
	text string
	base error
}

func (e refinedError) Error() string { return e.text }
func (e refinedError) Unwrap() error { return e.base }
