package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// maxJWKSLen bounds a JWKS document, fetched or parsed.
const maxJWKSLen = 1 << 20

// jwk is one JSON Web Key (RFC 7517) of the kinds this package uses: OKP
// Ed25519, EC P-256 and RSA public keys. Members it does not know are
// ignored; private members are detected so that they can be refused.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	// KeyOps, when given, must include "verify" (RFC 7517, section 4.3):
	// a key marked for encryption or key agreement only is not used to
	// verify, as one with another Use is not.
	KeyOps []string `json:"key_ops,omitempty"`
	Alg    string   `json:"alg,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
	// D, P and Q would carry private material: a published key set must
	// never hold them. They are only read, never written.
	D string `json:"d,omitempty"`
	P string `json:"p,omitempty"`
	Q string `json:"q,omitempty"`
}

// jwkSet is a JSON Web Key Set document.
type jwkSet struct {
	Keys []json.RawMessage `json:"keys"`
}

// jwkOf returns the public JWK of k with kid, alg and use=sig.
func jwkOf(k PublicKey) jwk {
	j := jwk{Kid: k.ID(), Alg: k.Algorithm(), Use: "sig"}
	switch key := k.Key().(type) {
	case ed25519.PublicKey:
		j.Kty, j.Crv = "OKP", "Ed25519"
		j.X = base64.RawURLEncoding.EncodeToString(key)
	case *ecdsa.PublicKey:
		j.Kty, j.Crv = "EC", "P-256"
		// 0x04 || X || Y. NewPublicKey admits only valid P-256 keys, for
		// which Bytes cannot fail.
		if p, err := key.Bytes(); err == nil && len(p) == 65 {
			j.X = base64.RawURLEncoding.EncodeToString(p[1:33])
			j.Y = base64.RawURLEncoding.EncodeToString(p[33:])
		}
	case *rsa.PublicKey:
		j.Kty = "RSA"
		j.N = base64.RawURLEncoding.EncodeToString(key.N.Bytes())
		j.E = base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())
	}
	return j
}

// MarshalJWKS encodes keys as a JSON Web Key Set, {"keys":[...]}, each with
// its kid (when set), alg and use "sig". Zero keys are skipped. It is what
// [JWKSHandler] serves, for publishing the set some other way (a file, a
// CDN).
func MarshalJWKS(keys ...PublicKey) ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	for _, k := range keys {
		if !k.isZero() {
			set.Keys = append(set.Keys, jwkOf(k))
		}
	}
	return json.Marshal(set)
}

// ParseJWKS parses a JSON Web Key Set document, {"keys":[...]}, into public
// keys carrying their kid. It keeps OKP Ed25519 (alg EdDSA), EC P-256 (ES256)
// and RSA (RS256) signature keys and skips keys of other types, curves,
// algorithms or uses (such as "enc"), and RSA keys outside 2048 to 8192 bits.
// A kept key type with a malformed member, private key members, duplicate
// kids or a kid [NewPublicKey] refuses, a document over 1 MiB or one
// without any usable key fail with [ErrBadKey]. Errors never quote the
// input. (A [*JWKS] is more lenient with the set it fetches: it skips such
// keys and uses the others.)
func ParseJWKS(data []byte) ([]PublicKey, error) {
	set, err := parseKeySet(data)
	if err != nil {
		return nil, err
	}
	if set.firstBad != "" {
		return nil, fmt.Errorf("auth: jwks: %w: %s", ErrBadKey, set.firstBad)
	}
	if err := set.noneUsable(); err != nil {
		return nil, err
	}
	return set.keys, nil
}

// errUnusedKey marks a key of a type, curve, algorithm, use or size this
// package does not use: skipped, not an error.
var errUnusedKey = errors.New("not an EdDSA, ES256 or RS256 signature key")

// maxSkippedKids bounds how many skipped keys a [keySet] remembers by kid
// (each with its reason): a document of many thousands of tiny entries
// must not keep as many strings for as long as the set is cached. Those
// past the bound are counted only.
const maxSkippedKids = 64

// keySet is a parsed JWKS document: its usable keys, and what was
// skipped, without key material.
type keySet struct {
	keys []PublicKey
	// skipped says, for the kid of each entry that was skipped (up to
	// maxSkippedKids of them), why.
	skipped map[string]string
	// nSkipped counts the entries skipped, with a kid or without.
	nSkipped int
	// overflow says that the kid of a skipped entry was not remembered
	// (past maxSkippedKids): any kid may then be a skipped key's.
	overflow bool
	// firstBad says which entry of a usable type was the first malformed,
	// and how, as ParseJWKS reports it; "" when none was.
	firstBad string
}

// skip records entry i, with kid when it has one, as skipped for why.
// Only a malformed key is bad; a key of a type not used is not.
func (s *keySet) skip(i int, kid string, hasKid bool, why error) {
	s.nSkipped++
	if _, dup := s.skipped[kid]; hasKid && !dup {
		if len(s.skipped) < maxSkippedKids {
			s.skipped[kid] = fmt.Sprintf("key %d: %s", i, why)
		} else {
			s.overflow = true
		}
	}
	if s.firstBad == "" && !errors.Is(why, errUnusedKey) {
		s.firstBad = fmt.Sprintf("key %d: %s", i, why)
	}
}

// noneUsable fails with [ErrBadKey] when s holds no usable key, naming
// the first malformed entry if there was one.
func (s *keySet) noneUsable() error {
	if len(s.keys) > 0 {
		return nil
	}
	const why = "no usable signature key (EdDSA, ES256, RS256)"
	if s.firstBad != "" {
		return fmt.Errorf("auth: jwks: %w: %s; %d skipped, the first malformed: %s", ErrBadKey, why, s.nSkipped, s.firstBad)
	}
	return fmt.Errorf("auth: jwks: %w: %s", ErrBadKey, why)
}

// parseKeySet parses a JWKS document, skipping the keys it cannot use
// (each noted in the result), and keeps the others. A kid held by
// several usable keys is ambiguous: all of them are skipped. It fails
// with [ErrBadKey] for a document that is too large or not a key set;
// whether any key is usable is the caller's to check ([keySet.noneUsable]).
func parseKeySet(data []byte) (keySet, error) {
	if len(data) > maxJWKSLen {
		return keySet{}, fmt.Errorf("auth: jwks: %w: document larger than %d bytes", ErrBadKey, maxJWKSLen)
	}
	var doc jwkSet
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return keySet{}, fmt.Errorf("auth: jwks: %w: not a JSON key set", ErrBadKey)
	}
	if dec.More() {
		return keySet{}, fmt.Errorf("auth: jwks: %w: trailing data after the key set", ErrBadKey)
	}
	if doc.Keys == nil {
		return keySet{}, fmt.Errorf("auth: jwks: %w: no \"keys\" array", ErrBadKey)
	}
	set := keySet{skipped: map[string]string{}}
	usable := make(map[string]int, len(doc.Keys)) // kid -> position in set.keys
	for i, raw := range doc.Keys {
		k, kid, hasKid, err := parseEntry(raw)
		if err != nil {
			set.skip(i, kid, hasKid, err)
			continue
		}
		if at, dup := usable[kid]; dup {
			why := errors.New("duplicate kid")
			if kid == "" {
				why = errors.New("several usable keys lack a kid")
			}
			set.skip(i, kid, kid != "", why)
			if at >= 0 {
				set.keys[at], usable[kid] = PublicKey{}, -1
				set.nSkipped++
			}
			continue
		}
		usable[kid] = len(set.keys)
		set.keys = append(set.keys, k)
	}
	set.keys = slices.DeleteFunc(set.keys, PublicKey.isZero)
	return set, nil
}

// parseEntry parses one entry of a key set, returning its kid even when it
// fails, if the entry has one that is a string.
func parseEntry(raw json.RawMessage) (k PublicKey, kid string, hasKid bool, err error) {
	var j jwk
	if err := json.Unmarshal(raw, &j); err != nil {
		var id struct {
			Kid *string `json:"kid"`
		}
		if json.Unmarshal(raw, &id) == nil && id.Kid != nil {
			kid, hasKid = *id.Kid, true
		}
		return PublicKey{}, kid, hasKid, errors.New("not a JSON object of strings")
	}
	k, err = j.publicKey()
	return k, j.Kid, j.Kid != "", err
}

// publicKey converts j. The error wraps [errUnusedKey] for a key this
// package does not use; otherwise it describes, without key material, a
// usable-looking key that is malformed.
func (j *jwk) publicKey() (PublicKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return PublicKey{}, fmt.Errorf("%w: use is not sig", errUnusedKey)
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return PublicKey{}, fmt.Errorf("%w: key_ops lacks verify", errUnusedKey)
	}
	if j.D != "" || j.P != "" || j.Q != "" {
		return PublicKey{}, errors.New("holds private key members; publish public keys only")
	}
	switch j.Kty {
	case "OKP":
		if j.Crv != "Ed25519" || (j.Alg != "" && j.Alg != algEdDSA && j.Alg != "Ed25519") {
			return PublicKey{}, fmt.Errorf("%w: OKP key of another curve or alg", errUnusedKey)
		}
		x, err := decodeJWKMember(j.X, ed25519.PublicKeySize, "x")
		if err != nil {
			return PublicKey{}, err
		}
		return NewPublicKey(ed25519.PublicKey(x), j.Kid)
	case "EC":
		if j.Crv != "P-256" || (j.Alg != "" && j.Alg != algES256) {
			return PublicKey{}, fmt.Errorf("%w: EC key of another curve or alg", errUnusedKey)
		}
		return j.ecKey()
	case "RSA":
		if j.Alg != "" && j.Alg != algRS256 {
			return PublicKey{}, fmt.Errorf("%w: RSA key of another alg", errUnusedKey)
		}
		return j.rsaKey()
	}
	return PublicKey{}, fmt.Errorf("%w: key type is not OKP, EC or RSA", errUnusedKey)
}

// ecKey converts an EC P-256 key.
func (j *jwk) ecKey() (PublicKey, error) {
	x, err := decodeJWKMember(j.X, 32, "x")
	if err != nil {
		return PublicKey{}, err
	}
	y, err := decodeJWKMember(j.Y, 32, "y")
	if err != nil {
		return PublicKey{}, err
	}
	point := make([]byte, 0, 65)
	point = append(append(append(point, 4), x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return PublicKey{}, errors.New("EC point is not on P-256")
	}
	return NewPublicKey(pub, j.Kid)
}

// rsaKey converts an RSA key; one outside 2048 to 8192 bits is not used.
func (j *jwk) rsaKey() (PublicKey, error) {
	unused := fmt.Errorf("%w: RSA key outside %d to %d bits", errUnusedKey, minRSABits, maxRSABits)
	n, err := decodeJWKMember(j.N, -1, "n")
	if err != nil {
		return PublicKey{}, err
	}
	if len(n) == 0 || n[0] == 0 {
		return PublicKey{}, errors.New("RSA modulus has leading zeros or is empty")
	}
	if bits := len(n) * 8; bits < minRSABits || bits > maxRSABits+8 {
		return PublicKey{}, unused
	}
	e, err := decodeJWKMember(j.E, -1, "e")
	if err != nil {
		return PublicKey{}, err
	}
	if len(e) == 0 || len(e) > 4 || e[0] == 0 {
		return PublicKey{}, errors.New("RSA exponent is empty, too large or has leading zeros")
	}
	var exp int64
	for _, b := range e {
		exp = exp<<8 | int64(b)
	}
	if exp > 1<<31-1 {
		return PublicKey{}, errors.New("RSA exponent too large")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
	if b := pub.N.BitLen(); b < minRSABits || b > maxRSABits {
		return PublicKey{}, unused
	}
	return NewPublicKey(pub, j.Kid)
}

// decodeJWKMember decodes an unpadded base64url member, checking its
// decoded size when size >= 0.
func decodeJWKMember(s string, size int, name string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("missing %q", name)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not unpadded base64url", name)
	}
	if size >= 0 && len(b) != size {
		return nil, fmt.Errorf("%q is %d bytes, want %d", name, len(b), size)
	}
	return b, nil
}
