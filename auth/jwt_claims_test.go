package auth

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A verifier requires iat and bounds exp - iat (10 minutes by default,
// WithMaxLifetime to raise it), so that no captured token lives long
// enough to outlast the replay cache's memory of it.
func TestJWTLifetime(t *testing.T) {
	year := 365 * 24 * time.Hour
	for _, c := range jwtCases(t) {
		t.Run(c.alg, func(t *testing.T) {
			tok := func(claims jwt.MapClaims) http.Header { return bearer(c.craft(t, claims, nil)) }
			life := func(iat time.Time, d time.Duration) http.Header {
				return tok(jwt.MapClaims{"iat": iat.Unix(), "exp": iat.Add(d).Unix()})
			}
			tests := []struct {
				name string
				h    http.Header
				opts []JWTVerifierOption
				want error  // nil: accepted
				text string // in the error
			}{
				{"no iat", tok(jwt.MapClaims{"exp": asymNow.Add(time.Minute).Unix()}), nil, ErrClaims, "token has no iat claim"},
				{"no iat, a year ahead", tok(jwt.MapClaims{"exp": asymNow.Add(year).Unix()}), nil, ErrClaims, "token has no iat claim"},
				{"no iat and no exp, allowed missing exp", tok(jwt.MapClaims{"event": "x"}), []JWTVerifierOption{WithAllowMissingExp()}, ErrClaims, "token has no iat claim"},
				{"a year", life(asymNow, year), nil, ErrClaims, "token lifetime exp - iat is 8760h0m0s, over the 10m0s allowed"},
				{"one second over", life(asymNow, 10*time.Minute+time.Second), nil, ErrClaims, "over the 10m0s allowed"},
				{"exactly the bound", life(asymNow, 10*time.Minute), nil, nil, ""},
				{"exactly the bound, issued long ago", life(asymNow.Add(-9*time.Minute), 10*time.Minute), nil, nil, ""},
				{"a year, raised bound", life(asymNow, year), []JWTVerifierOption{WithMaxLifetime(year)}, nil, ""},
				{"raised bound, one second over", life(asymNow, time.Hour+time.Second), []JWTVerifierOption{WithMaxLifetime(time.Hour)}, ErrClaims, "over the 1h0m0s allowed"},
				{"exp before iat", tok(jwt.MapClaims{"iat": asymNow.Add(20 * time.Second).Unix(), "exp": asymNow.Add(10 * time.Second).Unix()}), nil, ErrClaims, "before it is issued"},
				{"no exp, within the bound of iat", tok(jwt.MapClaims{"iat": asymNow.Add(-9 * time.Minute).Unix()}), []JWTVerifierOption{WithAllowMissingExp()}, nil, ""},
				{"no exp, past the bound of iat", tok(jwt.MapClaims{"iat": asymNow.Add(-11 * time.Minute).Unix()}), []JWTVerifierOption{WithAllowMissingExp()}, ErrExpired, "older than the 10m0s lifetime allowed"},
				// golang-jwt reads an exp of 0 as none: WithAllowMissingExp
				// took a token that says it expired in 1970 for one without
				// exp, valid for the lifetime after its iat.
				{"exp 0, allowed missing exp", tok(jwt.MapClaims{"iat": asymNow.Unix(), "exp": 0}), []JWTVerifierOption{WithAllowMissingExp()}, ErrExpired, "expired in 1970"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					_, err := c.verifier(t, tt.opts...).Verify(tt.h, nil)
					if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
						t.Fatalf("Verify: %v, want %v", err, tt.want)
					}
					if err != nil && !strings.Contains(err.Error(), tt.text) {
						t.Fatalf("error %q, want it to say %q", err, tt.text)
					}
				})
			}
		})
	}
}

