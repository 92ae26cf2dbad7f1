package auth

import "time"

// Defaults shared by the schemes.
const (
	// DefaultTolerance is how far a signed timestamp may lie from the
	// verifier's clock, in either direction.
	DefaultTolerance = 5 * time.Minute
	// DefaultTTL is the lifetime of a JWT that herald signs.
	DefaultTTL = 5 * time.Minute
	// DefaultLeeway is the clock skew allowed when checking JWT exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
)

// defaultMaxLifetime is the longest exp - iat a JWT verifier accepts
// unless told otherwise with [WithMaxLifetime]: twice [DefaultTTL].
const defaultMaxLifetime = 10 * time.Minute

// An Option tunes a scheme constructor (NewStandard, NewHub, NewJWT, ...).
// Each option's documentation says which schemes it applies to; the others
// ignore it.
type Option func(*options)

// options is the union of every scheme's settings; each constructor reads
// the fields that concern it.
type options struct {
	tolerance       time.Duration
	now             func() time.Time
	headerName      string
	sha1            bool
	issuer          string
	audience        string
	ttl             time.Duration
	leeway          time.Duration
	requireBodyHash bool
	allowMissingExp bool
	maxLifetime     time.Duration
}

func buildOptions(opts []Option) options {
	o := options{
		tolerance: DefaultTolerance,
		now:       time.Now,
		ttl:       DefaultTTL,
		leeway:    DefaultLeeway,

		maxLifetime: defaultMaxLifetime,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// WithTolerance sets how far a signed timestamp may be from now, in either
// direction, before verification fails with [ErrExpired] or [ErrNotYetValid].
// Standard (v1, v1a) and Stripe. Default [DefaultTolerance]; d <= 0 keeps it.
func WithTolerance(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.tolerance = d
		}
	}
}

// WithClock replaces time.Now, for signing and verifying. All schemes.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithHeaderName sets the signature header name. Hub (default
// X-Hub-Signature-256, or X-Hub-Signature with [WithSHA1]) and Stripe
// (default Stripe-Signature).
func WithHeaderName(name string) Option {
	return func(o *options) { o.headerName = name }
}

// WithSHA1 selects GitHub's legacy X-Hub-Signature: sha1=<hex> format. Hub
// only. SHA-1 HMAC is still unbroken but prefer SHA-256 where both ends can.
func WithSHA1() Option {
	return func(o *options) { o.sha1 = true }
}

// WithIssuer sets the iss claim that a JWT signer writes and that a JWT
// verifier requires.
func WithIssuer(iss string) Option {
	return func(o *options) { o.issuer = iss }
}

// WithAudience sets the aud claim. A JWT signer writes it instead of the
// destination URL; a JWT verifier requires it (and checks no audience
// without it).
func WithAudience(aud string) Option {
	return func(o *options) { o.audience = aud }
}

// WithTTL sets the lifetime of signed JWTs (exp - iat). Default [DefaultTTL].
// Receivers refuse tokens that live longer than their [WithMaxLifetime]
// (10 minutes unless raised).
func WithTTL(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.ttl = d
		}
	}
}

// WithLeeway sets the clock skew a JWT verifier allows on exp, nbf and iat.
// Default [DefaultLeeway].
func WithLeeway(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.leeway = d
		}
	}
}

// WithRequireBodyHash makes a JWT verifier refuse tokens without the
// body_sha256 claim. Without it the claim is still checked when present.
func WithRequireBodyHash() Option {
	return func(o *options) { o.requireBodyHash = true }
}

// WithAllowMissingExp makes a JWT verifier accept tokens that have no exp
// claim, such as those made by jsonwebtoken's jwt.sign(payload, secret)
// without expiresIn. Such a token still needs iat, and is taken to expire
// [WithMaxLifetime] after it.
func WithAllowMissingExp() Option {
	return func(o *options) { o.allowMissingExp = true }
}

// WithMaxLifetime sets the longest lifetime, exp - iat, of a token that a
// JWT verifier accepts; a longer one fails with [ErrClaims]. It bounds how
// long a captured token can be played again, and so how long [Middleware]
// must remember its id (it does, until the token expires). JWT only.
// Default 10 minutes; d <= 0 keeps it.
func WithMaxLifetime(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.maxLifetime = d
		}
	}
}
