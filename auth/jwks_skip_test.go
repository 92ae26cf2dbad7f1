package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksDoc is a JWKS document of keys (as MarshalJWKS writes them) and of
// raw entries, written as given.
func jwksDoc(t *testing.T, keys []PublicKey, raw ...string) []byte {
	t.Helper()
	var set struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(must(MarshalJWKS(keys...))(t), &set); err != nil {
		t.Fatal(err)
	}
	for _, r := range raw {
		set.Keys = append(set.Keys, json.RawMessage(r))
	}
	return must(json.Marshal(map[string]any{"keys": set.Keys}))(t)
}

// serveDoc is a handler serving doc as a JWKS.
func serveDoc(doc []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
}

// TestJWKSSkipsKeysItCannotUse: an identity provider's set that holds one
// broken entry among good keys (a member of the wrong size, private
// members, a kid given twice, an entry that is not an object of strings)
// still verifies the tokens of its good keys. A token naming the broken
// entry's kid is refused with ErrUnknownKey saying that entry was skipped
// and why, without key material. A set with no usable key at all is still
// refused, and the last good keys stay in use meanwhile. (One broken key
// refused the whole set: every verification failed.)
func TestJWKSSkipsKeysItCannotUse(t *testing.T) {
	ks := asymKeys(t)
	const x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	broken := []string{
		`{"kty":"OKP","crv":"Ed25519","kid":"short","x":"AAAA"}`,
		`{"kty":"OKP","crv":"Ed25519","kid":"leaked","x":"` + x + `","d":"PRIVATEPRIVATE"}`,
		`{"kty":"OKP","crv":"Ed25519","kid":"twice","x":"` + x + `"}`,
		`{"kty":"OKP","crv":"Ed25519","kid":"twice","x":"22qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`,
		`{"kty":"EC","crv":"P-256","kid":"numbers","x":1,"y":2}`,
		`{"kty":"EC","crv":"P-521","kid":"new-curve","x":"AA","y":"AA"}`,
	}
	s := newJWKSServer(t)
	s.set(serveDoc(jwksDoc(t, []PublicKey{ks.ed.Public()}, broken...)))
	var clock atomic.Int64
	j := jwksAt(t, s, "/jwks", &clock)
	v := must(NewJWTVerifier(j, WithClock(asymClock)))(t)
	m := asymMsg()
	sign := func(k PrivateKey) http.Header {
		return signed(t, must(NewJWTSigner([]PrivateKey{k}, WithClock(asymClock)))(t), m)
	}

	if got, err := v.VerifyContext(context.Background(), sign(ks.ed), m.Body); err != nil || got.KeyID != ks.ed.ID() {
		t.Fatalf("token of the good key in a set with broken entries: %+v, %v", got, err)
	}
	for _, tt := range []struct{ kid, mention string }{
		{"short", "skipped"},
		{"leaked", "private"},
		{"twice", "kid"},
		{"numbers", "not a JSON object of strings"},
		{"new-curve", "skipped"},
	} {
		_, err := v.VerifyContext(context.Background(), sign(ks.ed2.withID(tt.kid)), m.Body)
		if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), tt.mention) || !strings.Contains(err.Error(), "skipped") {
			t.Errorf("token naming the broken key %q: %v; want ErrUnknownKey saying it was skipped (%s)", tt.kid, err, tt.mention)
		}
		if err != nil && (strings.Contains(err.Error(), "PRIVATE") || strings.Contains(err.Error(), "11qYAY") || strings.Contains(err.Error(), tt.kid)) {
			t.Errorf("error quotes the set or the token: %v", err)
		}
	}
	if n := s.fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}

	// A set in which nothing is usable is refused; the good keys fetched
	// before stay in use.
	s.set(serveDoc(jwksDoc(t, nil, broken...)))
	clock.Store(int64(2 * jwksMinRefreshInterval))
	_, err := j.Keys(context.Background(), "ed-9")
	if !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "no usable") {
		t.Fatalf("a set of broken keys only: %v", err)
	}
	if _, err := v.VerifyContext(context.Background(), sign(ks.ed), m.Body); err != nil {
		t.Fatalf("the last good keys after a set without any: %v", err)
	}
}

// TestKeySetSkippedBounded: a set of thousands of entries it cannot use
// keeps the reasons of a few of them by kid, and counts the others.
func TestKeySetSkippedBounded(t *testing.T) {
	ks := asymKeys(t)
	raw := make([]string, 10_000)
	for i := range raw {
		raw[i] = `{"kty":"oct","kid":"k` + strconv.Itoa(i) + `"}`
	}
	set := must(parseKeySet(jwksDoc(t, []PublicKey{ks.ed.Public()}, raw...)))(t)
	if len(set.keys) != 1 || set.nSkipped != len(raw) || len(set.skipped) != maxSkippedKids {
		t.Fatalf("%d keys, %d skipped, %d remembered by kid", len(set.keys), set.nSkipped, len(set.skipped))
	}
}

