package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/internal/wire"
)

// Algorithm names of the asymmetric keys, as used in JWT headers and JWKS
// documents and accepted by [GeneratePrivateKey].
const (
	algEdDSA = "EdDSA" // Ed25519
	algES256 = "ES256" // ECDSA on P-256 with SHA-256
	algRS256 = "RS256" // RSA PKCS #1 v1.5 with SHA-256
)

// Bounds on RSA moduli. Smaller keys are breakable or close to it; larger
// ones only make verification slow enough to be a denial of service.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// ErrBadKey: key material given to a constructor is empty, too short,
// of the wrong type or cannot be parsed.
var ErrBadKey = errors.New("invalid key")

// maxPEMLen bounds PEM input before decoding; an 8192-bit RSA key in PKCS #8
// PEM is under 7 KiB.
const maxPEMLen = 64 << 10

// generatedRSABits is the modulus size of keys made by [GeneratePrivateKey].
const generatedRSABits = 3072

// privateKey is the key material behind a [PrivateKey], shared by its
// copies. The Go key itself is sealed: a struct that holds a PrivateKey in
// an unexported field, printed with any verb, shows no key.
type privateKey struct {
	signer sealed[crypto.Signer] // ed25519.PrivateKey, *ecdsa.PrivateKey or *rsa.PrivateKey
	// public is the public half; it holds the key ID and the algorithm of
	// both halves.
	public PublicKey
}

// A PrivateKey is an asymmetric signing key with an optional key ID (the JWT
// kid): Ed25519, ECDSA P-256 or RSA of at least 2048 bits. Like [Secret] it
// never prints itself: String, GoString, every fmt verb, JSON, text
// marshalling and slog all show "[redacted]". The zero PrivateKey holds no
// key, and constructors refuse it.
//
// Make one with [GeneratePrivateKey], [ParsePrivateKey] (whsk_ or
// PEM) or [NewPrivateKey].
type PrivateKey struct {
	redacting
	p *privateKey
}

// publicKey is the key material behind a [PublicKey].
type publicKey struct {
	id  string
	alg string
	key crypto.PublicKey // ed25519.PublicKey, *ecdsa.PublicKey or *rsa.PublicKey
}

// A PublicKey is an asymmetric verification key with an optional key ID:
// Ed25519, ECDSA P-256 or RSA of at least 2048 bits. The zero PublicKey holds
// no key, and constructors refuse it.
//
// Make one with [PrivateKey.Public], [ParsePublicKey] (whpk_ or
// PEM), [ParseJWKS] or [NewPublicKey].
type PublicKey struct {
	p *publicKey
}

// NewPrivateKey wraps an existing Go private key: an ed25519.PrivateKey, an
// *ecdsa.PrivateKey on P-256 or an *rsa.PrivateKey of 2048 to 8192 bits, or
// any other crypto.Signer whose Public method returns such a key, as a key
// held in a KMS or an HSM does: it then signs through its Sign method and
// never leaves its store (Ed25519 with crypto.Hash(0) over the whole
// message, ES256 and RS256 with crypto.SHA256 over the digest, answering
// ASN.1 DER and PKCS #1 v1.5 signatures as crypto/ecdsa and crypto/rsa do).
// Such a key signs for [NewStandardV1a] and [NewJWTSigner]; it cannot be
// exported by [MarshalPrivateKeyPEM] or [FormatStandardSigningKey]. id
// becomes the key ID and may be empty, but not be over 256 bytes nor hold
// control characters, line separators (U+2028, U+2029), bidi controls
// (U+202E) or invalid UTF-8. Other keys and such IDs fail with [ErrBadKey],
// as does a Go key whose private half is not that of its public half (an
// RSA key without its private exponent, say), which could sign nothing its
// public key verifies. The key is used as is, not copied: do not modify it
// afterwards.
func NewPrivateKey(key crypto.Signer, id string) (PrivateKey, error) {
	if err := checkKeyID(id); err != nil {
		return PrivateKey{}, err
	}
	if k, ok := key.(*ed25519.PrivateKey); ok && k != nil {
		key = *k
	}
	goKey, err := checkPrivate(key)
	if err != nil {
		return PrivateKey{}, err
	}
	var p PublicKey
	if goKey {
		// The public half holds the checks of both halves (curve, RSA
		// size and exponent) and decides the algorithm.
		p, err = NewPublicKey(key.Public(), id)
	} else {
		// A key held elsewhere (a KMS, an HSM): it signs through its
		// Sign method, and its public half decides the algorithm.
		p, err = opaqueSignerPublic(key, id)
	}
	if err != nil {
		return PrivateKey{}, err
	}
	return PrivateKey{p: &privateKey{signer: seal(key), public: p}}, nil
}

