package auth

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"sync"
)

// v1aVersion is the signature identifier of Standard Webhooks' asymmetric
// (Ed25519) scheme.
const v1aVersion = "v1a"

// maxV1aSignatures bounds how many v1a signatures one request may carry:
// each costs an Ed25519 verification per key. Rotation needs two or three.
const maxV1aSignatures = 8

// v1aSigLen is the length of a padded standard base64 Ed25519 signature: 88.
const v1aSigLen = (ed25519.SignatureSize + 2) / 3 * 4

// v1aDecodedMax is the most bytes base64 can decode from v1aSigLen
// characters: 66, when they carry no padding. A signature is decoded into a
// buffer this large and only then checked to be 64 bytes, so that input of
// the right length but the wrong padding cannot write past the buffer.
const v1aDecodedMax = v1aSigLen / 4 * 3

// v1aKey is one Ed25519 key of a v1a scheme with the name reported in
// [Verified.KeyID].
type v1aKey struct {
	name string
	pub  ed25519.PublicKey
	priv sealed[ed25519.PrivateKey] // nil for a verifier and an opaque key
	// opaque signs for a key that is not an ed25519.PrivateKey (one in a
	// KMS or an HSM); nil otherwise.
	opaque sealed[crypto.Signer]
}

// v1aScheme is the scheme behind [NewStandardV1a]; see its doc.
type v1aScheme struct {
	keys    []v1aKey
	canSign bool
	o       options
	// buf pools the signed-content buffers of Sign and Verify.
	buf sync.Pool
}

// NewStandardV1a returns a Standard Webhooks v1a scheme that signs with every key, in order,
// and verifies against the public halves of all of them. The keys must be
// Ed25519 (see [ParsePrivateKey], [GeneratePrivateKey]("EdDSA")), or made by
// [NewPrivateKey] from any crypto.Signer of an Ed25519 key, such as one held
// in a KMS or an HSM, which then signs without the key leaving it.
// [Verified.KeyID] reports the ID of the key that matched, or its position
// when it has none. Options: [WithTolerance], [WithClock].
//
// The scheme signs and verifies Standard Webhooks v1a: an Ed25519 signature
// over "id.timestamp.body" in webhook-signature as "v1a,<base64>", next to
// webhook-id and webhook-timestamp (svix-* headers are accepted too). Given
// several keys it signs with each, space-separated, and accepts a signature
// by any: that is how keys are rotated. Signatures of other versions, v1
// included, are ignored.
//
// Only the sender holds private keys; receivers verify with the public keys
// alone, so they cannot forge webhooks. Make one with [NewStandardV1a]
// (signs and verifies) or [NewStandardV1aVerifier] (verifies only).
// The Scheme is safe for concurrent use.
func NewStandardV1a(keys []PrivateKey, opts ...StandardOption) (*Scheme, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth: %s: %w: no key given", schemeStandardV1a, ErrBadKey)
	}
	s := &v1aScheme{keys: make([]v1aKey, len(keys)), canSign: true, o: buildOptions(opts, StandardOption.standard)}
	for i, k := range keys {
		if priv, ok := k.Signer().(ed25519.PrivateKey); ok {
			s.keys[i] = v1aKey{name: keyName(k.ID(), i), pub: priv.Public().(ed25519.PublicKey), priv: seal(priv)}
			continue
		}
		pub, ok := k.Public().Key().(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("auth: %s: %w: key %d is not an Ed25519 key", schemeStandardV1a, ErrBadKey, i)
		}
		s.keys[i] = v1aKey{name: keyName(k.ID(), i), pub: pub, opaque: seal(k.Signer())}
	}
	return &Scheme{s: s}, nil
}

// NewStandardV1aVerifier returns a Standard Webhooks v1a scheme that verifies against keys,
// Ed25519 public keys (see [ParsePublicKey]). Its Sign fails: it
// holds no private key. Options: [WithTolerance], [WithClock].
func NewStandardV1aVerifier(keys []PublicKey, opts ...StandardOption) (*Scheme, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth: %s: %w: no key given", schemeStandardV1a, ErrBadKey)
	}
	s := &v1aScheme{keys: make([]v1aKey, len(keys)), o: buildOptions(opts, StandardOption.standard)}
	for i, k := range keys {
		pub, ok := k.Key().(ed25519.PublicKey)
		if !ok || len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("auth: %s: %w: key %d is not an Ed25519 key", schemeStandardV1a, ErrBadKey, i)
		}
		s.keys[i] = v1aKey{name: keyName(k.ID(), i), pub: pub}
	}
	return &Scheme{s: s}, nil
}

// keyName is what [Verified.KeyID] reports for key i: its ID, or its position.
func keyName(id string, i int) string {
	if id != "" {
		return id
	}
	return strconv.Itoa(i)
}

