package auth

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

// badKeyIDs hold a C0 control (NUL, CR, LF), DEL, a C1 control (NEL),
// invalid UTF-8, a Unicode line or paragraph separator (a line break to
// whatever splits lines by Unicode's rules) or a bidi control (U+202E
// shows the rest of a line reversed, U+2066 opens an isolate), which make
// a log line read as something else.
var badKeyIDs = []string{"id\x00\r\n", "id\x7f", "id\u0085", "id\xff", "id\u2028", "id\u2029", "id\u202e", "id\u2066", "id\u200f"}

// TestKeyIDControlCharactersRefused: every constructor given a key ID took
// one with control characters or invalid UTF-8, which then went out as the
// JWT kid header and into errors and logs, where a line break forges a
// line. They now refuse it with ErrBadKey, naming the problem without the
// ID; an ID with spaces or non-ASCII letters is still taken.
func TestKeyIDControlCharactersRefused(t *testing.T) {
	ks := asymKeys(t)
	privPEM := must(MarshalPrivateKeyPEM(ks.ec))(t)
	pubPEM := must(MarshalPublicKeyPEM(ks.ec.Public()))(t)
	sk := []byte(must(FormatStandardSigningKey(ks.ed))(t))
	pk := []byte(must(FormatStandardPublicKey(ks.ed.Public()))(t))
	makers := map[string]func(id string) (string, error){
		"ParsePrivateKey PEM":   func(id string) (string, error) { k, err := ParsePrivateKey(privPEM, id); return k.ID(), err },
		"ParsePrivateKey whsk_": func(id string) (string, error) { k, err := ParsePrivateKey(sk, id); return k.ID(), err },
		"ParsePublicKey PEM":    func(id string) (string, error) { k, err := ParsePublicKey(pubPEM, id); return k.ID(), err },
		"ParsePublicKey whpk_":  func(id string) (string, error) { k, err := ParsePublicKey(pk, id); return k.ID(), err },
		"NewPrivateKey":         func(id string) (string, error) { k, err := NewPrivateKey(ks.rsa.Signer(), id); return k.ID(), err },
		"NewPrivateKey signer": func(id string) (string, error) {
			k, err := NewPrivateKey(&kmsSigner{key: ks.ed.Signer()}, id)
			return k.ID(), err
		},
		"NewPublicKey": func(id string) (string, error) {
			k, err := NewPublicKey(ks.ed.Signer().Public(), id)
			return k.ID(), err
		},
	}
	for name, make := range makers {
		for _, id := range badKeyIDs {
			got, err := make(id)
			if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "key ID") {
				t.Errorf("%s(%q): key named %q, error %v; want ErrBadKey about the key ID", name, id, got, err)
				continue
			}
			if strings.Contains(err.Error(), id) {
				t.Errorf("%s(%q): the error quotes the ID: %v", name, id, err)
			}
		}
		for _, id := range []string{"", "key 1", "clé-été", "é", "👩\u200d💻", "id\u200b"} {
			if _, err := make(id); err != nil {
				t.Errorf("%s(%q): %v", name, id, err)
			}
		}
	}
}

// TestJWKSSkipsKidWithControlCharacters: a fetched set whose entry has a
// kid with control characters skips that entry, as it skips other
// unusable ones, and keeps its good keys; ParseJWKS refuses such a set.
// (The entry was kept, its kid taken as it came.)
func TestJWKSSkipsKidWithControlCharacters(t *testing.T) {
	ks := asymKeys(t)
	const placeholder = "PLACEHOLDER-KID"
	const badKid = "bad\x00\r\nkid"
	entry := must(MarshalJWKS(ks.ed2.Public().withID(placeholder)))(t)
	entry = bytes.Replace(entry, []byte(placeholder), []byte(`bad\u0000\r\nkid`), 1)
	doc := bytes.Replace(must(MarshalJWKS(ks.ed.Public()))(t), []byte(`{"keys":[`), entry[:len(entry)-2], 1)
	doc = bytes.Replace(doc, []byte(`}{`), []byte(`},{`), 1)

	if keys, err := ParseJWKS(doc); !errors.Is(err, ErrBadKey) || err != nil && strings.Contains(err.Error(), badKid) {
		t.Fatalf("ParseJWKS of a set with a bad kid: %d keys, %v; want ErrBadKey without the kid", len(keys), err)
	}
	s := newJWKSServer(t)
	s.set(serveDoc(doc))
	var clock atomic.Int64
	j := jwksAt(t, s, "/jwks", &clock)
	v := must(NewJWTVerifier(j, WithClock(asymClock)))(t)
	m := asymMsg()
	h := signed(t, must(NewJWTSigner([]PrivateKey{ks.ed}, WithClock(asymClock)))(t), m)
	if got, err := v.VerifyContext(context.Background(), h, m.Body); err != nil || got.KeyID != ks.ed.ID() {
		t.Fatalf("the good key of a set with a bad kid: %+v, %v", got, err)
	}
	keys, err := j.Keys(context.Background(), badKid)
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "skipped") {
		t.Fatalf("keys for the bad kid: %d keys, %v; want ErrUnknownKey saying the entry was skipped", len(keys), err)
	}
	if strings.Contains(err.Error(), badKid) {
		t.Fatalf("the error quotes the kid: %v", err)
	}
}

// TestKeyIDOverVerifierLimitRefused: a key ID over 256 bytes was taken, and
// a JWT signer with that key sent it as the kid of every token, which every
// verifier of this package refuses as malformed (a kid is at most 256
// bytes): each webhook failed at the receiver, nothing failed at the
// sender. Such an ID is now refused with ErrBadKey when the key is made;
// one of 256 bytes signs tokens its verifier accepts.
func TestKeyIDOverVerifierLimitRefused(t *testing.T) {
	ks := asymKeys(t)
	m := asymMsg()
	for _, n := range []int{256, 257, 4096} {
		id := strings.Repeat("k", n)
		k, err := NewPrivateKey(ks.ed.Signer(), id)
		if n > maxIDLen {
			if !errors.Is(err, ErrBadKey) || strings.Contains(err.Error(), id) {
				signer := must(NewJWTSigner([]PrivateKey{k}, WithClock(asymClock)))(t)
				verifier := must(NewJWTVerifier(PublicKeys{k.Public()}, WithClock(asymClock)))(t)
				_, verr := verifier.Verify(signed(t, signer, m), m.Body)
				t.Errorf("NewPrivateKey with a %d-byte ID: %v; want ErrBadKey (its tokens fail its own verifier: %v)", n, err, verr)
			}
			if _, err := ParsePublicKey(must(MarshalPublicKeyPEM(ks.ed.Public()))(t), id); !errors.Is(err, ErrBadKey) {
				t.Errorf("ParsePublicKey with a %d-byte ID: %v; want ErrBadKey", n, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("NewPrivateKey with a %d-byte ID: %v", n, err)
		}
		signer := must(NewJWTSigner([]PrivateKey{k}, WithClock(asymClock)))(t)
		verifier := must(NewJWTVerifier(PublicKeys{k.Public()}, WithClock(asymClock)))(t)
		if got, err := verifier.Verify(signed(t, signer, m), m.Body); err != nil || got.KeyID != id {
			t.Errorf("a %d-byte ID: verified %q, %v", n, got.KeyID, err)
		}
	}
}
