// Package auth signs outgoing webhooks and verifies incoming ones.
//
// Every scheme herald speaks is a [*Scheme]: both a [Signer], used by package sender to add
// authentication headers to a delivery, and a [Verifier], used by a receiving
// backend (directly, or through [Middleware]) to decide whether a request is
// genuine, untampered and fresh:
//
//   - Standard Webhooks v1 (HMAC-SHA256) and v1a (Ed25519): [NewStandard], [NewStandardV1a]
//   - Hub style, GitHub's X-Hub-Signature-256: [NewHub]
//   - Stripe style, t=…,v1=…: [NewStripe]
//   - JWT Bearer tokens bound to the body: [NewJWT]
//
// Each constructor takes options of its own type, so that an option that
// does nothing for a scheme does not compile for it: a [StandardOption] for
// the Standard Webhooks constructors, a [HubOption], a [StripeOption], a
// [JWTOption] for the JWT schemes that sign and a [JWTVerifierOption] for
// [NewJWTVerifier]. An option that several schemes read, such as
// [WithClock], returns a type that is each of their option types.
//
// The package does no network I/O of its own, except fetching a JWKS when a
// JWT verifier is given a JWKS URL. Key material is held in [Secret] and
// [PrivateKey] values that never print themselves, and no signer or
// verifier prints the keys it holds: not through fmt (any verb), slog or
// encoding/json, nor when nested in a struct of the caller's.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"
)

// Scheme names, as reported in [Verified.Scheme] and accepted by the command
// line's --scheme flag.
const (
	schemeStandard    = "standard"     // Standard Webhooks v1, HMAC-SHA256
	schemeStandardV1a = "standard-v1a" // Standard Webhooks v1a, Ed25519
	schemeHub         = "hub"          // X-Hub-Signature-256: sha256=<hex>
	schemeStripe      = "stripe"       // Stripe-Signature: t=<unix>,v1=<hex>
	schemeJWT         = "jwt"          // Authorization: Bearer <JWT>
)

// Header names the schemes write and read, in canonical form, so that they
// index an [http.Header] directly. Every signer of this package sets
// HeaderWebhookID to [Message.ID] when it has one (Standard requires it),
// whether or not its scheme signs it (see [Verified.ID]).
const (
	HeaderWebhookID        = "Webhook-Id"          // Standard v1 and v1a: the delivery id
	HeaderWebhookTimestamp = "Webhook-Timestamp"   // Standard v1 and v1a: Unix seconds
	HeaderWebhookSignature = "Webhook-Signature"   // Standard: "v1,<base64>" or "v1a,<base64>"
	HeaderHubSignature256  = "X-Hub-Signature-256" // Hub: "sha256=<hex>"
	HeaderHubSignature     = "X-Hub-Signature"     // Hub with WithSHA1: "sha1=<hex>"
	HeaderStripeSignature  = "Stripe-Signature"    // Stripe: "t=<unix>,v1=<hex>"
	HeaderAuthorization    = "Authorization"       // JWT: "Bearer <token>"
)

// Message is what a [Signer] authenticates for one delivery attempt.
type Message struct {
	// ID identifies the delivery. It stays the same across attempts so that
	// receivers can deduplicate; it is sent as webhook-id (and as the JWT jti).
	ID string
	// Timestamp is the signing time. The zero value means time.Now().
	Timestamp time.Time
	// Body is the exact request body. Signers never modify it.
	Body []byte
	// URL is the target URL; the JWT scheme uses it as the default audience.
	URL string
	// Topic is the event topic, if any; the JWT scheme puts it in the token.
	Topic string
}

// A Signer adds the authentication headers of one scheme to an outgoing
// request. Sign is called once per attempt, so every attempt carries a fresh
// timestamp. Implementations are safe for concurrent use, and keep nothing
// of m.Body once Sign returns: a Queue gives a body's buffer back for
// another delivery once it is sent.
type Signer interface {
	Sign(h http.Header, m Message) error
}

// A Verifier checks the authentication headers of a received request against
// its exact body. On success it reports what it verified; on failure the
// error matches one of the package's sentinel errors with [errors.Is] and its
// text never contains a secret or an expected signature.
// Implementations are safe for concurrent use.
type Verifier interface {
	Verify(h http.Header, body []byte) (Verified, error)
}

// Verified describes a request that passed verification.
type Verified struct {
	// Scheme names the scheme that verified it: "standard", "standard-v1a",
	// "hub", "stripe" or "jwt".
	Scheme string
	// ID names the request for replay protection, from signed bytes only:
	//
	//   - the delivery id the scheme signs: webhook-id for Standard v1 and
	//     v1a, the jti claim for JWT;
	//   - for a scheme that signs no id (Hub, Stripe, a JWT without jti),
	//     "sig:" followed by the lowercase hex SHA-256 of the signature
	//     that verified: the raw MAC of the Hub signature, or the Stripe
	//     MAC of t and the body under the first secret (the one a v1
	//     made with any secret stands for; other v1 values in the header
	//     do not count), or the JWT's decoded signature (an ES256 one in
	//     its low-S form, since (r, n-s) verifies as well as (r, s)).
	//
	// Unsigned headers (webhook-id on Hub, Stripe and a JWT without jti,
	// X-GitHub-Delivery) never set it: anyone on the path can change them.
	// Where the scheme signs no id, a sender's re-signed retry (a new
	// Stripe t=, a new JWT iat) gets a new ID, so [Middleware] runs the
	// handler for it again: deduplicate on an id inside the body if that
	// matters. Hub signs no time, so its retries keep their ID.
	ID string
	// Timestamp is the signed time of the request; zero when the scheme
	// signs none (hub).
	Timestamp time.Time
	// KeyID names the key that matched: the JWT kid, or for schemes with a
	// list of secrets the position of the matching one ("0", "1", ...), so
	// that a rotation can be watched without revealing any key.
	KeyID string
	// Claims holds the JWT claims; nil for other schemes.
	Claims map[string]any

	// replayUntil is the last moment the request can pass verification
	// when the scheme knows it (a JWT's exp plus leeway, a signed
	// timestamp plus the tolerance): [Middleware]
	// keeps its ID at least that long. Zero leaves it to the window.
	replayUntil time.Time
}

// signatureID is [Verified.ID] for a scheme that signs no id: "sig:" and
// the hex SHA-256 of the signature that verified.
func signatureID(sig []byte) string {
	sum := sha256.Sum256(sig)
	var buf [len("sig:") + 2*sha256.Size]byte
	copy(buf[:], "sig:")
	hex.Encode(buf[len("sig:"):], sum[:])
	return string(buf[:])
}

type verifiedKey struct{}

// NewContext returns a copy of ctx carrying v. [Middleware] uses it so that
// handlers can learn what was verified.
func NewContext(ctx context.Context, v Verified) context.Context {
	return context.WithValue(ctx, verifiedKey{}, v)
}

// FromContext returns the [Verified] stored in ctx by [Middleware], and
// whether there was one.
func FromContext(ctx context.Context) (Verified, bool) {
	v, ok := ctx.Value(verifiedKey{}).(Verified)
	return v, ok
}
