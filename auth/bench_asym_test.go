package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The benchmarks in this file put each herald scheme next to a baseline
// doing the same cryptographic work directly (crypto/ed25519 for v1a,
// golang-jwt for JWT), at a 1 KiB body, so that the ratio herald/baseline
// is the price of herald's framing, checks and headers.

func benchBody() []byte { return bytes.Repeat([]byte(`{"k":"v"},`), 103)[:1024] }

func BenchmarkV1aSign(b *testing.B) {
	ks := asymKeys(b)
	m := asymMsg()
	m.Body = benchBody()
	b.Run("herald", func(b *testing.B) {
		s := must(NewStandardV1a([]PrivateKey{ks.ed}))(b)
		h := http.Header{}
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Sign(h, m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		priv := ks.ed.Signer().(ed25519.PrivateKey)
		h := http.Header{}
		b.ReportAllocs()
		for b.Loop() {
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			content := appendStandardContent(nil, m.ID, ts, m.Body)
			h.Set("webhook-id", m.ID)
			h.Set("webhook-timestamp", ts)
			h.Set("webhook-signature", "v1a,"+base64.StdEncoding.EncodeToString(ed25519.Sign(priv, content)))
		}
	})
}

func BenchmarkV1aVerify(b *testing.B) {
	ks := asymKeys(b)
	m := asymMsg()
	m.Body = benchBody()
	s := must(NewStandardV1a([]PrivateKey{ks.ed}, WithClock(asymClock)))(b)
	h := signed(b, s, m)
	b.Run("herald", func(b *testing.B) {
		v := must(NewStandardV1aVerifier([]PublicKey{ks.ed.Public()}, WithClock(asymClock)))(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(h, m.Body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline", func(b *testing.B) {
		pub := ks.ed.Public().Key().(ed25519.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			sig := must(base64.StdEncoding.DecodeString(h.Get("webhook-signature")[4:]))(b)
			content := appendStandardContent(nil, h.Get("webhook-id"), h.Get("webhook-timestamp"), m.Body)
			if !ed25519.Verify(pub, content, sig) {
				b.Fatal("bad signature")
			}
		}
	})
}

// jwtBenchAlg is one algorithm: a herald signer and the raw keys for
// golang-jwt.
type jwtBenchAlg struct {
	name      string
	herald    func(b *testing.B) *jwtScheme
	signKey   any
	verifyKey any
}

func jwtBenchAlgs(b *testing.B) []jwtBenchAlg {
	ks := asymKeys(b)
	mk := func(s *Scheme, err error) func(*testing.B) *jwtScheme {
		return func(b *testing.B) *jwtScheme { return mustScheme[*jwtScheme](s, err)(b) }
	}
	return []jwtBenchAlg{
		{"HS256", mk(NewJWT("HS256", []Secret{jwtSecret}, WithClock(asymClock))), jwtSecret.Bytes(), jwtSecret.Bytes()},
		{"ES256", mk(NewJWTSigner([]PrivateKey{ks.ec}, WithClock(asymClock))), ks.ec.Signer(), ks.ec.Public().Key()},
		{"EdDSA", mk(NewJWTSigner([]PrivateKey{ks.ed}, WithClock(asymClock))), ks.ed.Signer(), ks.ed.Public().Key()},
	}
}

// baselineClaims are the claims herald signs, built for golang-jwt directly.
func baselineClaims(m Message, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iat": now.Unix(), "exp": now.Add(defaultTTL).Unix(), "jti": m.ID,
		"aud": "https://hooks.example.com/in", "topic": m.Topic, "body_sha256": bodySHA256(m.Body),
	}
}

func BenchmarkJWTSign(b *testing.B) {
	m := asymMsg()
	m.Body = benchBody()
	for _, a := range jwtBenchAlgs(b) {
		b.Run(a.name+"/herald", func(b *testing.B) {
			j := a.herald(b)
			h := http.Header{}
			b.ReportAllocs()
			for b.Loop() {
				if err := j.Sign(h, m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(a.name+"/golang-jwt", func(b *testing.B) {
			method := jwt.GetSigningMethod(a.name)
			h := http.Header{}
			b.ReportAllocs()
			for b.Loop() {
				s := must(jwt.NewWithClaims(method, baselineClaims(m, asymNow)).SignedString(a.signKey))(b)
				h.Set("Authorization", "Bearer "+s)
			}
		})
	}
}

func BenchmarkJWTVerify(b *testing.B) {
	m := asymMsg()
	m.Body = benchBody()
	for _, a := range jwtBenchAlgs(b) {
		j := a.herald(b)
		h := signed(b, j, m)
		b.Run(a.name+"/herald", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := j.Verify(h, m.Body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(a.name+"/golang-jwt", func(b *testing.B) {
			p := jwt.NewParser(jwt.WithValidMethods([]string{a.name}), jwt.WithTimeFunc(asymClock),
				jwt.WithLeeway(defaultLeeway), jwt.WithIssuedAt(), jwt.WithExpirationRequired())
			keyfunc := func(*jwt.Token) (any, error) { return a.verifyKey, nil }
			b.ReportAllocs()
			for b.Loop() {
				claims := jwt.MapClaims{}
				if _, err := p.ParseWithClaims(h.Get("Authorization")[len("Bearer "):], claims, keyfunc); err != nil {
					b.Fatal(err)
				}
				sum := sha256.Sum256(m.Body)
				want := base64.RawURLEncoding.EncodeToString(sum[:])
				if got, _ := claims["body_sha256"].(string); subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
					b.Fatal("body mismatch")
				}
			}
		})
	}
}
