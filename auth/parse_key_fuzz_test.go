package auth

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParseKey goes through ParsePrivateKey and ParsePublicKey, the entry
// points that choose between a Standard Webhooks key and a PEM document,
// with any id. A refusal matches ErrBadKey and quotes no line of the key
// file (private key bytes must never reach a log); a key taken carries id,
// or its thumbprint when id is empty, and parses back from its own
// encoding to the same key; an id with control characters or invalid
// UTF-8 is refused.
func FuzzParseKey(f *testing.F) {
	ks := asymKeys(f)
	for _, k := range []PrivateKey{ks.ed, ks.ec, ks.rsa} {
		priv := must(MarshalPrivateKeyPEM(k))(f)
		f.Add(priv, "kid-1")
		f.Add(bytes.ReplaceAll(priv, []byte("\n"), []byte("\r\n")), "")
		f.Add(append(append([]byte{}, priv...), priv...), "k")
		f.Add(priv[:len(priv)/2], "k")
		f.Add(must(MarshalPublicKeyPEM(k.Public()))(f), "")
	}
	sk := must(FormatStandardSigningKey(ks.ed))(f)
	pk := must(FormatStandardPublicKey(ks.ed.Public()))(f)
	f.Add([]byte(sk), "")
	f.Add([]byte(pk), "id\x00\r\n")
	f.Add([]byte(sk+"\n"), "k")
	f.Add([]byte(pk[:len(pk)-3]), "k")
	f.Add([]byte("whsk_\xff\x00"), "")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, data []byte, id string) {
		check := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("%s refused without ErrBadKey: %v", what, err)
			}
			text := err.Error()
			for _, line := range strings.FieldsFunc(string(data), func(r rune) bool { return r == '\n' || r == '\r' }) {
				if len(line) >= 12 && strings.Contains(text, line) {
					t.Fatalf("%s: the error quotes the key file: %v", what, err)
				}
			}
		}
		wantID := func(got, thumb string) {
			t.Helper()
			if id != "" && got != id || id == "" && got != thumb {
				t.Fatalf("key named %q, want %q (thumbprint %q)", got, id, thumb)
			}
		}
		if checkKeyID(id) != nil {
			_, errPriv := ParsePrivateKey(data, id)
			_, errPub := ParsePublicKey(data, id)
			if !errors.Is(errPriv, ErrBadKey) || !errors.Is(errPub, ErrBadKey) {
				t.Fatalf("key ID %q taken: %v, %v", id, errPriv, errPub)
			}
			return
		}
		if k, err := ParsePrivateKey(data, id); err != nil {
			check("private key", err)
		} else {
			wantID(k.ID(), k.Public().Thumbprint())
			back, err := ParsePrivateKey(must(MarshalPrivateKeyPEM(k))(t), id)
			if err != nil || !back.Public().equal(k.Public()) || back.ID() != k.ID() {
				t.Fatalf("private key round trip: %v", err)
			}
		}
		if k, err := ParsePublicKey(data, id); err != nil {
			check("public key", err)
		} else {
			wantID(k.ID(), k.Thumbprint())
			back, err := ParsePublicKey(must(MarshalPublicKeyPEM(k))(t), id)
			if err != nil || !back.equal(k) || back.ID() != k.ID() {
				t.Fatalf("public key round trip: %v", err)
			}
		}
	})
}
