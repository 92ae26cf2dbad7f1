package auth

import (
	"context"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	jwtSecret  = NewSecret([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
	jwtSecret2 = NewSecret([]byte("fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"))
)

// jwtCase is one algorithm under test: how to build its signer and
// verifier, and the raw key to craft tokens by hand with golang-jwt.
type jwtCase struct {
	alg      string
	kid      string // what the signer puts in the header, "" for HMAC
	signer   func(t *testing.T, opts ...JWTOption) *jwtScheme
	verifier func(t *testing.T, opts ...JWTVerifierOption) *jwtScheme
	// wrong signs with a key of the same algorithm (and kid) that the
	// verifier does not hold.
	wrong   func(t *testing.T, opts ...JWTOption) *jwtScheme
	signKey any
	keyID   string // the expected Verified.KeyID
}

func jwtCases(t *testing.T) []jwtCase {
	ks := asymKeys(t)
	hmacCase := func(alg string) jwtCase {
		return jwtCase{
			alg: alg,
			signer: func(t *testing.T, opts ...JWTOption) *jwtScheme {
				return jwtOrFatal(t)(NewJWT(alg, []Secret{jwtSecret}, append([]JWTOption{WithClock(asymClock)}, opts...)...))
			},
			verifier: func(t *testing.T, opts ...JWTVerifierOption) *jwtScheme {
				return jwtOrFatal(t)(NewJWT(alg, []Secret{jwtSecret}, jwtOptions(asymClock, opts)...))
			},
			wrong: func(t *testing.T, opts ...JWTOption) *jwtScheme {
				return jwtOrFatal(t)(NewJWT(alg, []Secret{jwtSecret2}, append([]JWTOption{WithClock(asymClock)}, opts...)...))
			},
			signKey: jwtSecret.Bytes(),
			keyID:   "0",
		}
	}
	asymCase := func(k, other PrivateKey) jwtCase {
		return jwtCase{
			alg: k.Algorithm(),
			kid: k.ID(),
			signer: func(t *testing.T, opts ...JWTOption) *jwtScheme {
				return jwtOrFatal(t)(NewJWTSigner([]PrivateKey{k}, append([]JWTOption{WithClock(asymClock)}, opts...)...))
			},
			verifier: func(t *testing.T, opts ...JWTVerifierOption) *jwtScheme {
				return jwtOrFatal(t)(NewJWTVerifier(PublicKeys{k.Public()}, append([]JWTVerifierOption{WithClock(asymClock)}, opts...)...))
			},
			wrong: func(t *testing.T, opts ...JWTOption) *jwtScheme {
				return jwtOrFatal(t)(NewJWTSigner([]PrivateKey{other.withID(k.ID())}, append([]JWTOption{WithClock(asymClock)}, opts...)...))
			},
			signKey: k.Signer(),
			keyID:   k.ID(),
		}
	}
	otherRSA := must(GeneratePrivateKey(algRS256))(t)
	return []jwtCase{
		hmacCase("HS256"),
		hmacCase("HS384"),
		hmacCase("HS512"),
		asymCase(ks.rsa, otherRSA),
		asymCase(ks.ec, ks.ec2),
		asymCase(ks.ed, ks.ed2),
	}
}

// craft signs claims by hand with golang-jwt, as another sender would.
func (c jwtCase) craft(t *testing.T, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(c.alg), claims)
	if c.kid != "" {
		tok.Header["kid"] = c.kid
	}
	for k, v := range header {
		tok.Header[k] = v
	}
	s := must(tok.SignedString(c.signKey))(t)
	return s
}

// baseClaims are the claims herald signs for asymMsg at asymNow.
func baseClaims() jwt.MapClaims {
	m := asymMsg()
	return jwt.MapClaims{
		"iat": asymNow.Unix(), "exp": asymNow.Add(5 * time.Minute).Unix(), "jti": m.ID,
		"aud": "https://hooks.example.com/in", "body_sha256": bodySHA256(m.Body),
	}
}

func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}

