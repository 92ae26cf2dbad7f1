package auth

import "errors"

// Sentinel errors returned (wrapped, with details) by verifiers and
// constructors. Match them with [errors.Is].
var (
	// ErrNoSignature: the request carries no signature header of the scheme.
	ErrNoSignature = errors.New("no signature")
	// ErrMalformed: a signature, timestamp or token header cannot be parsed,
	// or is longer than the scheme allows.
	ErrMalformed = errors.New("malformed signature header")
	// ErrBadSignature: no signature in the request matches any key.
	ErrBadSignature = errors.New("signature mismatch")
	// ErrExpired: the signed timestamp (or the token's exp) is too old.
	ErrExpired = errors.New("timestamp too old")
	// ErrNotYetValid: the signed timestamp (or the token's iat/nbf) is too
	// far in the future.
	ErrNotYetValid = errors.New("timestamp in the future")
	// ErrReplay: a request with the same id is still being handled, or the
	// replay cache is full of ids being handled.
	// [Middleware] answers it 503 with Retry-After, so that the sender tries
	// again once the first request has finished. (A request whose id was
	// handled already is answered 200 without running the handler again.)
	ErrReplay = errors.New("replayed request")
	// ErrBodyMismatch: a JWT's body_sha256 claim does not match the body.
	ErrBodyMismatch = errors.New("body does not match the token")
	// ErrClaims: a JWT claim (iss, aud, a required claim) is wrong or missing.
	ErrClaims = errors.New("invalid token claims")
	// ErrAlgorithm: a JWT names an algorithm the configured keys do not allow.
	ErrAlgorithm = errors.New("algorithm not allowed")
	// ErrUnknownKey: a JWT names a kid that no configured key has.
	ErrUnknownKey = errors.New("unknown key id")
	// ErrBadKey: key material given to a constructor is empty, too short,
	// of the wrong type or cannot be parsed.
	ErrBadKey = errors.New("invalid key")
	// ErrBodyTooLarge: [Middleware] refused a body over its limit.
	ErrBodyTooLarge = errors.New("request body too large")
)

// errNoPrivateKey is the error of Sign on a verifier built from public keys
// only: a configuration mistake, which no caller handles differently from
// any other failure to sign, so it is not exported.
var errNoPrivateKey = errors.New("no private key to sign with")