// checkPrivate refuses a Go private key that its public half cannot vouch
// for: nil, an Ed25519 key of the wrong length (whose Public would panic),
// an ECDSA scalar missing or out of range, and a key whose private half is
// not the one of its public half (a hand-built key, halves of two keys):
// it would sign every message with an error, or with a signature that no
// verifier given its public half accepts. It reports whether key is one of
// Go's own key types; any other signer holds its key elsewhere.
func checkPrivate(key crypto.Signer) (goKey bool, err error) {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			err = fmt.Errorf("auth: %w: Ed25519 private key is %d bytes, want %d", ErrBadKey, len(k), ed25519.PrivateKeySize)
		} else if !bytes.Equal(ed25519.NewKeyFromSeed(k.Seed())[ed25519.SeedSize:], k[ed25519.SeedSize:]) {
			err = errMismatchedKey("Ed25519")
		}
	case *ecdsa.PrivateKey:
		if err = checkECDSA(nil, k); err == nil {
			err = checkECDSAPair(k)
		}
	case *rsa.PrivateKey:
		if k == nil || k.N == nil {
			err = fmt.Errorf("auth: %w: nil RSA key", ErrBadKey)
		} else {
			err = checkRSAPair(k)
		}
	case nil, *ed25519.PrivateKey: // a nil pointer; NewPrivateKey took the others' value
		err = fmt.Errorf("auth: %w: nil private key", ErrBadKey)
	default:
		return false, nil
	}
	return true, err
}

// errMismatchedKey: a private key whose two halves are not one key pair.
func errMismatchedKey(kind string) error {
	return fmt.Errorf("auth: %w: %s private key does not match its public key", ErrBadKey, kind)
}

// checkECDSAPair refuses an ECDSA key whose scalar is not the one of its
// point; checkECDSA has checked both are on P-256.
func checkECDSAPair(k *ecdsa.PrivateKey) error {
	priv, err := k.ECDH()
	if err != nil {
		return fmt.Errorf("auth: %w: ECDSA key is not a valid P-256 key", ErrBadKey)
	}
	pub, err := k.PublicKey.ECDH()
	if err != nil || !priv.PublicKey().Equal(pub) {
		return errMismatchedKey("ECDSA")
	}
	return nil
}

// checkRSAPair refuses an RSA key without a private exponent, or whose
// exponent and primes are not those of its modulus. A key with its primes
// is checked by rsa's Validate; one without (which crypto/rsa still signs
// with, slowly) by signing a digest and verifying it.
func checkRSAPair(k *rsa.PrivateKey) error {
	if k.D == nil || k.D.Sign() <= 0 {
		return fmt.Errorf("auth: %w: RSA key lacks its private exponent", ErrBadKey)
	}
	if len(k.Primes) > 0 {
		if k.Validate() != nil {
			return errMismatchedKey("RSA")
		}
		return nil
	}
	digest := sha256.Sum256([]byte("herald key check"))
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
	if err != nil || rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, digest[:], sig) != nil {
		return errMismatchedKey("RSA")
	}
	return nil
}

// NewPublicKey wraps an existing Go public key: an ed25519.PublicKey, an
// *ecdsa.PublicKey on P-256 or an *rsa.PublicKey of 2048 to 8192 bits. id
// becomes the key ID and may be empty, but not be over 256 bytes nor hold
// control characters, line separators (U+2028, U+2029), bidi controls
// (U+202E) or invalid UTF-8. Other keys and such IDs fail with [ErrBadKey].
func NewPublicKey(key crypto.PublicKey, id string) (PublicKey, error) {
	if err := checkKeyID(id); err != nil {
		return PublicKey{}, err
	}
	if k, ok := key.(*ed25519.PublicKey); ok && k != nil {
		key = *k
	}
	var alg string
	switch k := key.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return PublicKey{}, fmt.Errorf("auth: %w: Ed25519 public key is %d bytes, want %d", ErrBadKey, len(k), ed25519.PublicKeySize)
		}
		alg = algEdDSA
	case *ecdsa.PublicKey:
		if err := checkECDSA(k, nil); err != nil {
			return PublicKey{}, err
		}
		alg = algES256
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return PublicKey{}, fmt.Errorf("auth: %w: nil RSA key", ErrBadKey)
		}
		if err := checkRSABits(k.N.BitLen()); err != nil {
			return PublicKey{}, err
		}
		if k.E < 3 || k.E%2 == 0 {
			return PublicKey{}, fmt.Errorf("auth: %w: RSA public exponent must be odd and at least 3", ErrBadKey)
		}
		alg = algRS256
	case nil, *ed25519.PublicKey: // a nil pointer; the others were taken by value above
		return PublicKey{}, fmt.Errorf("auth: %w: nil public key", ErrBadKey)
	default:
		return PublicKey{}, fmt.Errorf("auth: %w: unsupported public key type %T (want Ed25519, ECDSA P-256 or RSA)", ErrBadKey, key)
	}
	return PublicKey{p: &publicKey{id: id, alg: alg, key: key}}, nil
}