func TestJWTRoundTrip(t *testing.T) {
	for _, c := range jwtCases(t) {
		t.Run(c.alg, func(t *testing.T) {
			m := asymMsg()
			h := http.Header{}
			if err := c.signer(t, WithIssuer("herald-test")).Sign(h, m); err != nil {
				t.Fatal(err)
			}
			auth := h.Get("Authorization")
			if !strings.HasPrefix(auth, "Bearer ") || h.Get("webhook-id") != m.ID {
				t.Fatalf("headers = %v", h)
			}
			tok := strings.TrimPrefix(auth, "Bearer ")
			if strings.Contains(tok, ".") == false {
				t.Fatal("not a JWT")
			}
			// The header names the algorithm and the kid.
			hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			var header map[string]any
			if err := json.Unmarshal(hdr, &header); err != nil {
				t.Fatal(err)
			}
			if header["alg"] != c.alg || (c.kid != "" && header["kid"] != c.kid) || (c.kid == "" && header["kid"] != nil) {
				t.Fatalf("JWT header = %v", header)
			}
			got := must(c.verifier(t, WithIssuer("herald-test"), WithAudience("https://hooks.example.com/in"), WithRequireBodyHash()).Verify(h, m.Body))(t)
			if got.Scheme != schemeJWT || got.ID != m.ID || !got.Timestamp.Equal(asymNow) || got.KeyID != c.keyID {
				t.Fatalf("Verified = %+v", got)
			}
			want := map[string]any{
				"iss": "herald-test", "aud": "https://hooks.example.com/in", "jti": m.ID,
				"topic": m.Topic, "body_sha256": bodySHA256(m.Body),
				"iat": float64(asymNow.Unix()), "exp": float64(asymNow.Add(defaultTTL).Unix()),
			}
			for k, v := range want {
				if got.Claims[k] != v {
					t.Errorf("claim %s = %v, want %v", k, got.Claims[k], v)
				}
			}
			if len(got.Claims) != len(want) {
				t.Errorf("claims = %v", got.Claims)
			}
			// The destination's query, fragment and user info stay out of the token.
			payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
			for _, leak := range []string{"QUERYSECRET", "frag", "pw"} {
				if strings.Contains(string(payload), leak) {
					t.Fatalf("token payload holds %q: %s", leak, payload)
				}
			}
		})
	}
}

