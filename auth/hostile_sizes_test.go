package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The v1a crash of issue #14 was a decode into a fixed-size buffer that
// trusted the input's length. The tests of this file feed every decoder of
// the package whose output has a fixed size (base64 signatures and keys,
// hex MACs, PEM, JWK members, JWT signature segments) input one size off,
// far off and oddly encoded, as a hostile client would, and check that each
// is refused with the package's sentinel, never accepted, never a panic.

// sizedB64 returns base64 text of n bytes of filler in enc.
func sizedB64(enc *base64.Encoding, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return enc.EncodeToString(b)
}

// TestV1aSignatureSizes verifies v1a headers whose signature is base64 of
// every size near 64 bytes, in every alphabet and padding. Only a strict,
// padded 64-byte value may be checked as a signature (and then fails:
// it is not the right one); anything else is ErrMalformed.
func TestV1aSignatureSizes(t *testing.T) {
	ks := asymKeys(t)
	v, err := NewStandardV1aVerifier([]PublicKey{ks.ed.Public()}, WithClock(asymClock))
	if err != nil {
		t.Fatal(err)
	}
	m := asymMsg()
	ts := strconv.FormatInt(asymNow.Unix(), 10)
	var sigs []string
	for n := 0; n <= 70; n++ {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			sigs = append(sigs, sizedB64(enc, n))
		}
	}
	for n := 84; n <= 92; n++ {
		sigs = append(sigs, strings.Repeat("A", n), strings.Repeat("/", n), strings.Repeat("A", n-1)+"=", strings.Repeat("A", n-2)+"==",
			strings.Repeat("A", n-3)+"===", strings.Repeat("_", n), strings.Repeat("A", n-1)+"\x00")
	}
	sigs = append(sigs, strings.Repeat("A", 85)+"B==", strings.Repeat("A", 4096), "=", "==", "A", "\xff\xfe")
	for _, sig := range sigs {
		h := http.Header{"Webhook-Id": {m.ID}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {"v1a," + sig}}
		_, err := v.Verify(h, m.Body)
		want := ErrMalformed
		if b, derr := base64.StdEncoding.Strict().DecodeString(sig); derr == nil && len(b) == ed25519.SignatureSize {
			want = ErrBadSignature
		}
		if !errors.Is(err, want) {
			t.Errorf("v1a signature of %d characters %.24q…: %v, want %v", len(sig), sig, err, want)
		}
	}
}

// TestStandardKeySizes parses whsk_ and whpk_ keys and whsec_ secrets of
// every decoded size near the right ones: only 32 or 64 bytes make a whsk_
// key, 32 a whpk_ key, 24 to 64 a whsec_ secret.
func TestStandardKeySizes(t *testing.T) {
	for n := 0; n <= 100; n++ {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding} {
			text := sizedB64(enc, n)
			strictStd := enc == base64.StdEncoding || enc == base64.RawStdEncoding || !strings.ContainsAny(text, "-_")
			_, err := ParsePrivateKey([]byte(standardSigningKeyPrefix+text), "")
			if ok := strictStd && (n == ed25519.SeedSize); (err == nil) != ok || (err != nil && !errors.Is(err, ErrBadKey)) {
				// A 64-byte whsk_ of filler fails too: its public half is
				// not its seed's.
				t.Errorf("whsk_ of %d bytes (%.12q…): %v", n, text, err)
			}
			_, err = ParsePublicKey([]byte(standardPublicKeyPrefix+text), "")
			if ok := strictStd && n == ed25519.PublicKeySize; (err == nil) != ok || (err != nil && !errors.Is(err, ErrBadKey)) {
				t.Errorf("whpk_ of %d bytes (%.12q…): %v", n, text, err)
			}
			_, err = ParseStandardSecret(standardV1SecretPrefix + text)
			if ok := strictStd && n >= minStandardSecretLen && n <= maxStandardSecretLen; (err == nil) != ok || (err != nil && !errors.Is(err, ErrBadKey)) {
				t.Errorf("whsec_ of %d bytes (%.12q…): %v", n, text, err)
			}
		}
	}
	// Go's own key types of the wrong length are refused too.
	for _, n := range []int{0, 31, 32, 63, 65} {
		if _, err := NewPrivateKey(ed25519.PrivateKey(make([]byte, n)), ""); !errors.Is(err, ErrBadKey) {
			t.Errorf("ed25519.PrivateKey of %d bytes: %v", n, err)
		}
	}
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := NewPublicKey(ed25519.PublicKey(make([]byte, n)), ""); !errors.Is(err, ErrBadKey) {
			t.Errorf("ed25519.PublicKey of %d bytes: %v", n, err)
		}
	}
}