// checkKeyID refuses, as [ErrBadKey], a key ID over 256 bytes (the
// longest kid a verifier takes), or that is not valid UTF-8 or holds a
// control character (C0, DEL or C1), a Unicode line or paragraph separator
// (U+2028, U+2029) or a bidi control (U+202E and the like): an ID is sent
// as the JWT kid and shows in errors and logs, where a line break or NUL
// could forge or cut a line, and a bidi control makes one read as another.
// Other invisible characters (zero-width joiners of emoji) are taken. The
// error names the problem, not the ID.
func checkKeyID(id string) error {
	if len(id) > maxIDLen {
		// A verifier refuses a longer kid: every token would fail.
		return fmt.Errorf("auth: %w: key ID longer than %d bytes", ErrBadKey, maxIDLen)
	}
	if err := wire.CheckText(id); err != nil {
		return fmt.Errorf("auth: %w: key ID %w", ErrBadKey, err)
	}
	return nil
}

// checkECDSA refuses an ECDSA key (priv when given, else pub) that is nil,
// not on P-256, or whose point is missing or not on the curve, or whose
// scalar is missing or out of range: every later use of such a key would
// fail, and crypto/ecdsa panics on missing coordinates. Bytes validates,
// once the coordinates are known to be there.
func checkECDSA(pub *ecdsa.PublicKey, priv *ecdsa.PrivateKey) error {
	if priv != nil {
		pub = &priv.PublicKey
	}
	if pub == nil || pub.Curve != elliptic.P256() {
		return fmt.Errorf("auth: %w: ECDSA keys must be on curve P-256 (ES256)", ErrBadKey)
	}
	if pub.X == nil || pub.Y == nil || (priv != nil && priv.D == nil) {
		return fmt.Errorf("auth: %w: ECDSA key lacks its point or scalar", ErrBadKey)
	}
	var err error
	if priv != nil {
		_, err = priv.Bytes()
	} else {
		_, err = pub.Bytes()
	}
	if err != nil {
		return fmt.Errorf("auth: %w: ECDSA key is not a valid P-256 key", ErrBadKey)
	}
	return nil
}

// checkRSABits refuses RSA moduli outside minRSABits..maxRSABits.
func checkRSABits(bits int) error {
	if bits < minRSABits || bits > maxRSABits {
		return fmt.Errorf("auth: %w: RSA key is %d bits, want %d to %d", ErrBadKey, bits, minRSABits, maxRSABits)
	}
	return nil
}

// GeneratePrivateKey makes a new random key for alg: "EdDSA" (Ed25519),
// "ES256" (ECDSA P-256) or "RS256" (RSA, 3072 bits). The key ID is set to the
// key's RFC 7638 thumbprint (see [PublicKey.Thumbprint]).
func GeneratePrivateKey(alg string) (PrivateKey, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case algEdDSA:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case algES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case algRS256:
		key, err = rsa.GenerateKey(rand.Reader, generatedRSABits)
	default:
		return PrivateKey{}, fmt.Errorf("auth: %w: cannot generate a key for algorithm %q (want EdDSA, ES256 or RS256)", ErrBadKey, alg)
	}
	if err != nil {
		return PrivateKey{}, fmt.Errorf("auth: generating %s key: %w", alg, err)
	}
	return namedPrivateKey(key, "")
}

// namedPrivateKey is NewPrivateKey, except that an empty id gives the key
// its RFC 7638 thumbprint as its ID: the rule for every key this package
// generates or parses, so that a signer and a verifier that read the two
// halves of a key pair agree on its kid.
func namedPrivateKey(key crypto.Signer, id string) (PrivateKey, error) {
	k, err := NewPrivateKey(key, id)
	if err != nil || id != "" {
		return k, err
	}
	return k.withID(k.Public().Thumbprint()), nil
}