func TestJWTFailures(t *testing.T) {
	for _, c := range jwtCases(t) {
		t.Run(c.alg, func(t *testing.T) {
			m := asymMsg()
			signed := func(j *jwtScheme, m Message) http.Header {
				h := signed(t, j, m)
				return h
			}
			withClaims := func(edit func(jwt.MapClaims)) http.Header {
				cl := baseClaims()
				edit(cl)
				return bearer(c.craft(t, cl, nil))
			}
			old, future := m, m
			old.Timestamp = asymNow.Add(-10 * time.Minute)
			future.Timestamp = asymNow.Add(2 * time.Minute)
			good := signed(c.signer(t), m)
			tests := []struct {
				name string
				h    http.Header
				body []byte
				opts []JWTVerifierOption
				want error
			}{
				{"tampered body", good, []byte(`{"type":"contact.deleted"}`), nil, errBodyMismatch},
				{"wrong key", signed(c.wrong(t), m), m.Body, nil, ErrBadSignature},
				{"expired", signed(c.signer(t), old), m.Body, nil, ErrExpired},
				{"issued in the future", signed(c.signer(t), future), m.Body, nil, errNotYetValid},
				{"nbf in the future", withClaims(func(cl jwt.MapClaims) { cl["nbf"] = asymNow.Add(time.Minute).Unix() }), m.Body, nil, errNotYetValid},
				// Past int64 seconds, golang-jwt reads a date as long gone.
				{"nbf past int64", withClaims(func(cl jwt.MapClaims) { cl["nbf"] = 9.3e18 }), m.Body, nil, ErrClaims},
				{"nbf 1e300", withClaims(func(cl jwt.MapClaims) { cl["nbf"] = 1e300 }), m.Body, nil, ErrClaims},
				{"nbf before 1970", withClaims(func(cl jwt.MapClaims) { cl["nbf"] = -1 }), m.Body, nil, ErrClaims},
				{"missing exp", withClaims(func(cl jwt.MapClaims) { delete(cl, "exp") }), m.Body, nil, ErrClaims},
				{"exp not a number", withClaims(func(cl jwt.MapClaims) { cl["exp"] = "soon" }), m.Body, nil, ErrClaims},
				{"aud mismatch", good, m.Body, []JWTVerifierOption{WithAudience("https://other.example.com/in")}, ErrClaims},
				{"aud missing", withClaims(func(cl jwt.MapClaims) { delete(cl, "aud") }), m.Body, []JWTVerifierOption{WithAudience("https://hooks.example.com/in")}, ErrClaims},
				{"iss mismatch", signed(c.signer(t, WithIssuer("mallory")), m), m.Body, []JWTVerifierOption{WithIssuer("herald")}, ErrClaims},
				{"iss missing", good, m.Body, []JWTVerifierOption{WithIssuer("herald")}, ErrClaims},
				{"body hash wrong", withClaims(func(cl jwt.MapClaims) { cl["body_sha256"] = bodySHA256([]byte("other")) }), m.Body, nil, errBodyMismatch},
				{"body hash not a string", withClaims(func(cl jwt.MapClaims) { cl["body_sha256"] = 42 }), m.Body, nil, errBodyMismatch},
				{"body hash padded", withClaims(func(cl jwt.MapClaims) { cl["body_sha256"] = bodySHA256(m.Body) + "=" }), m.Body, nil, errBodyMismatch},
				{"body hash required but absent", withClaims(func(cl jwt.MapClaims) { delete(cl, "body_sha256") }), m.Body, []JWTVerifierOption{WithRequireBodyHash()}, ErrClaims},
				{"jti contradicts webhook-id", func() http.Header {
					h := cloneHeader(good)
					h.Set("webhook-id", "msg_other")
					return h
				}(), m.Body, nil, ErrClaims},
				{"jti not a string", withClaims(func(cl jwt.MapClaims) { cl["jti"] = 7 }), m.Body, nil, ErrClaims},
				{"alg none", bearer(noneToken(baseClaims())), m.Body, nil, errAlgorithm},
				{"alg unknown", bearer(rawToken(`{"alg":"XX256","typ":"JWT"}`, `{"exp":1}`, "c2ln")), m.Body, nil, errAlgorithm},
				{"alg missing", bearer(rawToken(`{"typ":"JWT"}`, `{"exp":1}`, "c2ln")), m.Body, nil, errAlgorithm},
				{"no Authorization", http.Header{}, m.Body, nil, ErrNoSignature},
				{"Basic auth", http.Header{"Authorization": {"Basic dXNlcjpwdw=="}}, m.Body, nil, ErrNoSignature},
				{"empty bearer", http.Header{"Authorization": {"Bearer "}}, m.Body, nil, ErrMalformed},
				{"two segments", bearer("abc.def"), m.Body, nil, ErrMalformed},
				{"not base64", bearer("a*b.c*d.e*f"), m.Body, nil, ErrMalformed},
				{"header not JSON", bearer(rawToken(`not json`, `{}`, "c2ln")), m.Body, nil, ErrMalformed},
				{"repeated Authorization", http.Header{"Authorization": {good.Get("Authorization"), good.Get("Authorization")}}, m.Body, nil, ErrMalformed},
				{"too long", bearer(strings.Repeat("a", maxTokenLength+1)), m.Body, nil, ErrMalformed},
				{"padded signature", bearer(strings.TrimPrefix(good.Get("Authorization"), "Bearer ") + "="), m.Body, nil, ErrMalformed},
				// Go's base64 decoders skip CR and LF: found by FuzzJWTVerify.
				{"CR in signature", bearer(intoSignature(good, "\r")), m.Body, nil, ErrMalformed},
				{"LF in signature", bearer(intoSignature(good, "\n")), m.Body, nil, ErrMalformed},
				{"space in signature", bearer(intoSignature(good, " ")), m.Body, nil, ErrMalformed},
				{"standard base64 in signature", bearer(intoSignature(good, "+/")), m.Body, nil, ErrMalformed},
			}
			if c.kid != "" {
				tests = append(tests, struct {
					name string
					h    http.Header
					body []byte
					opts []JWTVerifierOption
					want error
				}{"unknown kid", bearer(c.craft(t, baseClaims(), map[string]any{"kid": "nobody"})), m.Body, nil, ErrUnknownKey},
					struct {
						name string
						h    http.Header
						body []byte
						opts []JWTVerifierOption
						want error
					}{"kid not a string", bearer(c.craft(t, baseClaims(), map[string]any{"kid": 12})), m.Body, nil, ErrMalformed})
			}
			secretText := string(jwtSecret.Bytes()[:16])
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got, err := c.verifier(t, tt.opts...).Verify(tt.h, tt.body)
					if !errors.Is(err, tt.want) {
						t.Fatalf("Verify = %+v, %v; want %v", got, err, tt.want)
					}
					if got.Claims != nil || got.ID != "" {
						t.Fatalf("failed Verify returned %+v", got)
					}
					tok := strings.TrimPrefix(tt.h.Get("Authorization"), "Bearer ")
					if msg := err.Error(); strings.Contains(msg, secretText) || (len(tok) > 20 && strings.Contains(msg, tok[len(tok)-16:])) {
						t.Fatalf("error reveals key or token: %q", msg)
					}
				})
			}
		})
	}
}

