package auth

import (
	"context"
	"errors"
	"net/http"
)

// A Scheme signs and verifies one webhook authentication scheme. Every
// constructor returns one: NewStandard, NewStandardV1a,
// NewStandardV1aVerifier, NewHub, NewStripe, NewJWT, NewJWTSigner and
// NewJWTVerifier. A Scheme is a [Signer] (for package sender) and a
// [Verifier] (for [Middleware] and package listener), and is safe for
// concurrent use.
type Scheme struct {
	s scheme
}

// scheme is what each scheme's type implements; those that may fetch keys
// (JWT with a JWKS) are a contextVerifier as well.
type scheme interface {
	Signer
	Verifier
}

// errNilScheme is what the methods of a nil *Scheme return: it is what a
// constructor returns with its error, and a caller that dropped the error
// gets this one rather than a panic on every request. A zero Scheme
// (&Scheme{}, made without a constructor) gets it too.
var errNilScheme = errors.New("auth: nil or zero *Scheme (was a constructor's error ignored?)")

// errNilHeader: Sign was given a nil http.Header, which it cannot fill.
var errNilHeader = errors.New("auth: Sign given a nil http.Header")

// usable reports whether s was made by a constructor.
func (s *Scheme) usable() bool { return s != nil && s.s != nil }

// wrap hands a scheme built by newJWTVerifierOptions out as a *Scheme.
func wrap[T scheme](s T, err error) (*Scheme, error) {
	if err != nil {
		return nil, err
	}
	return &Scheme{s: s}, nil
}

// Sign sets on h the headers that authenticate m: the signature (or
// token), and for Standard, Stripe and JWT the id and time it covers. A
// verifier-only Scheme (NewStandardV1aVerifier, NewJWTVerifier) fails, as
// does a nil or zero Scheme or a nil h.
func (s *Scheme) Sign(h http.Header, m Message) error {
	if !s.usable() {
		return errNilScheme
	}
	if h == nil {
		return errNilHeader
	}
	return s.s.Sign(h, m)
}

// Verify checks the headers of a request against its body; it is
// VerifyContext with a background context.
func (s *Scheme) Verify(h http.Header, body []byte) (Verified, error) {
	if !s.usable() {
		return Verified{}, errNilScheme
	}
	return s.s.Verify(h, body)
}

// VerifyContext checks the headers of a request against its body. ctx
// bounds any key fetch (a JWT verifier with a JWKS); the other schemes
// ignore it. The error wraps one of the sentinel errors, such as
// [ErrNoSignature], [ErrBadSignature] or [ErrExpired].
func (s *Scheme) VerifyContext(ctx context.Context, h http.Header, body []byte) (Verified, error) {
	if !s.usable() {
		return Verified{}, errNilScheme
	}
	if cv, ok := s.s.(contextVerifier); ok {
		return cv.VerifyContext(ctx, h, body)
	}
	return s.s.Verify(h, body)
}