// namedPublicKey is NewPublicKey with the ID rule of [namedPrivateKey].
func namedPublicKey(key crypto.PublicKey, id string) (PublicKey, error) {
	k, err := NewPublicKey(key, id)
	if err != nil || id != "" {
		return k, err
	}
	return k.withID(k.Thumbprint()), nil
}

// ID returns the key ID, possibly empty.
func (k PrivateKey) ID() string { return k.Public().ID() }

// Algorithm returns the JWT algorithm the key signs with: "EdDSA", "ES256"
// or "RS256"; empty for the zero PrivateKey.
func (k PrivateKey) Algorithm() string { return k.Public().Algorithm() }

// isZero reports whether k holds no key.
func (k PrivateKey) isZero() bool { return k.p == nil }

// withID returns a copy of k with the key ID id. Its public half gets the
// same ID.
func (k PrivateKey) withID(id string) PrivateKey {
	if k.p == nil {
		return k
	}
	c := *k.p
	c.public = c.public.withID(id)
	return PrivateKey{p: &c}
}

// Public returns the public half of k, with the same key ID. It is the zero
// PublicKey when k is zero.
func (k PrivateKey) Public() PublicKey {
	if k.p == nil {
		return PublicKey{}
	}
	return k.p.public
}

// Signer returns the underlying Go key (ed25519.PrivateKey,
// *ecdsa.PrivateKey or *rsa.PrivateKey, or the crypto.Signer given to
// [NewPrivateKey]), or nil for the zero PrivateKey. It
// is the one deliberate way to reveal a PrivateKey: do not modify it.
func (k PrivateKey) Signer() crypto.Signer {
	if k.p == nil {
		return nil
	}
	return k.p.signer.open()
}

// ID returns the key ID, possibly empty.
func (k PublicKey) ID() string {
	if k.p == nil {
		return ""
	}
	return k.p.id
}

// Algorithm returns the JWT algorithm the key verifies: "EdDSA", "ES256" or
// "RS256"; empty for the zero PublicKey.
func (k PublicKey) Algorithm() string {
	if k.p == nil {
		return ""
	}
	return k.p.alg
}

// isZero reports whether k holds no key.
func (k PublicKey) isZero() bool { return k.p == nil }

// withID returns a copy of k with the key ID id.
func (k PublicKey) withID(id string) PublicKey {
	if k.p == nil {
		return k
	}
	c := *k.p
	c.id = id
	return PublicKey{p: &c}
}

// Key returns the underlying Go key (ed25519.PublicKey, *ecdsa.PublicKey or
// *rsa.PublicKey), or nil for the zero PublicKey. Do not modify it.
func (k PublicKey) Key() crypto.PublicKey {
	if k.p == nil {
		return nil
	}
	return k.p.key
}

// equal reports whether k and o hold the same key material, ignoring their
// IDs.
func (k PublicKey) equal(o PublicKey) bool {
	if k.p == nil || o.p == nil {
		return k.p == nil && o.p == nil
	}
	return sameKey(k.p.key, o.p.key)
}

