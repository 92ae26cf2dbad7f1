package auth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
)

// FuzzStandardV1aVerify feeds arbitrary headers and bodies to a v1a
// verifier. It must never panic, and it may accept only the exact content
// that was signed: Ed25519 signatures are not malleable.
func FuzzStandardV1aVerify(f *testing.F) {
	ks := asymKeys(f)
	v := mustScheme[*v1aScheme](NewStandardV1aVerifier([]PublicKey{ks.ed.Public(), ks.ed2.Public()}, WithClock(asymClock)))(f)
	m := asymMsg()
	ts := strconv.FormatInt(asymNow.Unix(), 10)
	signed := appendStandardContent(nil, m.ID, ts, m.Body)
	sig := "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(ks.ed.Signer().(ed25519.PrivateKey), signed))
	f.Add(m.ID, ts, sig, m.Body)
	f.Add(m.ID, ts, "v1,abc "+sig+" v2,x", m.Body)
	f.Add(m.ID, ts, sig, []byte(`{}`))
	f.Add("msg.1", ts, sig, m.Body)
	f.Add(m.ID, "", sig, m.Body)
	f.Add(m.ID, "-1", "v1a,", []byte{})
	f.Add("", ts, "v1a", []byte(nil))
	f.Fuzz(func(t *testing.T, id, ts, sigs string, body []byte) {
		h := http.Header{}
		h["Webhook-Id"] = []string{id}
		h["Webhook-Timestamp"] = []string{ts}
		h["Webhook-Signature"] = []string{sigs}
		got, err := v.Verify(h, body)
		if err != nil {
			return
		}
		if !bytes.Equal(appendStandardContent(nil, id, ts, body), signed) {
			t.Fatalf("accepted content that was never signed: id %q ts %q", id, ts)
		}
		if got.Scheme != schemeStandardV1a || got.ID != id || got.KeyID != "ed-1" {
			t.Fatalf("Verified = %+v", got)
		}
	})
}

// FuzzJWTVerify feeds arbitrary Authorization headers and bodies to HMAC,
// EdDSA and ES256 verifiers. It must never panic, and only the exact
// tokens that were signed (with their body) may verify.
func FuzzJWTVerify(f *testing.F) {
	ks := asymKeys(f)
	m := asymMsg()
	hs := mustScheme[*jwtScheme](NewJWT("HS256", []Secret{jwtSecret}, WithClock(asymClock)))(f)
	ed := mustScheme[*jwtScheme](NewJWTSigner([]PrivateKey{ks.ed}, WithClock(asymClock)))(f)
	es := mustScheme[*jwtScheme](NewJWTSigner([]PrivateKey{ks.ec}, WithClock(asymClock)))(f)
	// A verifier of a fetched set: a token its keys do not verify fetches
	// the set again, within the refresh limits (the clock stands still).
	var clock atomic.Int64
	remote := jwksAt(f, newJWKSServer(f, ks.ed.Public(), ks.ec.Public()), "/jwks", &clock)
	js := mustScheme[*jwtScheme](NewJWTVerifier(remote, WithClock(asymClock)))(f)
	verifiers := []*jwtScheme{hs, ed, es, js}
	signed := map[string]bool{}
	for _, j := range verifiers[:3] {
		h := http.Header{}
		if err := j.Sign(h, m); err != nil {
			f.Fatal(err)
		}
		auth := h.Get("Authorization")
		signed[auth[len("Bearer "):]] = true
		f.Add(auth, m.Body)
		f.Add(auth, []byte("{}"))
		f.Add(auth[:len(auth)-1], m.Body)
	}
	f.Add("Bearer "+noneToken(baseClaims()), m.Body)
	f.Add("Bearer a.b.c", []byte(nil))
	f.Add("bearer  "+rawToken(`{"alg":"HS256","kid":7}`, `{"exp":"x"}`, ""), []byte("x"))
	f.Add("Basic dXNlcjpwdw==", []byte(nil))
	f.Fuzz(func(t *testing.T, auth string, body []byte) {
		h := http.Header{"Authorization": {auth}}
		for _, v := range verifiers {
			got, err := v.Verify(h, body)
			if err != nil {
				continue
			}
			tok, _ := bearerToken(h)
			if !signed[tok] || !bytes.Equal(body, m.Body) {
				t.Fatalf("accepted a token or body that was never signed: %q", auth)
			}
			if got.ID != m.ID || got.Scheme != schemeJWT {
				t.Fatalf("Verified = %+v", got)
			}
		}
	})
}