// intoSignature returns the Bearer token of h with s inserted into its
// signature segment.
func intoSignature(h http.Header, s string) string {
	tok := strings.TrimPrefix(h.Get("Authorization"), "Bearer ")
	i := strings.LastIndexByte(tok, '.') + 8
	return tok[:i] + s + tok[i:]
}

// noneToken makes an unsigned token, as an attacker would.
func noneToken(claims jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		panic(err)
	}
	return s
}

// rawToken assembles a token from raw JSON parts and a signature segment.
func rawToken(header, claims, sig string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims)) + "." + sig
}

func TestJWTAllowMissingExp(t *testing.T) {
	// As Node's jsonwebtoken jwt.sign(payload, secret) makes them: iat and
	// the payload, no exp, no jti.
	c := jwtCases(t)[0]
	tok := c.craft(t, jwt.MapClaims{"iat": asymNow.Unix(), "event": "job:ready"}, nil)
	h := bearer(tok)
	h.Set("webhook-id", "evt_1")
	if _, err := c.verifier(t).Verify(h, nil); !errors.Is(err, ErrClaims) {
		t.Fatalf("without the option: %v", err)
	}
	got := must(c.verifier(t, WithAllowMissingExp()).Verify(h, nil))(t)
	// Without jti the id comes from the signature, not from webhook-id.
	if got.ID != jwtSigID(tok) || got.Claims["event"] != "job:ready" || !got.Timestamp.Equal(asymNow) {
		t.Fatalf("Verified = %+v, want ID %s", got, jwtSigID(tok))
	}
	// The option does not lift exp checking when exp is there.
	expired := c.craft(t, jwt.MapClaims{"iat": asymNow.Add(-time.Hour).Unix(), "exp": asymNow.Add(-time.Minute).Unix()}, nil)
	if _, err := c.verifier(t, WithAllowMissingExp()).Verify(bearer(expired), nil); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired with the option: %v", err)
	}
	// Leeway: 20 s past exp passes with the default 30 s, fails with 10 s.
	late := c.craft(t, jwt.MapClaims{"iat": asymNow.Add(-time.Minute).Unix(), "exp": asymNow.Add(-20 * time.Second).Unix()}, nil)
	if _, err := c.verifier(t).Verify(bearer(late), nil); err != nil {
		t.Fatalf("within default leeway: %v", err)
	}
	if _, err := c.verifier(t, WithLeeway(10*time.Second)).Verify(bearer(late), nil); !errors.Is(err, ErrExpired) {
		t.Fatalf("beyond leeway: %v", err)
	}
}

// jwtSigID is the Verified.ID of a token without jti: "sig:" and the
// SHA-256 of its decoded signature, an ES256 one with s at most n/2.
func jwtSigID(tok string) string {
	sig, err := base64.RawURLEncoding.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
	if err != nil {
		panic(err)
	}
	if strings.Contains(jwtHeader(tok), `"ES256"`) {
		n := elliptic.P256().Params().N
		if s := new(big.Int).SetBytes(sig[32:]); s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
			sig = append(sig[:32:32], s.Sub(n, s).FillBytes(make([]byte, 32))...)
		}
	}
	sum := sha256.Sum256(sig)
	return "sig:" + hex.EncodeToString(sum[:])
}

// jwtHeader returns the decoded JOSE header of tok.
func jwtHeader(tok string) string {
	b, _ := base64.RawURLEncoding.DecodeString(tok[:strings.IndexByte(tok, '.')])
	return string(b)
}