// jwtFor signs m's token as herald's signer does, but straight with
// golang-jwt: alg EdDSA, header kid, key k (an Ed25519 private key).
func jwtFor(t *testing.T, k ed25519.PrivateKey, kid string, m Message) http.Header {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iat":           asymNow.Unix(),
		"exp":           asymNow.Add(5 * time.Minute).Unix(),
		"jti":           m.ID,
		"aud":           audienceOf(m.URL),
		claimBodySHA256: bodySHA256(m.Body),
	})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s := must(tok.SignedString(k))(t)
	return http.Header{"Authorization": {"Bearer " + s}, "Webhook-Id": {m.ID}}
}

// edKey is a deterministic Ed25519 key of its own, for a seed no other
// test key uses.
func edKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = b ^ byte(i*7)
	}
	return ed25519.NewKeyFromSeed(seed)
}

// TestJWKSSkippedKidBesideKidlessKey: a token naming the kid of a key the
// set skipped as unusable is refused with the reason it was skipped, even
// when the set also holds a key without a kid. (The kid-less key was tried
// for it instead, and the error said "signature mismatch".)
func TestJWKSSkippedKidBesideKidlessKey(t *testing.T) {
	kidless, other := edKey(31), edKey(32)
	const broken = `{"kty":"OKP","crv":"Ed25519","kid":"k-broken","x":"AAAA"}`
	s := newJWKSServer(t)
	s.set(serveDoc(jwksDoc(t, []PublicKey{must(NewPublicKey(kidless.Public(), ""))(t)}, broken)))
	var clock atomic.Int64
	v := must(NewJWTVerifier(jwksAt(t, s, "/jwks.json", &clock), WithClock(asymClock)))(t)
	m := asymMsg()

	_, err := v.VerifyContext(context.Background(), jwtFor(t, other, "k-broken", m), m.Body)
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "skipped as unusable") || !strings.Contains(err.Error(), `"x" is 3 bytes`) {
		t.Fatalf("token naming the skipped key: %v; want ErrUnknownKey saying why the key was skipped", err)
	}
	if strings.Contains(err.Error(), "AAAA") || strings.Contains(err.Error(), "k-broken") {
		t.Errorf("error quotes the set or the token: %v", err)
	}

	// The kid-less key still serves tokens without a kid, and those naming
	// a kid the set does not hold at all.
	for _, kid := range []string{"", "k-unnamed"} {
		if _, err := v.Verify(jwtFor(t, kidless, kid, m), m.Body); err != nil {
			t.Errorf("token of the kid-less key naming kid %q: %v", kid, err)
		}
	}
}

// TestJWKSSkippedKidPastTheBound: a token naming the kid of a skipped key
// is refused even when the set skipped more keys with a kid than it
// remembers (maxSkippedKids): a kid it did not remember may be a skipped
// key's, so no kid-less key stands in for it. The kid-less key took such a
// token for its own, reporting the skipped kid as the key that verified it.
func TestJWKSSkippedKidPastTheBound(t *testing.T) {
	kidless := edKey(33)
	var raw []string
	for i := range maxSkippedKids {
		raw = append(raw, `{"kty":"oct","kid":"k`+strconv.Itoa(i)+`"}`)
	}
	raw = append(raw, `{"kty":"OKP","crv":"Ed25519","kid":"victim","x":"AAAA"}`)
	s := newJWKSServer(t)
	s.set(serveDoc(jwksDoc(t, []PublicKey{must(NewPublicKey(kidless.Public(), ""))(t)}, raw...)))
	var clock atomic.Int64
	v := must(NewJWTVerifier(jwksAt(t, s, "/jwks.json", &clock), WithClock(asymClock)))(t)
	m := asymMsg()
	for _, kid := range []string{"victim", "k3"} {
		if got, err := v.VerifyContext(context.Background(), jwtFor(t, kidless, kid, m), m.Body); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("token naming the skipped kid %q: key %q, %v; want ErrUnknownKey", kid, got.KeyID, err)
		}
	}
	if _, err := v.Verify(jwtFor(t, kidless, "", m), m.Body); err != nil {
		t.Errorf("token without a kid: %v", err)
	}
}

// TestJWKSKeyOps: an entry whose key_ops lacks "verify" (a key published
// for encryption or key agreement) is skipped as unused, as one whose use
// is not "sig" is; one with "verify" among its key_ops is used.
func TestJWKSKeyOps(t *testing.T) {
	k := edKey(34)
	x := base64.RawURLEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
	entry := func(kid, ops string) string {
		return `{"kty":"OKP","crv":"Ed25519","kid":"` + kid + `","key_ops":` + ops + `,"x":"` + x + `"}`
	}
	keys, err := ParseJWKS(jwksDoc(t, nil, entry("enc", `["encrypt","wrapKey"]`), entry("ecdh", `["deriveKey"]`), entry("sig", `["verify"]`)))
	if err != nil || len(keys) != 1 || keys[0].ID() != "sig" {
		t.Fatalf("ParseJWKS = %v, %v; want the key whose key_ops has verify alone", keys, err)
	}
}