// sameKey reports whether a and b are the same Go public key.
func sameKey(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// String describes the key without its material, e.g. `EdDSA public key
// "2024-01"`. Public keys are not secret; this only keeps logs short.
func (k PublicKey) String() string {
	if k.p == nil {
		return "no public key"
	}
	if k.p.id == "" {
		return k.p.alg + " public key"
	}
	return fmt.Sprintf("%s public key %q", k.p.alg, k.p.id)
}

// Thumbprint returns the RFC 7638 JWK thumbprint of k: the unpadded
// base64url SHA-256 of its canonical JWK members. It is a stable, public
// name for the key, suitable as a key ID. Empty for the zero PublicKey.
func (k PublicKey) Thumbprint() string {
	if k.p == nil {
		return ""
	}
	j := jwkOf(k)
	// Members in lexicographic order, no whitespace (RFC 7638 section 3.2);
	// every value is base64url or a fixed name, so needs no JSON escaping.
	var s string
	switch j.Kty {
	case "OKP":
		s = `{"crv":"` + j.Crv + `","kty":"OKP","x":"` + j.X + `"}`
	case "EC":
		s = `{"crv":"` + j.Crv + `","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	case "RSA":
		s = `{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`
	}
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ParsePrivateKey parses a private key in either of its text forms:
//
//   - a Standard Webhooks v1a signing key, "whsk_" followed by the standard
//     base64 of an Ed25519 key (the 64-byte seed-and-public-key form that
//     libsodium and Svix use, or the bare 32-byte seed);
//   - the first private key of a PEM document: PKCS #8 ("PRIVATE KEY"), or
//     for convenience PKCS #1 ("RSA PRIVATE KEY") and SEC 1 ("EC PRIVATE
//     KEY", an "EC PARAMETERS" block before it is skipped).
//
// id becomes the key ID; empty, the ID is the key's RFC 7638 thumbprint
// ([PublicKey.Thumbprint]), as for [GeneratePrivateKey] and [ParsePublicKey],
// so that the two halves of a pair share a kid. Encrypted, unsupported, weak
// or unparsable keys, and an id refused by [NewPrivateKey] (over 256
// bytes, control characters, line separators, bidi controls, invalid
// UTF-8), fail with [ErrBadKey]; errors never quote the input.
func ParsePrivateKey(data []byte, id string) (PrivateKey, error) {
	return parseKey(data, id, standardSigningKeyPrefix, parseStandardSigningKey, parsePrivateKeyPEM)
}

// ParsePublicKey parses a public key in either of its text forms: a
// Standard Webhooks v1a public key, "whpk_" followed by the standard base64
// of the 32-byte Ed25519 key, or the first public key of a PEM document,
// PKIX ("PUBLIC KEY") or for convenience PKCS #1 ("RSA PUBLIC KEY"). id
// becomes the key ID; empty, the ID is the key's RFC 7638 thumbprint, as
// for [ParsePrivateKey]. Unsupported, weak or unparsable keys, and an id
// refused by [NewPublicKey], fail with [ErrBadKey]. (A JSON Web Key Set
// holds several: see [ParseJWKS].)
func ParsePublicKey(data []byte, id string) (PublicKey, error) {
	return parseKey(data, id, standardPublicKeyPrefix, parseStandardPublicKey, parsePublicKeyPEM)
}

// parseKey is ParsePrivateKey and ParsePublicKey: data that starts with
// prefix is a Standard Webhooks key, parsed by standard and then given id
// when it is not empty (standard names it by its thumbprint); anything else
// goes to pemParser with id.
func parseKey[K interface{ withID(string) K }](data []byte, id, prefix string, standard func(string) (K, error), pemParser func([]byte, string) (K, error)) (K, error) {
	if err := checkKeyID(id); err != nil {
		var zero K
		return zero, err
	}
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return pemParser(data, id)
	}
	k, err := standard(string(data))
	if err != nil || id == "" {
		return k, err
	}
	return k.withID(id), nil
}

// parsePrivateKeyPEM parses the first private key in a PEM document: PKCS #8
// ("PRIVATE KEY"), or for convenience PKCS #1 ("RSA PRIVATE KEY") and SEC 1
// ("EC PRIVATE KEY", an "EC PARAMETERS" block before it is skipped). id
// becomes the key ID; empty, the ID is the key's RFC 7638 thumbprint
// ([PublicKey.Thumbprint]), as for [GeneratePrivateKey] and
// [ParsePublicKey], so that the two halves of a pair share a kid. Encrypted, unsupported, weak or
// unparsable keys fail with [ErrBadKey]; errors never quote the input.
func parsePrivateKeyPEM(data []byte, id string) (PrivateKey, error) {
	block, err := firstPEMBlock(data, "private")
	for err == nil && block.Type == "EC PARAMETERS" {
		block, err = firstPEMBlock(block.rest, "private")
	}
	if err != nil {
		return PrivateKey{}, err
	}
	if _, encrypted := block.Headers["Proc-Type"]; encrypted || block.Type == "ENCRYPTED PRIVATE KEY" {
		return PrivateKey{}, fmt.Errorf("auth: %w: encrypted PEM keys are not supported; decrypt it first", ErrBadKey)
	}
	key, err := privatePEM.parse(block.Block, publicPEM, "holds no private key; use ParsePublicKey to verify")
	if err != nil {
		return PrivateKey{}, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return PrivateKey{}, fmt.Errorf("auth: %w: unsupported private key type %T", ErrBadKey, key)
	}
	return namedPrivateKey(signer, id)
}

// parsePublicKeyPEM parses the first public key in a PEM document: PKIX
// ("PUBLIC KEY"), or for convenience PKCS #1 ("RSA PUBLIC KEY"). id becomes
// the key ID; empty, the ID is the key's RFC 7638 thumbprint, as for
// [ParsePrivateKey]. Unsupported, weak or unparsable keys fail with
// [ErrBadKey].
func parsePublicKeyPEM(data []byte, id string) (PublicKey, error) {
	block, err := firstPEMBlock(data, "public")
	if err != nil {
		return PublicKey{}, err
	}
	// Say nothing more of a private key: the caller is about to paste it
	// where a public one belongs.
	key, err := publicPEM.parse(block.Block, privatePEM, "is a private key; give the verifier the public key only")
	if err != nil {
		return PublicKey{}, err
	}
	return namedPublicKey(key, id)
}

// pemBlock is a decoded PEM block and the input after it.
type pemBlock struct {
	*pem.Block
	rest []byte
}

// firstPEMBlock decodes the first PEM block of data, bounded by maxPEMLen,
// for a key of the half named by half ("private" or "public").
func firstPEMBlock(data []byte, half string) (pemBlock, error) {
	if len(data) > maxPEMLen {
		return pemBlock{}, fmt.Errorf("auth: %w: PEM input longer than %d bytes", ErrBadKey, maxPEMLen)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return pemBlock{}, fmt.Errorf("auth: %w: no PEM %s key found", ErrBadKey, half)
	}
	return pemBlock{Block: block, rest: rest}, nil
}

// pemParsers are the x509 parsers of the PEM block types of one half of a
// key pair.
type pemParsers map[string]func(der []byte) (any, error)

var (
	privatePEM = pemParsers{
		"PRIVATE KEY":     x509.ParsePKCS8PrivateKey,
		"RSA PRIVATE KEY": func(der []byte) (any, error) { return x509.ParsePKCS1PrivateKey(der) },
		"EC PRIVATE KEY":  func(der []byte) (any, error) { return x509.ParseECPrivateKey(der) },
		// A private key herald cannot read: parsePrivateKeyPEM refuses it
		// as encrypted, parsePublicKeyPEM as the wrong half.
		"ENCRYPTED PRIVATE KEY": nil,
	}
	publicPEM = pemParsers{
		"PUBLIC KEY":     x509.ParsePKIXPublicKey,
		"RSA PUBLIC KEY": func(der []byte) (any, error) { return x509.ParsePKCS1PublicKey(der) },
		// A certificate holds a public key herald does not read from it:
		// parse refuses it for either half, saying how to take the key out.
		"CERTIFICATE": nil,
	}
)

// parse parses block with the parser of its type. A block of a type of
// other, the other half of a pair, is refused with the reason wrongHalf,
// any other type as unsupported. Errors wrap [ErrBadKey]; x509's describe
// the structure, never the key bytes.
func (p pemParsers) parse(block *pem.Block, other pemParsers, wrongHalf string) (any, error) {
	parse := p[block.Type]
	if block.Type == "CERTIFICATE" {
		return nil, fmt.Errorf("auth: %w: PEM block %q is a certificate, not a key; give its public key (openssl x509 -pubkey -noout)", ErrBadKey, block.Type)
	}
	if parse == nil {
		if _, ok := other[block.Type]; ok {
			return nil, fmt.Errorf("auth: %w: PEM block %q %s", ErrBadKey, block.Type, wrongHalf)
		}
		return nil, fmt.Errorf("auth: %w: unsupported PEM block type %q", ErrBadKey, block.Type)
	}
	key, err := parse(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("auth: %w: parsing %s: %w", ErrBadKey, block.Type, err)
	}
	return key, nil
}

// MarshalPrivateKeyPEM encodes k as a PKCS #8 "PRIVATE KEY" PEM block. The
// key ID is not part of the encoding.
func MarshalPrivateKeyPEM(k PrivateKey) ([]byte, error) {
	if k.p == nil {
		return nil, fmt.Errorf("auth: %w: no private key", ErrBadKey)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.p.signer.open())
	if err != nil && !isGoPrivateKey(k.p.signer.open()) {
		return nil, fmt.Errorf("auth: %w", errNotExportable)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: %w: encoding PKCS #8: %w", ErrBadKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKeyPEM encodes k as a PKIX "PUBLIC KEY" PEM block. The key ID
// is not part of the encoding.
func MarshalPublicKeyPEM(k PublicKey) ([]byte, error) {
	if k.p == nil {
		return nil, fmt.Errorf("auth: %w: no public key", ErrBadKey)
	}
	der, err := x509.MarshalPKIXPublicKey(k.p.key)
	if err != nil {
		return nil, fmt.Errorf("auth: %w: encoding PKIX: %w", ErrBadKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