// Verified.ID is the signed jti, else derived from the signature: never the
// unsigned webhook-id. An empty or oversized jti is refused, as it could
// not name the delivery.
func TestJWTVerifiedID(t *testing.T) {
	for _, c := range jwtCases(t) {
		t.Run(c.alg, func(t *testing.T) {
			v := c.verifier(t)
			claims := jwt.MapClaims{"iat": asymNow.Unix(), "exp": asymNow.Add(time.Minute).Unix()}
			tok := c.craft(t, claims, nil)
			h := bearer(tok)
			h.Set("webhook-id", "chosen-by-anyone")
			if got, err := v.Verify(h, nil); err != nil || got.ID != jwtSigID(tok) {
				t.Fatalf("without jti: %+v, %v; want ID %s", got, err, jwtSigID(tok))
			}
			claims["jti"] = "evt_1"
			if got, err := v.Verify(bearer(c.craft(t, claims, nil)), nil); err != nil || got.ID != "evt_1" {
				t.Fatalf("with jti: %+v, %v", got, err)
			}
			for _, bad := range []any{"", strings.Repeat("j", maxIDLen+1), 42.0} {
				claims["jti"] = bad
				if _, err := v.Verify(bearer(c.craft(t, claims, nil)), nil); !errors.Is(err, ErrClaims) {
					t.Errorf("jti %.20v: %v, want ErrClaims", bad, err)
				}
			}
		})
	}
}

// ECDSA accepts (r, n-s) wherever it accepts (r, s): anyone can make that
// twin of a captured ES256 token without the key. Both verify, and both
// get the same Verified.ID, so the twin is a duplicate, not a new delivery.
func TestJWTES256TwinSameID(t *testing.T) {
	ks := asymKeys(t)
	v := must(NewJWTVerifier(PublicKeys{ks.ec.Public()}, WithClock(asymClock)))(t)
	n := elliptic.P256().Params().N
	for i := range 8 { // random signatures: both halves of s occur
		tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"iat": asymNow.Unix(), "exp": asymNow.Add(time.Minute).Unix(), "n": i,
		}).SignedString(ks.ec.Signer())
		if err != nil {
			t.Fatal(err)
		}
		dot := strings.LastIndexByte(tok, '.')
		sig, _ := base64.RawURLEncoding.DecodeString(tok[dot+1:])
		s := new(big.Int).SetBytes(sig[32:])
		twinSig := append([]byte(nil), sig[:32]...)
		twinSig = append(twinSig, new(big.Int).Sub(n, s).FillBytes(make([]byte, 32))...)
		twin := tok[:dot+1] + base64.RawURLEncoding.EncodeToString(twinSig)
		a, errA := v.Verify(bearer(tok), nil)
		b, errB := v.Verify(bearer(twin), nil)
		if errA != nil || errB != nil {
			t.Fatalf("token %d: %v; twin: %v", i, errA, errB)
		}
		if a.ID != b.ID || !strings.HasPrefix(a.ID, "sig:") {
			t.Fatalf("token %d: ID %q, twin %q; want one sig: id", i, a.ID, b.ID)
		}
	}
}

