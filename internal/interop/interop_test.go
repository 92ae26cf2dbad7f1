package interop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
)

const body = `{"id":"evt_1","topic":"job:ready","payload":{"job":42}}`

// headerMap flattens h into the plain object the JS libraries take.
func headerMap(h http.Header) map[string]string {
	m := map[string]string{}
	for k, v := range h {
		m[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return m
}

// svixHeaders renames webhook-* to svix-*, the header names Svix sends.
func svixHeaders(h http.Header) map[string]string {
	m := map[string]string{}
	for k, v := range headerMap(h) {
		m[strings.Replace(k, "webhook-", "svix-", 1)] = v
	}
	return m
}

// jsStep is one case for the JS libraries, with its name and whether the
// library must accept it (verify) or do it (sign).
type jsStep struct {
	name string
	ok   bool
	c    jsCase
}

// runSteps runs steps through the JS libraries, fails the test at the first
// outcome other than its step's, and returns each step's value (a
// signature, a token, the claims seen), by position.
func runSteps(t *testing.T, steps ...jsStep) []string {
	t.Helper()
	cases := make([]jsCase, len(steps))
	for i, st := range steps {
		cases[i] = st.c
	}
	res := runJS(t, cases)
	vals := make([]string, len(steps))
	for i, st := range steps {
		switch {
		case st.ok && !res[i].OK:
			t.Fatalf("%s: the other library refused: %s", st.name, res[i].Error)
		case !st.ok && res[i].OK:
			t.Fatalf("%s: the other library accepted what it must refuse", st.name)
		}
		vals[i] = res[i].Value
	}
	return vals
}

func TestPublishedVectorsMatchTheReferenceLibraries(t *testing.T) {
	vals := runSteps(t,
		jsStep{"standardwebhooks", true, jsCase{"op": "standard.sign", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "timestamp": 1614265330, "body": `{"test": 2432232314}`}},
		jsStep{"svix", true, jsCase{"op": "svix.sign", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "timestamp": 1614265330, "body": `{"test": 2432232314}`}},
		jsStep{"octokit", true, jsCase{"op": "hub.sign", "secret": "It's a Secret to Everybody", "body": "Hello, World!"}},
	)
	sec, err := auth.ParseStandardSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	std, err := auth.NewStandard([]auth.Secret{sec})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	if err := std.Sign(h, auth.Message{ID: "msg_p5jXN8AQM9LWM0D4loKWxJek", Timestamp: time.Unix(1614265330, 0), Body: []byte(`{"test": 2432232314}`)}); err != nil {
		t.Fatal(err)
	}
	const want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	for i, name := range []string{"standardwebhooks", "svix"} {
		if got := vals[i]; got != want {
			t.Errorf("%s signs the published vector as %q, want %q", name, got, want)
		}
	}
	if got := h.Get("webhook-signature"); got != want {
		t.Errorf("herald signs the published vector as %q, want %q", got, want)
	}

	hub, err := auth.NewHub([]auth.Secret{auth.NewSecret([]byte("It's a Secret to Everybody"))})
	if err != nil {
		t.Fatal(err)
	}
	h = http.Header{}
	if err := hub.Sign(h, auth.Message{ID: "d1", Body: []byte("Hello, World!")}); err != nil {
		t.Fatal(err)
	}
	if got, js := h.Get("X-Hub-Signature-256"), vals[2]; got != js {
		t.Errorf("herald %q != octokit %q", got, js)
	}
}

func TestStandardWebhooksBothWays(t *testing.T) {
	oldSec, _ := auth.GenerateStandardSecret()
	newSec, _ := auth.GenerateStandardSecret()
	oldStr, newStr := auth.FormatStandardSecret(oldSec), auth.FormatStandardSecret(newSec)
	// herald signs with both secrets during a rotation.
	signer, err := auth.NewStandard([]auth.Secret{oldSec, newSec})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	if err := signer.Sign(h, auth.Message{ID: "msg_herald_1", Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	vals := runSteps(t,
		jsStep{"standardwebhooks verifies herald (old secret)", true, jsCase{"op": "standard.verify", "secret": oldStr, "headers": headerMap(h), "body": body}},
		jsStep{"standardwebhooks verifies herald (new secret)", true, jsCase{"op": "standard.verify", "secret": newStr, "headers": headerMap(h), "body": body}},
		jsStep{"svix verifies herald (svix-* headers)", true, jsCase{"op": "svix.verify", "secret": newStr, "headers": svixHeaders(h), "body": body}},
		jsStep{"svix verifies herald (webhook-* headers)", true, jsCase{"op": "svix.verify", "secret": oldStr, "headers": headerMap(h), "body": body}},
		jsStep{"standardwebhooks, tampered body", false, jsCase{"op": "standard.verify", "secret": newStr, "headers": headerMap(h), "body": body + " "}},
		jsStep{"svix, tampered body", false, jsCase{"op": "svix.verify", "secret": newStr, "headers": svixHeaders(h), "body": strings.Replace(body, "42", "43", 1)}},
		jsStep{"standardwebhooks sign", true, jsCase{"op": "standard.sign", "secret": newStr, "id": "msg_js_1", "timestamp": now, "body": body}},
		jsStep{"svix sign", true, jsCase{"op": "svix.sign", "secret": oldStr, "id": "msg_js_2", "timestamp": now, "body": body}},
	)

	// What they sign, herald verifies; each with only the secret it used.
	onlyNew, _ := auth.NewStandard([]auth.Secret{newSec})
	onlyOld, _ := auth.NewStandard([]auth.Secret{oldSec})
	for _, c := range []struct {
		name string
		v    auth.Verifier
		id   string
		sig  string
		svix bool
	}{
		{"standardwebhooks", onlyNew, "msg_js_1", vals[6], false},
		{"svix", onlyOld, "msg_js_2", vals[7], true},
	} {
		prefix := "webhook-"
		if c.svix {
			prefix = "svix-"
		}
		in := http.Header{}
		in.Set(prefix+"id", c.id)
		in.Set(prefix+"timestamp", strconv.FormatInt(now, 10))
		in.Set(prefix+"signature", c.sig)
		got, err := c.v.Verify(in, []byte(body))
		if err != nil {
			t.Fatalf("herald refuses what %s signed: %v", c.name, err)
		}
		if got.ID != c.id || got.Scheme != "standard" {
			t.Errorf("%s: verified %+v", c.name, got)
		}
		if _, err := c.v.Verify(in, []byte(body+"x")); !errors.Is(err, auth.ErrBadSignature) {
			t.Errorf("%s: tampered body: err = %v, want ErrBadSignature", c.name, err)
		}
	}
	if _, err := onlyOld.Verify(func() http.Header {
		in := http.Header{}
		in.Set("webhook-id", "msg_js_1")
		in.Set("webhook-timestamp", strconv.FormatInt(now, 10))
		in.Set("webhook-signature", vals[6])
		return in
	}(), []byte(body)); !errors.Is(err, auth.ErrBadSignature) {
		t.Errorf("a signature made with another secret: err = %v, want ErrBadSignature", err)
	}
}

// tampered is body changed but still JSON, for a library that parses
// what it verifies.
var tampered = strings.Replace(body, "42", "24", 1)

// hmacBothWays runs an HMAC scheme both ways against its JS library (ops
// lib.verify and lib.sign): the library verifies what s signed into header
// hdr and refuses it over a tampered body; then the library signs (sign
// holds the op's own fields), and s verifies that and refuses it over a
// tampered body. It returns the library's signature.
func hmacBothWays(t *testing.T, s *auth.Scheme, lib, secret, hdr string, sign jsCase) string {
	t.Helper()
	h := http.Header{}
	if err := s.Sign(h, auth.Message{ID: "d1", Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	sign["op"], sign["secret"], sign["body"] = lib+".sign", secret, body
	sig := runSteps(t,
		jsStep{lib + " verifies herald", true, jsCase{"op": lib + ".verify", "secret": secret, "body": body, "signature": h.Get(hdr)}},
		jsStep{lib + ", tampered body", false, jsCase{"op": lib + ".verify", "secret": secret, "body": tampered, "signature": h.Get(hdr)}},
		jsStep{lib + " sign", true, sign},
	)[2]
	in := http.Header{}
	in.Set(hdr, sig)
	if _, err := s.Verify(in, []byte(body)); err != nil {
		t.Fatalf("herald refuses what %s signed: %v", lib, err)
	}
	if _, err := s.Verify(in, []byte(tampered)); !errors.Is(err, auth.ErrBadSignature) {
		t.Errorf("tampered: err = %v", err)
	}
	return sig
}

func TestHubBothWays(t *testing.T) {
	const secret = "interop hub secret, long enough"
	hub, err := auth.NewHub([]auth.Secret{auth.NewSecret([]byte(secret))})
	if err != nil {
		t.Fatal(err)
	}
	sig := hmacBothWays(t, hub, "hub", secret, "X-Hub-Signature-256", jsCase{})
	// X-GitHub-Delivery is not signed: the id comes from the signature.
	in := http.Header{}
	in.Set("X-Hub-Signature-256", sig)
	in.Set("X-GitHub-Delivery", "gh-delivery-1")
	got, err := hub.Verify(in, []byte(body))
	if err != nil || !strings.HasPrefix(got.ID, "sig:") {
		t.Errorf("ID = %q, %v; want one derived from the signature (sig:...)", got.ID, err)
	}
}

func TestStripeBothWays(t *testing.T) {
	const secret = "whsec_interop_stripe_secret_0123456789"
	st, err := auth.NewStripe([]auth.Secret{auth.NewSecret([]byte(secret))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	sig := hmacBothWays(t, st, "stripe", secret, "Stripe-Signature", jsCase{"timestamp": now})
	// Cross-check the format by hand, independently of both libraries.
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(now, 10) + "." + body))
	if want := "t=" + strconv.FormatInt(now, 10) + ",v1=" + hex.EncodeToString(mac.Sum(nil)); !strings.HasPrefix(sig, want) {
		t.Errorf("stripe signed %q, want a header starting %q", sig, want)
	}
}

func TestJWTWithJsonwebtokenAndJose(t *testing.T) {
	const hsSecret = "interop-jwt-secret-that-is-32-bytes-or-more!"
	const aud, iss = "https://receiver.example/hooks", "herald-interop"

	hs, err := auth.NewJWT("HS256", []auth.Secret{auth.NewSecret([]byte(hsSecret))}, auth.WithAudience(aud), auth.WithIssuer(iss))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]auth.PrivateKey{}
	pemPriv, pemPub := map[string]string{}, map[string]string{}
	for _, alg := range []string{"EdDSA", "ES256", "RS256"} {
		k, err := auth.GeneratePrivateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		keys[alg] = k
		priv, err := auth.MarshalPrivateKeyPEM(k)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := auth.MarshalPublicKeyPEM(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		pemPriv[alg], pemPub[alg] = string(priv), string(pub)
	}
	// herald's public keys, published as a JWKS for jose to fetch.
	jwks := httptest.NewServer(auth.JWKSHandler(keys["EdDSA"].Public(), keys["ES256"].Public(), keys["RS256"].Public()))
	defer jwks.Close()

	tokens := map[string]string{}
	sign := func(name string, s auth.Signer) {
		h := http.Header{}
		if err := s.Sign(h, auth.Message{ID: "jti-" + name, Body: []byte(body), URL: aud, Topic: "job:ready"}); err != nil {
			t.Fatal(err)
		}
		tokens[name] = strings.TrimPrefix(h.Get("Authorization"), "Bearer ")
	}
	sign("HS256", hs)
	signers := map[string]*auth.Scheme{}
	for alg, k := range keys {
		s, err := auth.NewJWTSigner([]auth.PrivateKey{k}, auth.WithIssuer(iss))
		if err != nil {
			t.Fatal(err)
		}
		signers[alg] = s
		sign(alg, s)
	}

	bodyHash := bodySHA256([]byte(body))
	nowSec := time.Now().Unix()
	claims := map[string]any{"iss": iss, "aud": aud, "iat": nowSec, "exp": nowSec + 120, "jti": "js-1", "body_sha256": bodyHash}
	vals := runSteps(t,
		jsStep{"jsonwebtoken verifies herald HS256", true, jsCase{"op": "jsonwebtoken.verify", "token": tokens["HS256"], "key": hsSecret, "alg": "HS256", "audience": aud, "issuer": iss}},
		jsStep{"jose verifies herald HS256", true, jsCase{"op": "jose.verify", "token": tokens["HS256"], "key": hsSecret, "alg": "HS256", "audience": aud, "issuer": iss}},
		jsStep{"jsonwebtoken with the wrong secret", false, jsCase{"op": "jsonwebtoken.verify", "token": tokens["HS256"], "key": "another-secret-that-is-long-enough-too!!", "alg": "HS256"}},
		jsStep{"jsonwebtoken verifies herald ES256", true, jsCase{"op": "jsonwebtoken.verify", "token": tokens["ES256"], "key": pemPub["ES256"], "alg": "ES256", "audience": aud, "issuer": iss}},
		jsStep{"jsonwebtoken verifies herald RS256", true, jsCase{"op": "jsonwebtoken.verify", "token": tokens["RS256"], "key": pemPub["RS256"], "alg": "RS256", "audience": aud, "issuer": iss}},
		jsStep{"jose verifies herald EdDSA (PEM)", true, jsCase{"op": "jose.verify", "token": tokens["EdDSA"], "key": pemPub["EdDSA"], "alg": "EdDSA", "audience": aud, "issuer": iss}},
		jsStep{"jose verifies herald EdDSA (JWKS)", true, jsCase{"op": "jose.verify", "token": tokens["EdDSA"], "jwksURL": jwks.URL, "alg": "EdDSA", "audience": aud, "issuer": iss}},
		jsStep{"jose verifies herald ES256 (JWKS)", true, jsCase{"op": "jose.verify", "token": tokens["ES256"], "jwksURL": jwks.URL, "alg": "ES256", "audience": aud, "issuer": iss}},
		jsStep{"jose verifies herald RS256 (JWKS)", true, jsCase{"op": "jose.verify", "token": tokens["RS256"], "jwksURL": jwks.URL, "alg": "RS256", "audience": aud, "issuer": iss}},
		// The other direction: tokens their libraries make, for herald to verify.
		jsStep{"jsonwebtoken sign", true, jsCase{"op": "jsonwebtoken.sign", "claims": claims, "key": hsSecret, "alg": "HS256"}},
		jsStep{"jsonwebtoken bare sign", true, jsCase{"op": "jsonwebtoken.sign", "claims": map[string]any{"event": "job:ready", "job": 42}, "key": hsSecret, "alg": "HS256"}},
		jsStep{"sign ES256", true, jsCase{"op": "jsonwebtoken.sign", "claims": claims, "key": pemPriv["ES256"], "alg": "ES256", "kid": keys["ES256"].ID()}},
		jsStep{"sign RS256", true, jsCase{"op": "jsonwebtoken.sign", "claims": claims, "key": pemPriv["RS256"], "alg": "RS256"}},
		jsStep{"sign EdDSA", true, jsCase{"op": "jose.sign", "claims": claims, "key": pemPriv["EdDSA"], "alg": "EdDSA", "kid": keys["EdDSA"].ID()}},
	)
	var got map[string]any
	if err := json.Unmarshal([]byte(vals[1]), &got); err != nil {
		t.Fatal(err)
	}
	if got["jti"] != "jti-HS256" || got["body_sha256"] != bodyHash || got["topic"] != "job:ready" {
		t.Errorf("claims seen by jose: %v", got)
	}

	verifyToken := func(name string, v auth.Verifier, token string, b string) (auth.Verified, error) {
		h := http.Header{}
		h.Set("Authorization", "Bearer "+token)
		return v.Verify(h, []byte(b))
	}
	hsVerify, _ := auth.NewJWT("HS256", []auth.Secret{auth.NewSecret([]byte(hsSecret))}, auth.WithAudience(aud), auth.WithIssuer(iss))
	if v, err := verifyToken("jsonwebtoken HS256", hsVerify, vals[9], body); err != nil || v.ID != "js-1" {
		t.Errorf("herald verifying jsonwebtoken HS256: %+v, %v", v, err)
	}
	if _, err := verifyToken("jsonwebtoken HS256 tampered", hsVerify, vals[9], body+"x"); !errors.Is(err, auth.ErrBadSignature) {
		t.Errorf("tampered body under a jsonwebtoken token: err = %v, want ErrBadSignature", err)
	}
	// jwt.sign(payload, secret) as in the platform article: no exp.
	bare := vals[10]
	strict, _ := auth.NewJWT("HS256", []auth.Secret{auth.NewSecret([]byte(hsSecret))})
	if _, err := verifyToken("bare", strict, bare, body); err == nil {
		t.Error("a token without exp was accepted without WithAllowMissingExp")
	}
	lenient, _ := auth.NewJWT("HS256", []auth.Secret{auth.NewSecret([]byte(hsSecret))}, auth.WithAllowMissingExp())
	if v, err := verifyToken("bare", lenient, bare, body); err != nil || v.Claims["event"] != "job:ready" {
		t.Errorf("bare jsonwebtoken token with WithAllowMissingExp: %+v, %v", v, err)
	}
	for i, alg := range map[int]string{11: "ES256", 12: "RS256", 13: "EdDSA"} {
		v, err := auth.NewJWTVerifier(auth.PublicKeys{keys[alg].Public()}, auth.WithAudience(aud), auth.WithIssuer(iss))
		if err != nil {
			t.Fatal(err)
		}
		tok := vals[i]
		if got, err := verifyToken(alg, v, tok, body); err != nil || got.ID != "js-1" {
			t.Errorf("herald verifying a %s token from Node: %+v, %v", alg, got, err)
		}
		if _, err := verifyToken(alg, v, tok, body+"x"); !errors.Is(err, auth.ErrBadSignature) {
			t.Errorf("%s tampered body: err = %v", alg, err)
		}
	}
}

// bodySHA256 is the body_sha256 claim of body: its SHA-256, unpadded base64url.
func bodySHA256(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
