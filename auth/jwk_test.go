package auth

// Tests of the JSON Web Key Set document (jwk.go): MarshalJWKS and
// ParseJWKS. Fetching a key set from a URL is tested in jwks_test.go.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseJWKSRoundTrip(t *testing.T) {
	ks := asymKeys(t)
	in := []PublicKey{ks.ed.Public(), ks.ec.Public(), ks.rsa.Public()}
	doc := must(MarshalJWKS(in...))(t)
	out := must(ParseJWKS(doc))(t)
	if len(out) != len(in) {
		t.Fatalf("%d keys back", len(out))
	}
	for i := range in {
		if !out[i].equal(in[i]) || out[i].ID() != in[i].ID() || out[i].Algorithm() != in[i].Algorithm() {
			t.Fatalf("key %d changed: %v -> %v", i, in[i], out[i])
		}
	}
}

func TestParseJWKS(t *testing.T) {
	const ed = `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"}`
	ks := asymKeys(t)
	ecDoc, _ := MarshalJWKS(ks.ec.Public())
	var ecSet struct{ Keys []map[string]string }
	_ = json.Unmarshal(ecDoc, &ecSet)
	ecWith := func(edit func(map[string]string)) string {
		m := map[string]string{}
		for k, v := range ecSet.Keys[0] {
			m[k] = v
		}
		edit(m)
		b, _ := json.Marshal(m)
		return string(b)
	}

	t.Run("kept and skipped", func(t *testing.T) {
		doc := `{"keys":[` + ed + `,
			{"kty":"OKP","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"x"},
			{"kty":"oct","k":"c2VjcmV0","kid":"h"},
			{"kty":"EC","crv":"P-384","x":"AA","y":"AA","kid":"p384"},
			{"kty":"RSA","alg":"PS256","n":"AQAB","e":"AQAB","kid":"ps"},
			{"kty":"RSA","n":"` + rsaN(128) + `","e":"AQAB","kid":"rsa1024"},
			` + ecWith(func(m map[string]string) { m["use"] = "enc"; m["kid"] = "enc" }) + `,
			` + ecWith(func(m map[string]string) { delete(m, "alg"); delete(m, "use"); m["kid"] = "ec-noalg" }) + `
		], "other": 1}`
		keys := must(ParseJWKS([]byte(doc)))(t)
		if len(keys) != 2 || keys[0].ID() != "a" || keys[0].Algorithm() != algEdDSA || keys[1].ID() != "ec-noalg" || !keys[1].equal(ks.ec.Public()) {
			t.Fatalf("keys = %v", keys)
		}
	})

	bad := []struct{ name, doc, mention string }{
		{"not JSON", `{"keys":[`, "not a JSON"},
		{"no keys member", `{"key":[]}`, "no \"keys\""},
		{"only unusable keys", `{"keys":[{"kty":"oct","k":"AA"}]}`, "no usable"},
		{"trailing data", `{"keys":[` + ed + `]} {}`, "trailing"},
		{"private member", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"SECRETSECRET"}]}`, "private"},
		{"duplicate kid", `{"keys":[` + ed + `,` + strings.Replace(ed, "11q", "22q", 1) + `]}`, "duplicate kid"},
		{"two without kid", `{"keys":[` + strings.Replace(ed, `,"kid":"a"`, "", 1) + `,` + ecWith(func(m map[string]string) { delete(m, "kid") }) + `]}`, "lack a kid"},
		{"short x", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}`, "bytes"},
		{"padded x", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="}]}`, "base64url"},
		{"missing x", `{"keys":[{"kty":"OKP","crv":"Ed25519"}]}`, "missing"},
		{"point off the curve", `{"keys":[` + ecWith(func(m map[string]string) { m["y"] = m["x"] }) + `]}`, "not on P-256"},
		{"kid not a string", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":5}]}`, "not a JSON object"},
		{"rsa even exponent", `{"keys":[{"kty":"RSA","n":"` + rsaN(256) + `","e":"Ag"}]}`, "exponent"},
		{"rsa huge exponent", `{"keys":[{"kty":"RSA","n":"` + rsaN(256) + `","e":"AQAAAAAB"}]}`, "exponent"},
		{"too large", `{"keys":[` + strings.Repeat(" ", maxJWKSLen) + `]}`, "larger"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseJWKS([]byte(tt.doc))
			if !errors.Is(err, ErrBadKey) || keys != nil {
				t.Fatalf("ParseJWKS = %v, %v; want ErrBadKey", keys, err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.mention)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "11qYAY") {
				t.Fatalf("error quotes the input: %q", err)
			}
		})
	}
}

// rsaN is an RSA modulus member of size bytes (not a real modulus: only
// its size matters to the parser).
func rsaN(size int) string {
	return base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xc5}, size))
}