func TestJWTAlgorithmConfusion(t *testing.T) {
	ks := asymKeys(t)
	m := asymMsg()
	rsaVerifier := must(NewJWTVerifier(PublicKeys{ks.rsa.Public()}, WithClock(asymClock)))(t)
	// The classic attack: HS256 keyed with the RSA public key's PEM bytes.
	pubPEM := must(MarshalPublicKeyPEM(ks.rsa.Public()))(t)
	forged := must(jwt.NewWithClaims(jwt.SigningMethodHS256, baseClaims()).SignedString(pubPEM))(t)
	if _, err := rsaVerifier.Verify(bearer(forged), m.Body); !errors.Is(err, errAlgorithm) {
		t.Fatalf("HS256 with the RSA PEM: %v", err)
	}
	// Even if the token names the key's kid.
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, baseClaims())
	tok.Header["kid"] = ks.rsa.ID()
	forged, _ = tok.SignedString(pubPEM)
	if _, err := rsaVerifier.Verify(bearer(forged), m.Body); !errors.Is(err, errAlgorithm) {
		t.Fatalf("HS256 with the RSA PEM and kid: %v", err)
	}

	// An HMAC verifier never takes RS256, nor another HS size.
	hs := must(NewJWT("HS256", []Secret{jwtSecret}, WithClock(asymClock)))(t)
	rs, _ := NewJWTSigner([]PrivateKey{ks.rsa}, WithClock(asymClock))
	h := http.Header{}
	_ = rs.Sign(h, m)
	if _, err := hs.Verify(h, m.Body); !errors.Is(err, errAlgorithm) {
		t.Fatalf("RS256 to HMAC verifier: %v", err)
	}
	hs512 := must(jwt.NewWithClaims(jwt.SigningMethodHS512, baseClaims()).SignedString(jwtSecret.Bytes()))(t)
	if _, err := hs.Verify(bearer(hs512), m.Body); !errors.Is(err, errAlgorithm) {
		t.Fatalf("HS512 to HS256 verifier: %v", err)
	}
	// An ES256 token to an EdDSA-only verifier; PS256 signed by the RSA key.
	ed, _ := NewJWTVerifier(PublicKeys{ks.ed.Public()}, WithClock(asymClock))
	es, _ := NewJWTSigner([]PrivateKey{ks.ec}, WithClock(asymClock))
	h = http.Header{}
	_ = es.Sign(h, m)
	if _, err := ed.Verify(h, m.Body); !errors.Is(err, errAlgorithm) {
		t.Fatalf("ES256 to EdDSA verifier: %v", err)
	}
	ps, _ := jwt.NewWithClaims(jwt.SigningMethodPS256, baseClaims()).SignedString(ks.rsa.Signer())
	if _, err := rsaVerifier.Verify(bearer(ps), m.Body); !errors.Is(err, errAlgorithm) {
		t.Fatalf("PS256 to RS256 verifier: %v", err)
	}
	// A mixed key set: the kid picks an EdDSA key, the token says ES256.
	mixed, _ := NewJWTVerifier(PublicKeys{ks.ed.Public(), ks.ec.Public()}, WithClock(asymClock))
	tok = jwt.NewWithClaims(jwt.SigningMethodES256, baseClaims())
	tok.Header["kid"] = ks.ed.ID()
	s, _ := tok.SignedString(ks.ec.Signer())
	if _, err := mixed.Verify(bearer(s), m.Body); !errors.Is(err, errAlgorithm) {
		t.Fatalf("kid of another algorithm: %v", err)
	}
}

func TestJWTRotation(t *testing.T) {
	ks := asymKeys(t)
	m := asymMsg()
	clock := WithClock(asymClock)
	// The new signer holds the new key and the old one, the old signer
	// only the old key: the new verifier takes the tokens of both and
	// names the key that matched.
	for _, c := range []struct {
		name         string
		newer, old   *jwtScheme
		newID, oldID string
	}{
		{"HMAC", mustScheme[*jwtScheme](NewJWT("HS256", []Secret{jwtSecret2, jwtSecret}, clock))(t), mustScheme[*jwtScheme](NewJWT("HS256", []Secret{jwtSecret}, clock))(t), "0", "1"},
		{"keys", mustScheme[*jwtScheme](NewJWTSigner([]PrivateKey{ks.ed2, ks.ed}, clock))(t), mustScheme[*jwtScheme](NewJWTSigner([]PrivateKey{ks.ed}, clock))(t), "ed-2", "ed-1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for signer, keyID := range map[*jwtScheme]string{c.newer: c.newID, c.old: c.oldID} {
				got, err := c.newer.Verify(signed(t, signer, m), m.Body)
				if err != nil || got.KeyID != keyID {
					t.Fatalf("Verify = %+v, %v; want KeyID %s", got, err, keyID)
				}
			}
		})
	}
	t.Run("unnamed keys", func(t *testing.T) {
		signer, _ := NewJWTSigner([]PrivateKey{ks.ec2.withID("")}, WithClock(asymClock))
		v, _ := NewJWTVerifier(PublicKeys{ks.ec.Public().withID(""), ks.ec2.Public().withID("")}, WithClock(asymClock))
		h := http.Header{}
		_ = signer.Sign(h, m)
		got, err := v.Verify(h, m.Body)
		if err != nil || got.KeyID != "1" {
			t.Fatalf("Verify = %+v, %v; want KeyID 1", got, err)
		}
		// A token with a kid still matches keys that have none.
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, baseClaims())
		tok.Header["kid"] = "some-kid"
		s, _ := tok.SignedString(ks.ec.Signer())
		if got, err := v.Verify(bearer(s), m.Body); err != nil || got.KeyID != "some-kid" {
			t.Fatalf("kid against unnamed keys: %+v, %v", got, err)
		}
	})
}

