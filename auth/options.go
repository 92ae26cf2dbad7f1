package auth

import "time"

// Defaults shared by the schemes, documented on the options that change
// them.
const (
	// defaultTolerance is how far a signed timestamp may lie from the
	// verifier's clock, in either direction.
	defaultTolerance = 5 * time.Minute
	// defaultTTL is the lifetime of a JWT that herald signs.
	defaultTTL = 5 * time.Minute
	// defaultLeeway is the clock skew allowed when checking JWT exp, nbf
	// and iat.
	defaultLeeway = 30 * time.Second
	// defaultMaxLifetime is the longest exp - iat a JWT verifier accepts
	// unless told otherwise with [WithMaxLifetime]: twice defaultTTL.
	defaultMaxLifetime = 10 * time.Minute
)

// The option types, one per kind of constructor (see the package
// documentation). Their unexported methods decide which constructor an
// option compiles for.
type (
	// A StandardOption tunes NewStandard, NewStandardV1a and
	// NewStandardV1aVerifier: [WithTolerance], [WithClock].
	StandardOption interface{ standard(*options) }
	// A HubOption tunes NewHub: [WithHeaderName], [WithSHA1].
	HubOption interface{ hub(*options) }
	// A StripeOption tunes NewStripe: [WithTolerance], [WithClock],
	// [WithHeaderName].
	StripeOption interface{ stripe(*options) }
	// A JWTOption tunes NewJWT and NewJWTSigner, which sign and verify:
	// [WithTTL] and every [JWTVerifierOption].
	JWTOption interface{ jwt(*options) }
	// A JWTVerifierOption tunes NewJWTVerifier, and being a JWTOption as
	// well, NewJWT and NewJWTSigner: [WithClock], [WithIssuer],
	// [WithAudience], [WithLeeway], [WithRequireBodyHash],
	// [WithAllowMissingExp], [WithMaxLifetime].
	JWTVerifierOption interface {
		JWTOption
		verifies()
	}
)

// The option implementations, one per set of constructors an option applies
// to; their methods decide where it compiles.
type (
	clockOpt     func(*options) // Standard, Stripe, JWT (sign and verify)
	toleranceOpt func(*options) // Standard, Stripe
	headerOpt    func(*options) // Hub, Stripe
	hubOpt       func(*options) // Hub
	jwtSignOpt   func(*options) // JWT schemes that sign
	jwtOpt       func(*options) // every JWT scheme
)

func (f clockOpt) standard(o *options)     { f(o) }
func (f clockOpt) stripe(o *options)       { f(o) }
func (f clockOpt) jwt(o *options)          { f(o) }
func (clockOpt) verifies()                 {}
func (f toleranceOpt) standard(o *options) { f(o) }
func (f toleranceOpt) stripe(o *options)   { f(o) }
func (f headerOpt) hub(o *options)         { f(o) }
func (f headerOpt) stripe(o *options)      { f(o) }
func (f hubOpt) hub(o *options)            { f(o) }
func (f jwtSignOpt) jwt(o *options)        { f(o) }
func (f jwtOpt) jwt(o *options)            { f(o) }
func (jwtOpt) verifies()                   {}

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

// buildOptions returns the defaults with opts applied in order, through
// apply, the method of the constructor's option type (such as
// StandardOption.standard). Nil options are skipped.
func buildOptions[O any](opts []O, apply func(O, *options)) options {
	o := options{
		tolerance:   defaultTolerance,
		now:         time.Now,
		ttl:         defaultTTL,
		leeway:      defaultLeeway,
		maxLifetime: defaultMaxLifetime,
	}
	for _, opt := range opts {
		if any(opt) != nil {
			apply(opt, &o)
		}
	}
	return o
}

// WithTolerance sets how far a signed timestamp may be from now, in either
// direction, before verification fails with [ErrExpired].
// Standard (v1, v1a) and Stripe. Default 5 minutes; d <= 0 keeps it.
func WithTolerance(d time.Duration) interface {
	StandardOption
	StripeOption
} {
	return toleranceOpt(func(o *options) {
		if d > 0 {
			o.tolerance = d
		}
	})
}

// WithClock replaces time.Now, for signing and verifying. Standard (v1,
// v1a), Stripe and JWT; Hub signs no time.
func WithClock(now func() time.Time) interface {
	StandardOption
	StripeOption
	JWTVerifierOption
} {
	return clockOpt(func(o *options) {
		if now != nil {
			o.now = now
		}
	})
}

// WithHeaderName sets the signature header name. Hub (default
// X-Hub-Signature-256, or X-Hub-Signature with [WithSHA1]) and Stripe
// (default Stripe-Signature).
func WithHeaderName(name string) interface {
	HubOption
	StripeOption
} {
	return headerOpt(func(o *options) { o.headerName = name })
}

// WithSHA1 selects GitHub's legacy X-Hub-Signature: sha1=<hex> format. Hub
// only. SHA-1 HMAC is still unbroken but prefer SHA-256 where both ends can.
func WithSHA1() HubOption {
	return hubOpt(func(o *options) { o.sha1 = true })
}

// WithIssuer sets the iss claim that a JWT signer writes and that a JWT
// verifier requires.
func WithIssuer(iss string) JWTVerifierOption {
	return jwtOpt(func(o *options) { o.issuer = iss })
}

// WithAudience sets the aud claim. A JWT signer writes it instead of the
// destination URL; a JWT verifier refuses a token whose aud does not hold
// it (and checks no audience without it). A receiver of a signer without
// WithAudience therefore passes the URL the sender posts to, as the sender
// has it configured (scheme, host, port and path; no query).
func WithAudience(aud string) JWTVerifierOption {
	return jwtOpt(func(o *options) { o.audience = aud })
}

// WithTTL sets the lifetime of signed JWTs (exp - iat). Default 5 minutes;
// d <= 0 keeps it. Receivers refuse tokens that live longer than their
// [WithMaxLifetime] (10 minutes unless raised). It does not apply to
// NewJWTVerifier, which signs nothing.
func WithTTL(d time.Duration) JWTOption {
	return jwtSignOpt(func(o *options) {
		if d > 0 {
			o.ttl = d
		}
	})
}

// WithLeeway sets the clock skew a JWT verifier allows on exp, nbf and iat.
// Default 30 seconds; d < 0 keeps it.
func WithLeeway(d time.Duration) JWTVerifierOption {
	return jwtOpt(func(o *options) {
		if d >= 0 {
			o.leeway = d
		}
	})
}

// WithRequireBodyHash makes a JWT verifier refuse tokens without the
// body_sha256 claim. Without it the claim is still checked when present.
func WithRequireBodyHash() JWTVerifierOption {
	return jwtOpt(func(o *options) { o.requireBodyHash = true })
}

// WithAllowMissingExp makes a JWT verifier accept tokens that have no exp
// claim, such as those made by jsonwebtoken's jwt.sign(payload, secret)
// without expiresIn. Such a token still needs iat, and is taken to expire
// [WithMaxLifetime] after it.
func WithAllowMissingExp() JWTVerifierOption {
	return jwtOpt(func(o *options) { o.allowMissingExp = true })
}

// WithMaxLifetime sets the longest lifetime, exp - iat, of a token that a
// JWT verifier accepts; a longer one fails with [ErrClaims]. It bounds how
// long a captured token can be played again, and so how long [Middleware]
// must remember its id (it does, until the token expires). JWT only.
// Default 10 minutes; d <= 0 keeps it.
func WithMaxLifetime(d time.Duration) JWTVerifierOption {
	return jwtOpt(func(o *options) {
		if d > 0 {
			o.maxLifetime = d
		}
	})
}
