package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestParseStandardSecret(t *testing.T) {
	raw, _ := base64.StdEncoding.DecodeString(svVectorKey[len("whsec_"):])
	for _, in := range []string{
		svVectorKey,
		svVectorKey[len("whsec_"):],
		"  " + svVectorKey + "\n",
	} {
		s, err := ParseStandardSecret(in)
		if err != nil {
			t.Fatalf("ParseStandardSecret(%q): %v", in, err)
		}
		if !bytes.Equal(s.Bytes(), raw) || s.size() != 24 {
			t.Fatalf("ParseStandardSecret(%q) = %x", in, s.Bytes())
		}
	}
	// Unpadded base64 is accepted too.
	k32 := bytes.Repeat([]byte{0xa5}, 32)
	s, err := ParseStandardSecret("whsec_" + base64.RawStdEncoding.EncodeToString(k32))
	if err != nil || !bytes.Equal(s.Bytes(), k32) {
		t.Fatalf("unpadded: %x, %v", s.Bytes(), err)
	}
}

func TestParseStandardSecretRefuses(t *testing.T) {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, n)) }
	for _, c := range []struct {
		name, in, hint string
	}{
		{"empty", "", "empty"},
		{"blank", "   ", "empty"},
		{"signature", svVectorSig, "signature"},
		{"v1a signature", "v1a,AAAA", "signature"},
		{"signing key", "whsk_" + b64(64), "Ed25519"},
		{"public key", "whpk_" + b64(32), "Ed25519"},
		{"too short", "whsec_" + b64(23), "23 bytes"},
		{"too long", "whsec_" + b64(65), "65 bytes"},
		{"not base64", "whsec_ThisIsNot*Base64!!ThisIsNotBase64!!", "base64"},
		{"url alphabet", "whsec_" + strings.Repeat("-_", 16), "base64"},
		{"huge", "whsec_" + strings.Repeat("A", 10000), "longer"},
	} {
		s, err := ParseStandardSecret(c.in)
		if !errors.Is(err, ErrBadKey) || s.size() != 0 {
			t.Errorf("%s: got %d bytes, %v; want ErrBadKey", c.name, s.size(), err)
			continue
		}
		if !strings.Contains(err.Error(), c.hint) {
			t.Errorf("%s: error %q lacks hint %q", c.name, err, c.hint)
		}
		if body := strings.TrimPrefix(strings.TrimSpace(c.in), "whsec_"); len(body) > 8 {
			noLeak(t, err.Error(), body[:8], body[len(body)-8:])
		}
	}
}

func TestGenerateFormatStandardSecret(t *testing.T) {
	a := must(GenerateStandardSecret())(t)
	b, _ := GenerateStandardSecret()
	if a.size() != 32 || bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("generated %d bytes, distinct=%v", a.size(), !bytes.Equal(a.Bytes(), b.Bytes()))
	}
	text := FormatStandardSecret(a)
	if !strings.HasPrefix(text, "whsec_") {
		t.Fatalf("FormatStandardSecret = %q", text)
	}
	back, err := ParseStandardSecret(text)
	if err != nil || !bytes.Equal(back.Bytes(), a.Bytes()) {
		t.Fatalf("round trip: %v", err)
	}
	if got := FormatStandardSecret(svVectorSecret(t)); got != svVectorKey {
		t.Fatalf("FormatStandardSecret(vector) = %q", got)
	}
	if _, err := NewStandard([]Secret{a}); err != nil {
		t.Fatalf("generated secret refused: %v", err)
	}
}