// derLen encodes a DER length.
func derLen(n int) []byte {
	if n < 0x80 {
		return []byte{byte(n)}
	}
	return []byte{0x82, byte(n >> 8), byte(n)}
}

// derSeq wraps parts in a DER SEQUENCE.
func derSeq(parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	return append(append([]byte{0x30}, derLen(len(body))...), body...)
}

// TestPEMKeySizes parses PEM Ed25519 keys whose seed or point is n bytes,
// built by hand as a hostile file would be, and truncated real keys.
func TestPEMKeySizes(t *testing.T) {
	ed25519OID := []byte{0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70}
	for _, n := range []int{0, 1, 31, 33, 64, 200} {
		seed := make([]byte, n)
		inner := append(append([]byte{0x04}, derLen(n)...), seed...)
		pkcs8 := derSeq([]byte{0x02, 0x01, 0x00}, ed25519OID, append(append([]byte{0x04}, derLen(len(inner))...), inner...))
		data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
		if _, err := ParsePrivateKey(data, ""); !errors.Is(err, ErrBadKey) {
			t.Errorf("PKCS #8 Ed25519 seed of %d bytes: %v", n, err)
		}
		point := make([]byte, n)
		pkix := derSeq(ed25519OID, append(append([]byte{0x03}, derLen(n+1)...), append([]byte{0}, point...)...))
		data = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
		if _, err := ParsePublicKey(data, ""); !errors.Is(err, ErrBadKey) {
			t.Errorf("PKIX Ed25519 point of %d bytes: %v", n, err)
		}
	}
	ks := asymKeys(t)
	for _, k := range []PrivateKey{ks.ed, ks.ec, ks.rsa} {
		// Each half of k as PEM, and how to parse it back to k's public key.
		for _, tc := range []struct {
			marshal func() ([]byte, error)
			parse   func([]byte) (PublicKey, error)
		}{
			{func() ([]byte, error) { return MarshalPrivateKeyPEM(k) },
				func(b []byte) (PublicKey, error) { p, err := ParsePrivateKey(b, ""); return p.Public(), err }},
			{func() ([]byte, error) { return MarshalPublicKeyPEM(k.Public()) },
				func(b []byte) (PublicKey, error) { return ParsePublicKey(b, "") }},
		} {
			data, err := tc.marshal()
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(data)
			for _, cut := range []int{1, 2, len(block.Bytes) / 2, len(block.Bytes) - 1} {
				b := pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: block.Bytes[:cut]})
				if _, err := tc.parse(b); !errors.Is(err, ErrBadKey) {
					t.Errorf("%s %s cut to %d bytes: %v", k.Algorithm(), block.Type, cut, err)
				}
			}
			// Bytes after the DER: refused (PKIX), or ignored as Go's
			// PKCS #8 parser does, the key read being the one before them.
			grown := pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: append(append([]byte(nil), block.Bytes...), 0, 0)})
			if got, err := tc.parse(grown); err != nil && !errors.Is(err, ErrBadKey) || err == nil && !got.equal(k.Public()) {
				t.Errorf("%s %s with trailing bytes: %v", k.Algorithm(), block.Type, err)
			}
		}
	}
}

// TestJWKMemberSizes parses JWK sets whose fixed-size members are one
// size off, or far off, or not base64url.
func TestJWKMemberSizes(t *testing.T) {
	b64 := func(n int) string { return sizedB64(base64.RawURLEncoding, n) }
	var sets []string
	for _, n := range []int{0, 1, 31, 33, 64, 1000} {
		sets = append(sets,
			`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"`+b64(n)+`"}]}`,
			`{"keys":[{"kty":"EC","crv":"P-256","x":"`+b64(n)+`","y":"`+b64(32)+`"}]}`,
			`{"keys":[{"kty":"EC","crv":"P-256","x":"`+b64(32)+`","y":"`+b64(n)+`"}]}`,
		)
	}
	for _, bad := range []string{"", "A", "AAAAA", b64(32) + "=", b64(32) + "==", strings.Repeat("+", 43), strings.Repeat("/", 43), b64(31) + "\n"} {
		sets = append(sets,
			`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"`+bad+`"}]}`,
			`{"keys":[{"kty":"EC","crv":"P-256","x":"`+bad+`","y":"`+b64(32)+`"}]}`,
			`{"keys":[{"kty":"RSA","n":"`+bad+`","e":"AQAB"}]}`,
		)
	}
	sets = append(sets,
		`{"keys":[{"kty":"EC","crv":"P-256","x":"`+b64(32)+`"}]}`,
		`{"keys":[{"kty":"RSA","n":"AA`+b64(256)+`","e":"AQAB"}]}`,
		`{"keys":[{"kty":"RSA","n":"`+b64(256)+`","e":"AAEAAQ"}]}`,
		`{"keys":[{"kty":"RSA","n":"`+b64(256)+`","e":"`+b64(5)+`"}]}`,
		`{"keys":[{"kty":"RSA","n":"`+b64(256)+`","e":""}]}`,
		`{"keys":[{"kty":"RSA","n":"`+b64(2048)+`","e":"AQAB"}]}`,
	)
	for _, s := range sets {
		if keys, err := ParseJWKS([]byte(s)); !errors.Is(err, ErrBadKey) {
			t.Errorf("ParseJWKS(%.90s…) = %d keys, %v; want ErrBadKey", s, len(keys), err)
		}
	}
}