// FuzzParseJWKS parses arbitrary documents. It must never panic; what it
// accepts must be usable keys that survive a marshal/parse round trip.
func FuzzParseJWKS(f *testing.F) {
	ks := asymKeys(f)
	doc := must(MarshalJWKS(ks.ed.Public(), ks.ec.Public(), ks.rsa.Public()))(f)
	f.Add(doc)
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"},{"kty":"oct","k":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","d":"x"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// What a JWKS keeps of the document: distinct kids, no zero key,
		// and everything ParseJWKS keeps when it keeps the document.
		set, setErr := parseKeySet(data)
		kids := map[string]bool{}
		for _, k := range set.keys {
			if k.isZero() || kids[k.ID()] {
				t.Fatalf("lenient set keeps a zero key or the kid %q twice", k.ID())
			}
			kids[k.ID()] = true
		}
		keys, err := ParseJWKS(data)
		if err == nil && (setErr != nil || len(set.keys) != len(keys)) {
			t.Fatalf("ParseJWKS keeps %d keys, the lenient parse %d (%v)", len(keys), len(set.keys), setErr)
		}
		if err != nil {
			if keys != nil {
				t.Fatal("keys returned with an error")
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("no keys and no error")
		}
		for _, k := range keys {
			if k.isZero() || k.Key() == nil {
				t.Fatal("zero key accepted")
			}
			switch k.Algorithm() {
			case algEdDSA, algES256, algRS256:
			default:
				t.Fatalf("algorithm %q", k.Algorithm())
			}
		}
		again := must(MarshalJWKS(keys...))(t)
		back, err := ParseJWKS(again)
		if err != nil || len(back) != len(keys) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range keys {
			if !back[i].equal(keys[i]) || back[i].ID() != keys[i].ID() {
				t.Fatalf("key %d changed in a round trip", i)
			}
		}
	})
}

// FuzzParseStandardKey parses arbitrary whsk_/whpk_ strings. It must never
// panic; what it accepts must format back to a string that parses to the
// same key.
func FuzzParseStandardKey(f *testing.F) {
	ks := asymKeys(f)
	sk, _ := FormatStandardSigningKey(ks.ed)
	pk, _ := FormatStandardPublicKey(ks.ed.Public())
	f.Add(sk)
	f.Add(pk)
	f.Add("whsk_" + base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	f.Add("whpk_")
	f.Add("whsk_====")
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := parseStandardSigningKey(s); err == nil {
			out := must(FormatStandardSigningKey(k))(t)
			k2, err := parseStandardSigningKey(out)
			if err != nil || !k2.Public().equal(k.Public()) {
				t.Fatalf("signing key round trip: %v", err)
			}
		}
		if k, err := parseStandardPublicKey(s); err == nil {
			out := must(FormatStandardPublicKey(k))(t)
			k2, err := parseStandardPublicKey(out)
			if err != nil || !k2.equal(k) {
				t.Fatalf("public key round trip: %v", err)
			}
		}
	})
}

// FuzzParseKeyPEM parses arbitrary PEM documents as private and as public
// keys. It must never panic; what it accepts must be a usable key that
// survives a marshal/parse round trip.
func FuzzParseKeyPEM(f *testing.F) {
	ks := asymKeys(f)
	for _, k := range []PrivateKey{ks.ed, ks.ec, ks.rsa} {
		priv := must(MarshalPrivateKeyPEM(k))(f)
		pub := must(MarshalPublicKeyPEM(k.Public()))(f)
		f.Add(priv)
		f.Add(pub)
	}
	f.Add([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if k, err := parsePrivateKeyPEM(data, "id"); err == nil {
			if k.isZero() || k.Signer() == nil || k.Public().isZero() {
				t.Fatal("empty private key accepted")
			}
			out := must(MarshalPrivateKeyPEM(k))(t)
			back, err := parsePrivateKeyPEM(out, "")
			if err != nil || !back.Public().equal(k.Public()) {
				t.Fatalf("private key round trip: %v", err)
			}
			if tp := k.Public().Thumbprint(); back.ID() != tp || back.Public().ID() != tp {
				t.Fatalf("key parsed without an id is named %q, not its thumbprint %q", back.ID(), tp)
			}
		}
		if k, err := parsePublicKeyPEM(data, "id"); err == nil {
			out := must(MarshalPublicKeyPEM(k))(t)
			back, err := parsePublicKeyPEM(out, "")
			if err != nil || !back.equal(k) || k.Thumbprint() == "" || back.ID() != k.Thumbprint() {
				t.Fatalf("public key round trip: %v", err)
			}
		}
	})
}
