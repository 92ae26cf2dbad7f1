package auth

import (
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
)

// Hub bounds.
const (
	// minHubSecretLen is the shortest secret, in bytes, that [NewHub] accepts.
	minHubSecretLen = 16
	// maxHubHeaderLen bounds the signature header before parsing.
	maxHubHeaderLen = 128
)

// hubScheme is the scheme behind [NewHub]; see its doc.
type hubScheme struct {
	headerMAC
	prefix string // "sha256=" or "sha1="
	hexLen int
	o      options
}

// NewHub returns a GitHub-style signer and verifier using secrets (the raw bytes of
// GitHub's webhook secret: NewSecret([]byte(s))). Sign uses the first
// secret, giving one header value as GitHub does; Verify accepts any
// secret, so list the new secret first during a rotation and keep the old
// one until senders have moved. Secrets shorter than 16
// bytes, or none, are refused with [ErrBadKey].
//
// Options: [WithSHA1], [WithHeaderName].
//
// The scheme signs and verifies GitHub-style webhooks: an HMAC over the body alone,
// sent as "X-Hub-Signature-256: sha256=<lowercase hex>" (or, with
// [WithSHA1], "X-Hub-Signature: sha1=<hex>"). The scheme signs no
// timestamp and no id, so it cannot limit replays by itself: [Middleware]
// remembers each signature for its replay window (see [Verified.ID]), and a
// copy played after that runs the handler again. The Scheme is safe for
// concurrent use.
func NewHub(secrets []Secret, opts ...HubOption) (*Scheme, error) {
	o := buildOptions(opts, HubOption.hub)
	newHash, prefix, def := sha256.New, "sha256=", HeaderHubSignature256
	if o.sha1 {
		newHash, prefix, def = sha1.New, "sha1=", HeaderHubSignature
	}
	hm, err := newHeaderMAC(schemeHub, newHash, secrets, minHubSecretLen, o.headerName, def)
	if err != nil {
		return nil, err
	}
	return &Scheme{s: &hubScheme{headerMAC: hm, prefix: prefix, hexLen: 2 * newHash().Size(), o: o}}, nil
}

// Sign sets the signature header to the HMAC of m.Body with the first
// secret, and webhook-id to m.ID when m.ID is set. m.Timestamp is not
// used: the scheme signs none.
func (s *hubScheme) Sign(h http.Header, m Message) error {
	var stack [maxHubHeaderLen]byte
	buf := s.appendMAC(append(stack[:0], s.prefix...), 0, func(st *macState) []byte { return st.macOf(nil, m.Body) })
	return s.set(h, buf, m.ID)
}

// Verify checks the signature header against body with every secret, in
// constant time. The hex must be lowercase, as GitHub sends it.
// Verified.ID is "sig:" and the SHA-256 of the signature (see
// [Verified.ID]): the webhook-id and X-GitHub-Delivery headers are not
// covered by it, so read them yourself, as hints. Verified.Timestamp is
// zero.
func (s *hubScheme) Verify(h http.Header, body []byte) (Verified, error) {
	val, err := singleHeader(h, s.header, maxHubHeaderLen, schemeHub, ErrNoSignature)
	if err != nil {
		return Verified{}, err
	}
	sig, ok := strings.CutPrefix(val, s.prefix)
	if !ok {
		return Verified{}, fmt.Errorf("auth: %s: %w: %s header does not start with %q", schemeHub, ErrMalformed, strings.ToLower(s.header), s.prefix)
	}
	if len(sig) != s.hexLen {
		return Verified{}, fmt.Errorf("auth: %s: %w: signature is %d hex digits, want %d", schemeHub, ErrMalformed, len(sig), s.hexLen)
	}
	i, id := s.match(func(st *macState) []byte { return st.macOf(nil, body) },
		func(st *macState, want []byte) bool { return st.equal(want, sig) })
	if i >= 0 {
		return Verified{Scheme: schemeHub, ID: id, KeyID: keyIndex(i)}, nil
	}
	return Verified{}, fmt.Errorf("auth: %s: %w: signature matched none of %d secrets", schemeHub, ErrBadSignature, len(s.keys))
}

var (
	_ Signer   = (*hubScheme)(nil)
	_ Verifier = (*hubScheme)(nil)
)
