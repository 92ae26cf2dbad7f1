package main

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhq/herald/auth"
)

// Claims shared by herald's JWTs and the golang-jwt baseline.
const (
	jwtIssuer   = "herald-bench"
	jwtAudience = "https://receiver.example/hook"
)

// jwtCases compares herald's JWT Bearer scheme (HS256, ES256, EdDSA) with
// golang-jwt used directly, with the same claims: iss, aud, iat, exp, jti,
// body_sha256, and a kid header for asymmetric keys.
func jwtCases() ([]microCase, error) {
	var cases []microCase
	for _, alg := range []string{"HS256", "ES256", "EdDSA"} {
		for _, n := range signSizes {
			c, err := jwtCase(alg, body(n))
			if err != nil {
				return nil, fmt.Errorf("JWT %s: %w", alg, err)
			}
			cases = append(cases, c...)
		}
	}
	return cases, nil
}

// jwtCase builds the sign and verify comparisons for one algorithm and body.
func jwtCase(alg string, b []byte) ([]microCase, error) {
	opts := []auth.JWTOption{auth.WithIssuer(jwtIssuer), auth.WithAudience(jwtAudience)}
	var (
		j       *auth.Scheme
		signKey any
		pubKey  any
		kid     string
		method  jwt.SigningMethod
		err     error
	)
	switch alg {
	case "HS256":
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		j, err = auth.NewJWT(alg, []auth.Secret{auth.NewSecret(key)}, opts...)
		signKey, pubKey, method = key, key, jwt.SigningMethodHS256
	default:
		var pk auth.PrivateKey
		if pk, err = auth.GeneratePrivateKey(alg); err != nil {
			return nil, err
		}
		j, err = auth.NewJWTSigner([]auth.PrivateKey{pk}, opts...)
		signKey, pubKey, kid = pk.Signer(), pk.Signer().Public().(crypto.PublicKey), pk.ID()
		method = jwt.GetSigningMethod(alg)
	}
	if err != nil {
		return nil, err
	}
	peerSign := func() (string, error) {
		now := time.Now()
		sum := sha256.Sum256(b)
		tok := jwt.NewWithClaims(method, jwt.MapClaims{
			"iss":         jwtIssuer,
			"aud":         jwtAudience,
			"iat":         now.Unix(),
			"exp":         now.Add(authTTL).Unix(),
			"jti":         benchID,
			"body_sha256": base64.RawURLEncoding.EncodeToString(sum[:]),
		})
		if kid != "" {
			tok.Header["kid"] = kid
		}
		return tok.SignedString(signKey)
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{alg}),
		jwt.WithIssuer(jwtIssuer),
		jwt.WithAudience(jwtAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(authLeeway),
	)
	keyfunc := func(*jwt.Token) (any, error) { return pubKey, nil }
	return signVerifyCases(fmt.Sprintf("JWT %s", alg), j, auth.Message{ID: benchID, Body: b, URL: jwtAudience}, nil,
		func(signed http.Header) ([]contender, []contender, error) {
			authz := signed.Get("Authorization")
			peerVerify := func() error {
				raw, ok := strings.CutPrefix(authz, "Bearer ")
				if !ok {
					return errMismatch
				}
				claims := jwt.MapClaims{}
				if _, err := parser.ParseWithClaims(raw, claims, keyfunc); err != nil {
					return err
				}
				sum := sha256.Sum256(b)
				if claims["body_sha256"] != base64.RawURLEncoding.EncodeToString(sum[:]) || claims["jti"] != signed.Get("Webhook-Id") {
					return errMismatch
				}
				return nil
			}
			// Both sides must accept herald's token.
			if _, err := j.Verify(signed, b); err != nil {
				return nil, nil, fmt.Errorf("herald refuses its own token: %w", err)
			}
			if err := peerVerify(); err != nil {
				return nil, nil, fmt.Errorf("golang-jwt refuses herald's token: %w", err)
			}
			return []contender{{"golang-jwt direct", func() error { _, err := peerSign(); return err }}},
				[]contender{{"golang-jwt direct", peerVerify}}, nil
		})
}