// Sign sets webhook-id, webhook-timestamp and webhook-signature on h, with
// one v1a signature per key.
func (s *v1aScheme) Sign(h http.Header, m Message) error {
	if !s.canSign {
		return fmt.Errorf("auth: %s: %w", schemeStandardV1a, errNoPrivateKey)
	}
	unix, err := signingUnix(schemeStandardV1a, m, s.o.now, checkMessageID)
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(unix, 10)
	bp := s.getBuf()
	content := appendStandardContent((*bp)[:0], m.ID, ts, m.Body)
	sigs := make([]byte, 0, len(s.keys)*(len(v1aVersion)+2+v1aSigLen))
	for i, k := range s.keys {
		if i > 0 {
			sigs = append(sigs, ' ')
		}
		sigs = append(sigs, v1aVersion...)
		sigs = append(sigs, ',')
		var sig []byte
		if k.opaque == nil {
			sig = ed25519.Sign(k.priv.open(), content)
		} else if sig, err = signEd25519(k.opaque.open(), content); err != nil {
			s.putBuf(bp, content)
			return fmt.Errorf("auth: %s: key %s: %w", schemeStandardV1a, k.name, err)
		}
		sigs = base64.StdEncoding.AppendEncode(sigs, sig)
	}
	s.putBuf(bp, content)
	setStandardHeaders(h, m.ID, ts, string(sigs))
	return nil
}

// Verify checks the v1a signatures of a request against body. It fails with
// [ErrNoSignature] when there is no signature header or no v1a signature in
// it, [ErrMalformed] for missing, repeated, oversized or unparsable headers
// (more than 8 v1a signatures, or none of the right size), [ErrExpired] when the
// timestamp is out of tolerance (checked before any signature), and
// [ErrBadSignature] when no v1a signature matches any key.
func (s *v1aScheme) Verify(h http.Header, body []byte) (Verified, error) {
	id, ts, tsTime, sigs, err := readStandardHeaders(h, schemeStandardV1a, &s.o)
	if err != nil {
		return Verified{}, err
	}
	var decoded [maxV1aSignatures][ed25519.SignatureSize]byte
	n, seen := 0, false
	for v, sig, rest, ok := cutSignature(sigs); ok; v, sig, rest, ok = cutSignature(rest) {
		if v != v1aVersion {
			continue
		}
		seen = true
		if n == maxV1aSignatures {
			return Verified{}, fmt.Errorf("auth: %s: %w: more than %d v1a signatures", schemeStandardV1a, ErrMalformed, maxV1aSignatures)
		}
		// A signature of the wrong length or alphabet can match no key.
		if decodeV1aSignature(&decoded[n], sig) {
			n++
		}
	}
	if !seen {
		return Verified{}, fmt.Errorf("auth: %s: %w: no v1a signature in the header", schemeStandardV1a, ErrNoSignature)
	}
	if n == 0 {
		return Verified{}, fmt.Errorf("auth: %s: %w: v1a signature is not %d bytes of base64", schemeStandardV1a, ErrMalformed, ed25519.SignatureSize)
	}
	bp := s.getBuf()
	content := appendStandardContent((*bp)[:0], id, ts, body)
	defer s.putBuf(bp, content)
	for _, k := range s.keys {
		for i := range n {
			if ed25519.Verify(k.pub, content, decoded[i][:]) {
				return Verified{Scheme: schemeStandardV1a, ID: id, Timestamp: tsTime, KeyID: k.name, replayUntil: tsTime.Add(s.o.tolerance)}, nil
			}
		}
	}
	return Verified{}, fmt.Errorf("auth: %s: %w", schemeStandardV1a, ErrBadSignature)
}

// decodeV1aSignature decodes sig into dst and reports whether it is exactly
// an Ed25519 signature in strict, padded standard base64. Input of any other
// length or padding is refused without writing past dst.
func decodeV1aSignature(dst *[ed25519.SignatureSize]byte, sig string) bool {
	if len(sig) != v1aSigLen {
		return false
	}
	var buf [v1aDecodedMax]byte
	n, err := base64.StdEncoding.Strict().Decode(buf[:], []byte(sig))
	if err != nil || n != ed25519.SignatureSize {
		return false
	}
	copy(dst[:], buf[:n])
	return true
}

// maxPooledBuf is the largest signed-content buffer kept for reuse; larger
// bodies get a fresh one, so that one huge request does not pin memory.
const maxPooledBuf = 64 << 10

// getBuf returns a signed-content buffer from the pool, or a new one.
func (s *v1aScheme) getBuf() *[]byte {
	if bp, ok := s.buf.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, 0, 2048)
	return &b
}

// putBuf returns used (the grown buffer of bp) to the pool.
func (s *v1aScheme) putBuf(bp *[]byte, used []byte) {
	if cap(used) > maxPooledBuf {
		return
	}
	*bp = used[:0]
	s.buf.Put(bp)
}