// herald's own signer makes tokens its verifiers take: iat, and exp
// defaultTTL later; a TTL up to the bound passes, one over it needs the
// receiver's WithMaxLifetime.
func TestJWTSignerWithinLifetime(t *testing.T) {
	c := jwtCases(t)[0]
	m := asymMsg()
	for _, tt := range []struct {
		ttl  time.Duration
		opts []JWTVerifierOption
		ok   bool
	}{
		{0, nil, true}, // defaultTTL
		{10 * time.Minute, nil, true},
		{11 * time.Minute, nil, false},
		{11 * time.Minute, []JWTVerifierOption{WithMaxLifetime(11 * time.Minute)}, true},
	} {
		v, err := c.verifier(t, tt.opts...).Verify(signed(t, c.signer(t, WithTTL(tt.ttl)), m), m.Body)
		if (err == nil) != tt.ok {
			t.Fatalf("TTL %s: Verify = %+v, %v; want ok %v", tt.ttl, v, err, tt.ok)
		}
		if err == nil && (v.Claims["iat"] == nil || v.Claims["exp"] == nil) {
			t.Fatalf("TTL %s: claims %v lack iat or exp", tt.ttl, v.Claims)
		}
	}
}

// Each missing claim is named in the error: a missing aud is not
// reported as a missing exp.
func TestJWTMissingClaimText(t *testing.T) {
	c := jwtCases(t)[0]
	v := c.verifier(t, WithIssuer("herald"), WithAudience("https://hooks.example.com/in"))
	full := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "herald", "aud": "https://hooks.example.com/in",
			"iat": asymNow.Unix(), "exp": asymNow.Add(time.Minute).Unix()}
	}
	for _, tt := range []struct {
		drop []string
		text string
	}{
		{[]string{"exp"}, "token has no exp claim"},
		{[]string{"iat"}, "token has no iat claim"},
		{[]string{"aud"}, "token has no aud claim"},
		{[]string{"iss"}, "token has no iss claim"},
		{[]string{"exp", "aud"}, "token has no exp claim, no aud claim"},
		{[]string{"iat", "iss"}, "token has no iat claim, no iss claim"},
	} {
		claims := full()
		for _, k := range tt.drop {
			delete(claims, k)
		}
		_, err := v.Verify(bearer(c.craft(t, claims, nil)), nil)
		if !errors.Is(err, ErrClaims) || !strings.HasSuffix(err.Error(), ": "+tt.text) {
			t.Errorf("without %v: %v, want ErrClaims saying %q", tt.drop, err, tt.text)
		}
	}
}

// A validly signed token with a crit header is refused whatever it lists,
// even an empty list (RFC 7515 section 4.1.11): herald implements no
// critical extension.
func TestJWTCritRefused(t *testing.T) {
	for _, c := range jwtCases(t) {
		t.Run(c.alg, func(t *testing.T) {
			v := c.verifier(t)
			claims := jwt.MapClaims{"iat": asymNow.Unix(), "exp": asymNow.Add(time.Minute).Unix()}
			if _, err := v.Verify(bearer(c.craft(t, claims, nil)), nil); err != nil {
				t.Fatalf("control token without crit: %v", err)
			}
			for _, crit := range []any{[]string{"b64"}, []string{"exp"}, []string{}, "b64", nil} {
				tok := c.craft(t, claims, map[string]any{"crit": crit, "b64": true})
				_, err := v.Verify(bearer(tok), nil)
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "crit") {
					t.Errorf("crit %#v: %v, want ErrMalformed naming crit", crit, err)
				}
			}
		})
	}
}

// A wrong aud or iss is named with what the verifier wants, from its own
// configuration, so that a receiver that passed another URL than the
// signer's destination learns which; the token's own value is not
// repeated.
func TestJWTWrongClaimText(t *testing.T) {
	c := jwtCases(t)[0]
	v := c.verifier(t, WithIssuer("herald"), WithAudience("https://hooks.example.com/in"))
	for _, tt := range []struct {
		claim, value, text string
	}{
		{"aud", "https://localhost:8443/in", `wrong aud: the token is not for "https://hooks.example.com/in" (WithAudience; a signer without it writes its destination URL)`},
		{"iss", "someone-else", `wrong iss: the token is not from "herald" (WithIssuer)`},
	} {
		claims := jwt.MapClaims{"iss": "herald", "aud": "https://hooks.example.com/in",
			"iat": asymNow.Unix(), "exp": asymNow.Add(time.Minute).Unix()}
		claims[tt.claim] = tt.value
		_, err := v.Verify(bearer(c.craft(t, claims, nil)), nil)
		if !errors.Is(err, ErrClaims) || !strings.HasSuffix(err.Error(), ": "+tt.text) || strings.Contains(err.Error(), tt.value) {
			t.Errorf("wrong %s: %v, want ErrClaims saying %q", tt.claim, err, tt.text)
		}
	}
}
