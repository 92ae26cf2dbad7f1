package auth

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestJWTHMACKeyIDIsThePosition: an HMAC JWT verifier reports the position
// of the secret that matched, as NewJWT documents, whatever kid the token
// names. (It reported the token's kid: a sender still on the old secret
// whose tokens say kid "0" looked, during a rotation, as if it used the
// new one.)
func TestJWTHMACKeyIDIsThePosition(t *testing.T) {
	m := asymMsg()
	v := must(NewJWT("HS256", []Secret{jwtSecret2, jwtSecret}, WithClock(asymClock)))(t)
	for _, kid := range []string{"0", "v2", ""} {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, baseClaims())
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(jwtSecret.Bytes()) // the old secret, position 1
		if err != nil {
			t.Fatal(err)
		}
		if got, err := v.Verify(bearer(s), m.Body); err != nil || got.KeyID != "1" {
			t.Errorf("token of secret 1 naming kid %q: %+v, %v; want KeyID 1", kid, got, err)
		}
	}
}
