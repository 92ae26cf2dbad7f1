package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestStandardKeyStrings(t *testing.T) {
	ks := asymKeys(t)
	sk := must(FormatStandardSigningKey(ks.ed))(t)
	pk := must(FormatStandardPublicKey(ks.ed.Public()))(t)
	if !strings.HasPrefix(sk, "whsk_") || !strings.HasPrefix(pk, "whpk_") {
		t.Fatalf("prefixes: %.5s %.5s", sk, pk)
	}
	// whsk_ carries the 64-byte libsodium form, whpk_ the 32-byte key.
	if raw, _ := base64.StdEncoding.DecodeString(sk[5:]); len(raw) != 64 {
		t.Fatalf("whsk_ decodes to %d bytes", len(raw))
	}
	if raw, _ := base64.StdEncoding.DecodeString(pk[5:]); len(raw) != 32 {
		t.Fatalf("whpk_ decodes to %d bytes", len(raw))
	}

	priv := must(parseStandardSigningKey(sk))(t)
	tp := ks.ed.Public().Thumbprint()
	if !priv.Public().equal(ks.ed.Public()) || priv.ID() != tp || priv.Public().ID() != tp || priv.Algorithm() != algEdDSA {
		t.Fatalf("whsk_ round trip changed the key, or its ID %q is not the thumbprint", priv.ID())
	}
	pub := must(parseStandardPublicKey("  " + pk + "\n"))(t)
	if !pub.equal(ks.ed.Public()) || pub.ID() != tp {
		t.Fatal("whpk_ round trip changed the key")
	}

	// The bare 32-byte seed, padded or not, is accepted too.
	seed := ks.ed.Signer().(ed25519.PrivateKey).Seed()
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		k, err := parseStandardSigningKey("whsk_" + enc.EncodeToString(seed))
		if err != nil || !k.Public().equal(ks.ed.Public()) {
			t.Fatalf("seed form: %v", err)
		}
	}
}

func TestStandardKeyStringsRefused(t *testing.T) {
	ks := asymKeys(t)
	full := ks.ed.Signer().(ed25519.PrivateKey)
	mismatched := append(append([]byte(nil), full.Seed()...), ks.ed2.Public().Key().(ed25519.PublicKey)...)
	secretB64 := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	tests := []struct {
		name, in, mention string
		public            bool
	}{
		{"hmac secret", "whsec_" + secretB64, "HMAC secret", false},
		{"hmac secret to public", "whsec_" + secretB64, `"standard" scheme`, true},
		{"public as signing", "whpk_" + base64.StdEncoding.EncodeToString(full.Public().(ed25519.PublicKey)), "parseStandardPublicKey", false},
		{"signing as public", "whsk_" + base64.StdEncoding.EncodeToString(full), "public key", true},
		{"no prefix", base64.StdEncoding.EncodeToString(full), "whsk_", false},
		{"empty", "", "empty", false},
		{"bad base64", "whsk_!!!!", "base64", false},
		{"wrong length", "whsk_" + base64.StdEncoding.EncodeToString(full[:40]), "40 bytes", false},
		{"wrong length public", "whpk_" + base64.StdEncoding.EncodeToString(full[:31]), "31 bytes", true},
		{"mismatched halves", "whsk_" + base64.StdEncoding.EncodeToString(mismatched), "does not match", false},
		{"too long", "whsk_" + strings.Repeat("A", 200), "longer", false},
		// herald keygen --scheme standard-v1a prints the pair on two lines;
		// the file it was saved to is what a newcomer hands over first.
		{"keygen's two lines", "whsk_" + base64.StdEncoding.EncodeToString(full) + "\nwhpk_" + base64.StdEncoding.EncodeToString(full.Public().(ed25519.PublicKey)), "one key per line", false},
		{"two keys on a line", "whpk_AAAA whpk_BBBB", "one key per line", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.public {
				_, err = parseStandardPublicKey(tt.in)
			} else {
				_, err = parseStandardSigningKey(tt.in)
			}
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("err = %v, want ErrBadKey", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.mention)
			}
			if len(tt.in) > 12 && strings.Contains(err.Error(), tt.in[6:12]) {
				t.Fatalf("error echoes the key: %q", err)
			}
		})
	}
	if _, err := FormatStandardSigningKey(ks.ec); !errors.Is(err, ErrBadKey) {
		t.Fatalf("FormatStandardSigningKey(ECDSA) = %v", err)
	}
	if _, err := FormatStandardPublicKey(ks.rsa.Public()); !errors.Is(err, ErrBadKey) {
		t.Fatalf("FormatStandardPublicKey(RSA) = %v", err)
	}
	if _, err := FormatStandardSigningKey(PrivateKey{}); !errors.Is(err, ErrBadKey) {
		t.Fatalf("FormatStandardSigningKey(zero) = %v", err)
	}
	if _, err := FormatStandardPublicKey(PublicKey{}); !errors.Is(err, ErrBadKey) {
		t.Fatalf("FormatStandardPublicKey(zero) = %v", err)
	}
}

// TestParseKeyRecognizesItsForm checks that ParsePrivateKey and
// ParsePublicKey take the whsk_/whpk_ form and PEM alike, and that id
// replaces the thumbprint in both.
func TestParseKeyRecognizesItsForm(t *testing.T) {
	ks := asymKeys(t)
	whsk := must(FormatStandardSigningKey(ks.ed))(t)
	whpk := must(FormatStandardPublicKey(ks.ed.Public()))(t)
	privPEM := must(MarshalPrivateKeyPEM(ks.ed))(t)
	pubPEM := must(MarshalPublicKeyPEM(ks.ed.Public()))(t)
	want := ks.ed.Public()
	for _, id := range []string{"", "k1"} {
		wantID := id
		if id == "" {
			wantID = want.Thumbprint()
		}
		for name, data := range map[string][]byte{"whsk_": []byte(whsk), "PEM": privPEM} {
			k, err := ParsePrivateKey(data, id)
			if err != nil || !k.Public().equal(want) || k.ID() != wantID {
				t.Errorf("ParsePrivateKey(%s, %q): id %q, err %v; want the key with id %q", name, id, k.ID(), err, wantID)
			}
		}
		for name, data := range map[string][]byte{"whpk_": []byte(whpk), "PEM": pubPEM} {
			k, err := ParsePublicKey(data, id)
			if err != nil || !k.equal(want) || k.ID() != wantID {
				t.Errorf("ParsePublicKey(%s, %q): id %q, err %v; want the key with id %q", name, id, k.ID(), err, wantID)
			}
		}
	}
	if _, err := ParsePrivateKey([]byte("whsk_!!"), ""); !errors.Is(err, ErrBadKey) {
		t.Errorf("bad whsk_: err = %v, want ErrBadKey", err)
	}
	if _, err := ParsePublicKey([]byte("whpk_!!"), ""); !errors.Is(err, ErrBadKey) {
		t.Errorf("bad whpk_: err = %v, want ErrBadKey", err)
	}
}