func TestJWTConstructors(t *testing.T) {
	ks := asymKeys(t)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"short secret", second(NewJWT("HS256", []Secret{NewSecret(make([]byte, 31))})), ErrBadKey},
		{"HS512 needs 64", second(NewJWT("HS512", []Secret{NewSecret(make([]byte, 48))})), ErrBadKey},
		{"no secret", second(NewJWT("HS256", nil)), ErrBadKey},
		{"empty secret", second(NewJWT("HS256", []Secret{{}})), ErrBadKey},
		{"asymmetric alg", second(NewJWT("RS256", []Secret{jwtSecret})), ErrBadKey},
		{"none", second(NewJWT("none", []Secret{jwtSecret})), ErrBadKey},
		{"no keys", second(NewJWTSigner(nil)), ErrBadKey},
		{"zero key", second(NewJWTSigner([]PrivateKey{{}})), ErrBadKey},
		{"nil key set", second(NewJWTVerifier(nil)), ErrBadKey},
		{"empty key set", second(NewJWTVerifier(PublicKeys{})), ErrBadKey},
		{"zero public key", second(NewJWTVerifier(PublicKeys{ks.ed.Public(), {}})), ErrBadKey},
		{"nil JWKS", second(NewJWTVerifier((*JWKS)(nil))), ErrBadKey},
		// A zero JWKS, made without NewJWKS, was taken, and every token
		// verified against it panicked (a nil dereference in Keys).
		{"zero JWKS", second(NewJWTVerifier(&JWKS{})), ErrBadKey},
		{"nil JWKS Keys", second((*JWKS)(nil).Keys(context.Background(), "")), ErrBadKey},
		{"zero JWKS Keys", second((&JWKS{}).Keys(context.Background(), "")), ErrBadKey},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	v, _ := NewJWTVerifier(PublicKeys{ks.ed.Public()})
	if err := v.Sign(http.Header{}, asymMsg()); !errors.Is(err, errNoPrivateKey) {
		t.Fatalf("verifier Sign = %v", err)
	}
	s, _ := NewJWT("HS256", []Secret{jwtSecret})
	if err := s.Sign(http.Header{}, Message{ID: ""}); err == nil {
		t.Fatal("Sign accepted an empty id")
	}
	// Audience: WithAudience wins over the URL; no URL, no aud.
	h := http.Header{}
	s, _ = NewJWT("HS256", []Secret{jwtSecret}, WithAudience("urn:me"), WithTTL(time.Minute), WithClock(asymClock))
	_ = s.Sign(h, asymMsg())
	got, err := s.Verify(h, asymMsg().Body)
	if err != nil || got.Claims["aud"] != "urn:me" || got.Claims["exp"] != float64(asymNow.Add(time.Minute).Unix()) {
		t.Fatalf("aud/ttl: %+v %v", got.Claims, err)
	}
	m := asymMsg()
	m.URL, m.Topic = "", ""
	s, _ = NewJWT("HS256", []Secret{jwtSecret}, WithClock(asymClock))
	_ = s.Sign(h, m)
	got, err = s.Verify(h, m.Body)
	if _, has := got.Claims["aud"]; err != nil || has || got.Claims["topic"] != nil {
		t.Fatalf("no URL: %+v %v", got.Claims, err)
	}
}

// jwtOrFatal returns a function that passes a constructor's result through,
// failing t on an error.
func jwtOrFatal(t *testing.T) func(*Scheme, error) *jwtScheme {
	return func(s *Scheme, err error) *jwtScheme {
		t.Helper()
		return mustScheme[*jwtScheme](s, err)(t)
	}
}

func second[T any](_ T, err error) error { return err }

// jwtOptions returns WithClock(now) followed by opts, as JWTOptions.
func jwtOptions(now func() time.Time, opts []JWTVerifierOption) []JWTOption {
	all := []JWTOption{WithClock(now)}
	for _, o := range opts {
		all = append(all, o)
	}
	return all
}
