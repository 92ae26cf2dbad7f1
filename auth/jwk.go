package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
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
	Alg string `json:"alg,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
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
// kids, a document over 1 MiB or one without any usable key fail with
// [ErrBadKey]. Errors never quote the input.
func ParseJWKS(data []byte) ([]PublicKey, error) {
	if len(data) > maxJWKSLen {
		return nil, fmt.Errorf("auth: jwks: %w: document larger than %d bytes", ErrBadKey, maxJWKSLen)
	}
	var set jwkSet
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&set); err != nil {
		return nil, fmt.Errorf("auth: jwks: %w: not a JSON key set", ErrBadKey)
	}
	if dec.More() {
		return nil, fmt.Errorf("auth: jwks: %w: trailing data after the key set", ErrBadKey)
	}
	if set.Keys == nil {
		return nil, fmt.Errorf("auth: jwks: %w: no \"keys\" array", ErrBadKey)
	}
	var keys []PublicKey
	seen := make(map[string]bool, len(set.Keys))
	for i, raw := range set.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("auth: jwks: %w: key %d is not a JSON object of strings", ErrBadKey, i)
		}
		k, ok, err := j.publicKey()
		if err != nil {
			return nil, fmt.Errorf("auth: jwks: %w: key %d: %s", ErrBadKey, i, err)
		}
		if !ok {
			continue
		}
		if seen[j.Kid] {
			if j.Kid == "" {
				return nil, fmt.Errorf("auth: jwks: %w: key %d: several usable keys lack a kid", ErrBadKey, i)
			}
			return nil, fmt.Errorf("auth: jwks: %w: key %d: duplicate kid", ErrBadKey, i)
		}
		seen[j.Kid] = true
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth: jwks: %w: no usable signature key (EdDSA, ES256, RS256)", ErrBadKey)
	}
	return keys, nil
}

// publicKey converts j. ok is false, with no error, for a key this package
// does not use; err describes (without key material) a usable-looking key
// that is malformed.
func (j *jwk) publicKey() (k PublicKey, ok bool, err error) {
	if j.Use != "" && j.Use != "sig" {
		return PublicKey{}, false, nil
	}
	if j.D != "" || j.P != "" || j.Q != "" {
		return PublicKey{}, false, fmt.Errorf("holds private key members; publish public keys only")
	}
	switch j.Kty {
	case "OKP":
		if j.Crv != "Ed25519" || (j.Alg != "" && j.Alg != algEdDSA && j.Alg != "Ed25519") {
			return PublicKey{}, false, nil
		}
		x, err := decodeJWKMember(j.X, ed25519.PublicKeySize, "x")
		if err != nil {
			return PublicKey{}, false, err
		}
		k, err = NewPublicKey(ed25519.PublicKey(x), j.Kid)
		return k, err == nil, err
	case "EC":
		if j.Crv != "P-256" || (j.Alg != "" && j.Alg != algES256) {
			return PublicKey{}, false, nil
		}
		x, err := decodeJWKMember(j.X, 32, "x")
		if err != nil {
			return PublicKey{}, false, err
		}
		y, err := decodeJWKMember(j.Y, 32, "y")
		if err != nil {
			return PublicKey{}, false, err
		}
		point := make([]byte, 0, 65)
		point = append(append(append(point, 4), x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return PublicKey{}, false, fmt.Errorf("EC point is not on P-256")
		}
		k, err = NewPublicKey(pub, j.Kid)
		return k, err == nil, err
	case "RSA":
		if j.Alg != "" && j.Alg != algRS256 {
			return PublicKey{}, false, nil
		}
		n, err := decodeJWKMember(j.N, -1, "n")
		if err != nil {
			return PublicKey{}, false, err
		}
		if len(n) == 0 || n[0] == 0 {
			return PublicKey{}, false, fmt.Errorf("RSA modulus has leading zeros or is empty")
		}
		if bits := len(n) * 8; bits < minRSABits || bits > maxRSABits+8 {
			return PublicKey{}, false, nil
		}
		e, err := decodeJWKMember(j.E, -1, "e")
		if err != nil {
			return PublicKey{}, false, err
		}
		if len(e) == 0 || len(e) > 4 || e[0] == 0 {
			return PublicKey{}, false, fmt.Errorf("RSA exponent is empty, too large or has leading zeros")
		}
		var exp int64
		for _, b := range e {
			exp = exp<<8 | int64(b)
		}
		if exp > 1<<31-1 {
			return PublicKey{}, false, fmt.Errorf("RSA exponent too large")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
		if b := pub.N.BitLen(); b < minRSABits || b > maxRSABits {
			return PublicKey{}, false, nil
		}
		k, err = NewPublicKey(pub, j.Kid)
		return k, err == nil, err
	}
	return PublicKey{}, false, nil
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