// TestJWTSignatureSizes re-sends valid tokens of every algorithm with a
// signature segment of another size, or one that is not base64url: each
// is refused with ErrBadSignature or ErrMalformed.
func TestJWTSignatureSizes(t *testing.T) {
	for _, c := range jwtCases(t) {
		t.Run(c.alg, func(t *testing.T) {
			v, tok := controlToken(t, c)
			head := tok[:strings.LastIndexByte(tok, '.')+1]
			sig, err := base64.RawURLEncoding.DecodeString(tok[len(head):])
			if err != nil {
				t.Fatal(err)
			}
			var segs []string
			for _, n := range []int{0, 1, len(sig) - 1, len(sig) + 1, 2 * len(sig), 4096} {
				b := make([]byte, n)
				copy(b, sig)
				segs = append(segs, base64.RawURLEncoding.EncodeToString(b))
			}
			whole := base64.RawURLEncoding.EncodeToString(sig)
			segs = append(segs, "A", whole+"A", whole+"=", base64.URLEncoding.EncodeToString(sig)+"==", base64.StdEncoding.EncodeToString(sig), whole[:len(whole)-1], "*"+whole[1:])
			for _, s := range segs {
				if s == whole {
					continue
				}
				_, err := v.Verify(bearer(head+s), nil)
				if !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformed) {
					t.Errorf("signature segment %.20q… (%d characters): %v", s, len(s), err)
				}
			}
		})
	}
}

// TestHMACSignatureSizes sends Hub and Stripe signatures of every hex
// length near the right one, in upper case and with non-hex digits.
func TestHMACSignatureSizes(t *testing.T) {
	secret := NewSecret([]byte("hub-and-stripe-secret-0123456789"))
	hub, err := NewHub([]Secret{secret})
	if err != nil {
		t.Fatal(err)
	}
	stripe, err := NewStripe([]Secret{secret}, WithClock(asymClock))
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"n":1}`)
	ts := strconv.FormatInt(asymNow.Unix(), 10)
	hs := http.Header{}
	if err := hub.Sign(hs, Message{Body: body}); err != nil {
		t.Fatal(err)
	}
	good := strings.TrimPrefix(hs.Get(HeaderHubSignature256), "sha256=")
	raw, _ := hex.DecodeString(good)
	var bad []string
	for _, n := range []int{0, 1, 31, 33, 64, 1000} {
		b := make([]byte, n)
		copy(b, raw)
		bad = append(bad, hex.EncodeToString(b))
	}
	bad = append(bad, good[:63], good+"0", strings.ToUpper(good), "g"+good[1:], good[:62]+" "+good[63:], good+"\x00")
	for _, sig := range bad {
		_, err := hub.Verify(http.Header{HeaderHubSignature256: {"sha256=" + sig}}, body)
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
			t.Errorf("hub sha256=%.20q… (%d digits): %v", sig, len(sig), err)
		}
		_, err = stripe.Verify(http.Header{HeaderStripeSignature: {"t=" + ts + ",v1=" + sig}}, body)
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
			t.Errorf("stripe v1=%.20q… (%d digits): %v", sig, len(sig), err)
		}
	}
}

// controlToken returns c's verifier and a token without jti, crafted as
// another sender would, that it accepts.
func controlToken(t *testing.T, c jwtCase) (*jwtScheme, string) {
	t.Helper()
	v := c.verifier(t)
	tok := c.craft(t, jwt.MapClaims{"iat": asymNow.Unix(), "exp": asymNow.Add(time.Minute).Unix()}, nil)
	if _, err := v.Verify(bearer(tok), nil); err != nil {
		t.Fatalf("control token: %v", err)
	}
	return v, tok
}
