package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestJWTHeaderURLsNeverFetched: a token whose header names a key URL
// (jku, x5u) or embeds a key (jwk) of the attacker's is refused, and the
// URLs are never fetched, whether the verifier holds its keys or a JWKS of
// its own. The attacker's server would answer with their key, so a fetch
// would be enough to forge any token.
func TestJWTHeaderURLsNeverFetched(t *testing.T) {
	ks := asymKeys(t)
	attacker := newJWKSServer(t, ks.ed2.Public()) // serves the attacker's key
	genuine := newJWKSServer(t, ks.ed.Public())
	m := asymMsg()

	static := mustScheme[*jwtScheme](NewJWTVerifier(PublicKeys{ks.ed.Public()}, WithClock(asymClock)))(t)
	j := must(NewJWKS(genuine.srv.URL+"/jwks.json", genuine.srv.Client()))(t)
	fromJWKS := mustScheme[*jwtScheme](NewJWTVerifier(j, WithClock(asymClock)))(t)

	// The attacker signs with their own Ed25519 key, under the genuine kid
	// and under their own, and points the header at where it can be had.
	jwk := must(json.Marshal(map[string]string{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}))(t)
	headers := map[string]map[string]any{
		"jku":          {"jku": attacker.srv.URL + "/jwks.json"},
		"x5u":          {"x5u": attacker.srv.URL + "/cert.pem"},
		"embedded jwk": {"jwk": json.RawMessage(jwk)},
	}
	for name, extra := range headers {
		for _, kid := range []string{ks.ed.ID(), ks.ed2.ID()} {
			claims := jwt.MapClaims{
				"iat": asymNow.Unix(), "exp": asymNow.Add(defaultTTL).Unix(),
				"jti": "forged-" + name, "aud": m.URL,
			}
			tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
			tok.Header["kid"] = kid
			for k, v := range extra {
				tok.Header[k] = v
			}
			s := must(tok.SignedString(ks.ed2.Signer()))(t)
			h := http.Header{"Authorization": {"Bearer " + s}}
			for vname, v := range map[string]*jwtScheme{"static keys": static, "own JWKS": fromJWKS} {
				if _, err := v.Verify(h, m.Body); !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrUnknownKey) {
					t.Errorf("%s, kid %s, %s: err = %v, want a refusal", name, kid, vname, err)
				}
			}
		}
	}
	if n := attacker.fetches.Load(); n != 0 {
		t.Errorf("the attacker's server was fetched %d times", n)
	}
}
