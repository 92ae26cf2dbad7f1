package sender_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender"
)

// kmsKey stands for a key held in a KMS, reached through crypto.Signer;
// it keeps the key in an exported field, the worst case for a formatter.
type kmsKey struct{ Key ed25519.PrivateKey }

func (k *kmsKey) Public() crypto.PublicKey { return k.Key.Public() }

func (k *kmsKey) Sign(r io.Reader, msg []byte, o crypto.SignerOpts) ([]byte, error) {
	return k.Key.Sign(r, msg, o)
}

// byteForms returns b as fmt and encodings could show it: raw, hex,
// base64 and fmt's decimal byte list.
func byteForms(b []byte) []string {
	list := strings.Trim(fmt.Sprint(b), "[]")
	return append(secretForms(b), list, strings.ReplaceAll(list, " ", ","))
}

// TestDestinationNeverPrintsKeys builds a Destination holding every kind
// of key material a sender has (each scheme's signer, a KMS-held key, a
// client certificate's private key, an OAuth2 client secret) and renders
// it, its pointer, its OAuth2 and a struct embedding it, through every fmt
// verb, slog's text and JSON handlers and encoding/json: none shows a key.
func TestDestinationNeverPrintsKeys(t *testing.T) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kms, err := auth.NewPrivateKey(&kmsKey{Key: edKey}, "kms-1")
	if err != nil {
		t.Fatal(err)
	}
	kmsSigner, err := auth.NewStandardV1a([]auth.PrivateKey{kms})
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := clientCert(t, "herald-redact")
	certKey := cert.PrivateKey.(*ecdsa.PrivateKey)
	certD, err := certKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	const clientSecret = "oauth-client-secret-9d2f61"
	oauth := &sender.OAuth2{TokenURL: "https://tokens.example.com/oauth/token", ClientID: "herald",
		ClientSecret: auth.NewSecret([]byte(clientSecret)), Scopes: []string{"webhooks"}}

	signers := []scheme{{name: "kms standard-v1a", signer: kmsSigner, keys: byteForms(edKey.Seed())}}
	signers = append(signers, schemes(t)...)
	for _, sc := range signers {
		t.Run(sc.name, func(t *testing.T) {
			dest := sender.Destination{Name: "a", URL: "https://hooks.example.com/in", Signer: sc.signer,
				Headers: http.Header{"X-Env": {"prod"}}, ClientCert: &cert, OAuth2: oauth}
			forbidden := append([]string{clientSecret, certKey.D.String(), certKey.D.Text(16)}, byteForms(certD)...)
			forbidden = append(forbidden, sc.keys...)
			type holder struct {
				Exported   any
				unexported any
			}
			for _, v := range []any{dest, &dest, struct{ sender.Destination }{dest}, holder{dest, &dest},
				&holder{dest, dest}, []sender.Destination{dest}, map[string]*sender.Destination{"a": &dest}, oauth, *oauth} {
				for _, out := range renderAll(v) {
					for _, f := range forbidden {
						if f != "" && strings.Contains(out, f) {
							t.Fatalf("%T shows key material %q:\n%s", v, f, out)
						}
					}
				}
			}
		})
	}
}

// renderAll shows v every way a program might: fmt verbs, slog's text
// and JSON handlers, encoding/json.
func renderAll(v any) []string {
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		out = append(out, fmt.Sprintf(verb, v))
	}
	js, err := json.Marshal(v)
	out = append(out, string(js)+fmt.Sprint(err))
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("m", "dest", v)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("m", slog.Any("dest", v))
	return append(out, logs.String())
}
