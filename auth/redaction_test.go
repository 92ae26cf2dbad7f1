package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"math/big"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/leaktest"
)

// keyCase is one value of package auth that holds key material, built from
// known keys, with the material it must never show.
type keyCase struct {
	name string
	// v is the value as its constructor returns it: a pointer for the
	// schemes, a value for Secret, PrivateKey and the like.
	v any
	// embedded is v embedded in a struct, as a user's own type would hold
	// it: struct{ *Standard }{s}, struct{ Secret }{k}.
	embedded any
	// secret lists what must never appear, in any encoding: raw key bytes
	// (see leakForms) and other secret text (whsec_..., a URL credential).
	secret [][]byte
	text   []string
}

// keyCases builds one case per exported type of package auth that holds a
// key, a secret or a credential, in each of its shapes (signer, verifier,
// algorithm). EVERY SUCH TYPE MUST HAVE A CASE HERE, and every exported type
// must be listed either here or in typesWithoutKeys:
// TestKeyMaterialNeverPrints fails for an exported type in neither.
func keyCases(t *testing.T) []keyCase {
	t.Helper()
	ks := asymKeys(t)
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i*37 + 11) // printable and unprintable bytes alike
	}
	sec := NewSecret(raw)
	whsec := FormatStandardSecret(sec)
	stripeSec := NewSecret([]byte(whsec)) // Stripe keys with the whole whsec_ string
	const credential = "jwks-query-credential-7f3a"
	jwks := must(NewJWKS("https://keys.example.com/jwks.json?token="+credential, nil))(t)
	hmac := [][]byte{raw}
	ed, ec, rs := privateSecrets(t, ks.ed), privateSecrets(t, ks.ec), privateSecrets(t, ks.rsa)
	edText := []string{whsec, mustFormatSigning(t, ks.ed)}
	all := append(append(append([][]byte{}, ed...), ec...), rs...)

	std := mustScheme[*standardScheme](NewStandard([]Secret{sec}))(t)
	v1a := mustScheme[*v1aScheme](NewStandardV1a([]PrivateKey{ks.ed}))(t)
	v1aVerifier := mustScheme[*v1aScheme](NewStandardV1aVerifier([]PublicKey{ks.ed.Public()}))(t)
	hub := mustScheme[*hubScheme](NewHub([]Secret{sec}))(t)
	hub1 := mustScheme[*hubScheme](NewHub([]Secret{sec}, WithSHA1()))(t)
	stripe := mustScheme[*stripeScheme](NewStripe([]Secret{stripeSec}))(t)
	jwtHS := mustScheme[*jwtScheme](NewJWT("HS256", []Secret{sec}))(t)
	jwtEd := mustScheme[*jwtScheme](NewJWTSigner([]PrivateKey{ks.ed}))(t)
	jwtEC := mustScheme[*jwtScheme](NewJWTSigner([]PrivateKey{ks.ec}))(t)
	jwtRS := mustScheme[*jwtScheme](NewJWTSigner([]PrivateKey{ks.rsa}))(t)
	jwtPub := mustScheme[*jwtScheme](NewJWTVerifier(PublicKeys{ks.ed.Public(), ks.ec.Public(), ks.rsa.Public()}))(t)
	jwtJWKS := mustScheme[*jwtScheme](NewJWTVerifier(jwks))(t)
	pubs := PublicKeys{ks.ed.Public(), ks.ec.Public(), ks.rsa.Public()}
	mw := Middleware(v1a)(nil)
	// A key reached through a crypto.Signer (a KMS): here the signer holds
	// the key itself in an exported field, the worst case.
	opaque := must(NewPrivateKey(&kmsSigner{key: ks.ed.Signer()}, ""))(t)
	v1aOpaque := mustScheme[*v1aScheme](NewStandardV1a([]PrivateKey{opaque}))(t)
	jwtOpaque := mustScheme[*jwtScheme](NewJWTSigner([]PrivateKey{mustOpaque(t, ks.ec)}))(t)

	cases := []keyCase{
		{"Secret", sec, struct{ Secret }{sec}, hmac, []string{whsec}},
		{"Secret whsec_ string", stripeSec, struct{ Secret }{stripeSec}, [][]byte{[]byte(whsec)}, nil},
		{"PrivateKey EdDSA", ks.ed, struct{ PrivateKey }{ks.ed}, ed, edText},
		{"PrivateKey ES256", ks.ec, struct{ PrivateKey }{ks.ec}, ec, nil},
		{"PrivateKey RS256", ks.rsa, struct{ PrivateKey }{ks.rsa}, rs, nil},
		{"PrivateKey crypto.Signer", opaque, struct{ PrivateKey }{opaque}, ed, edText},
		{"StandardV1a crypto.Signer", v1aOpaque, struct{ *v1aScheme }{v1aOpaque}, ed, edText},
		{"JWT ES256 crypto.Signer", jwtOpaque, struct{ *jwtScheme }{jwtOpaque}, ec, nil},
		// Public keys are not secret, but must not lead to the private half.
		{"PublicKey", ks.ed.Public(), struct{ PublicKey }{ks.ed.Public()}, ed, edText},
		{"PublicKeys", pubs, struct{ PublicKeys }{pubs}, all, nil},
		{"Standard", std, struct{ *standardScheme }{std}, hmac, []string{whsec}},
		{"StandardV1a signer", v1a, struct{ *v1aScheme }{v1a}, ed, edText},
		{"StandardV1a verifier", v1aVerifier, struct{ *v1aScheme }{v1aVerifier}, ed, edText},
		{"Hub", hub, struct{ *hubScheme }{hub}, hmac, []string{whsec}},
		{"Hub SHA-1", hub1, struct{ *hubScheme }{hub1}, hmac, []string{whsec}},
		{"Stripe", stripe, struct{ *stripeScheme }{stripe}, [][]byte{[]byte(whsec)}, nil},
		{"JWT HS256", jwtHS, struct{ *jwtScheme }{jwtHS}, hmac, []string{whsec}},
		{"JWT EdDSA signer", jwtEd, struct{ *jwtScheme }{jwtEd}, ed, edText},
		{"JWT ES256 signer", jwtEC, struct{ *jwtScheme }{jwtEC}, ec, nil},
		{"JWT RS256 signer", jwtRS, struct{ *jwtScheme }{jwtRS}, rs, nil},
		{"JWT verifier", jwtPub, struct{ *jwtScheme }{jwtPub}, all, nil},
		{"JWT JWKS verifier", jwtJWKS, struct{ *jwtScheme }{jwtJWKS}, nil, []string{credential}},
		{"JWKS", jwks, struct{ *JWKS }{jwks}, nil, []string{credential}},
		// Not an exported type, but handed to user code that may log it.
		{"Middleware handler", mw, struct{ Handler any }{mw}, ed, edText},
	}
	// Each constructor hands its scheme out inside a *Scheme: it must not
	// print what the scheme inside it holds either.
	for _, c := range cases {
		if sc, ok := c.v.(scheme); ok {
			w := &Scheme{s: sc}
			cases = append(cases, keyCase{"Scheme " + c.name, w, struct{ *Scheme }{w}, c.secret, c.text})
		}
	}
	return cases
}

// typesWithoutKeys are the exported types of package auth that hold no key
// material, each with the reason.
var typesWithoutKeys = map[string]string{
	"Message":           "the payload being signed",
	"Verified":          "the outcome of a verification",
	"Signer":            "interface; its implementations have cases",
	"Verifier":          "interface; its implementations have cases",
	"KeySet":            "interface; its implementations have cases",
	"ReplayCache":       "interface over delivery ids",
	"ReplayState":       "an enum",
	"StandardOption":    "scheme settings, no keys",
	"HubOption":         "scheme settings, no keys",
	"StripeOption":      "scheme settings, no keys",
	"JWTOption":         "scheme settings, no keys",
	"JWTVerifierOption": "scheme settings, no keys",
	"MiddlewareOption":  "middleware settings, no keys",
}

// TestKeyMaterialNeverPrints renders every key-holding value of keyCases
// through every fmt verb, slog's text and JSON handlers and encoding/json,
// as a pointer, as a value, in exported and unexported fields and embedded,
// and checks that no rendering holds its key material in any encoding.
// (Keys are held in a sealed, see secret.go, which is what makes this hold.)
func TestKeyMaterialNeverPrints(t *testing.T) {
	cases := keyCases(t)
	checkEveryTypeHasACase(t, cases)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.embedded == nil || (len(c.secret) == 0 && len(c.text) == 0) {
				t.Fatal("case lacks its embedding or its secrets")
			}
			var needles []string
			for _, b := range c.secret {
				needles = append(needles, leaktest.Forms(b)...)
			}
			needles = append(needles, c.text...)
			for _, r := range renderings(c.v, c.embedded) {
				for _, n := range needles {
					if strings.Contains(r.out, n) {
						t.Fatalf("%s shows key material %q:\n%s", r.how, n, r.out)
					}
				}
			}
		})
	}
	// The key types themselves print a marker, not an empty string.
	if got := fmt.Sprint(cases[0].v); got != redacted {
		t.Fatalf("Secret prints %q", got)
	}
}

// checkEveryTypeHasACase fails for an exported type declared in the
// package's non-test files that is neither a case nor in typesWithoutKeys.
func checkEveryTypeHasACase(t *testing.T, cases []keyCase) {
	t.Helper()
	covered := map[string]bool{}
	for _, c := range cases {
		typ := reflect.TypeOf(c.v)
		if typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		covered[typ.Name()] = true
	}
	names := must(filepath.Glob("*.go"))(t)
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f := must(parser.ParseFile(fset, name, nil, parser.SkipObjectResolution))(t)
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, s := range g.Specs {
				name := s.(*ast.TypeSpec).Name.Name
				if ast.IsExported(name) && !covered[name] && typesWithoutKeys[name] == "" {
					t.Errorf("exported type %s is neither in keyCases nor in typesWithoutKeys: add it to one", name)
				}
			}
		}
	}
}

// rendering is one way of showing a value, and what it showed.
type rendering struct{ how, out string }

// renderings shows v and embedded every way a program might: fmt verbs,
// slog handlers and JSON, for v as given, its pointee, and both in a struct
// with an exported and an unexported field.
func renderings(v, embedded any) []rendering {
	type holder struct {
		Exported   any
		unexported any
	}
	type target struct {
		name string
		v    any
	}
	targets := []target{{"value", v}, {"embedded", embedded}, {"holder", holder{v, v}}, {"&holder", &holder{v, v}}}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
		// The pointee, copied by reflection: go vet would refuse a copy of
		// a type holding a sync.Pool written out here.
		elem := rv.Elem().Interface()
		targets = append(targets, target{"pointee", elem}, target{"holder of pointee", holder{elem, elem}})
	}
	var out []rendering
	for _, tg := range targets {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			out = append(out, rendering{tg.name + " " + verb, fmt.Sprintf(verb, tg.v)})
		}
		js, err := json.Marshal(tg.v)
		out = append(out, rendering{tg.name + " json", string(js) + fmt.Sprint(err)})
		var logs bytes.Buffer
		slog.New(slog.NewTextHandler(&logs, nil)).Info("m", "k", tg.v, slog.Any("a", tg.v))
		out = append(out, rendering{tg.name + " slog text", logs.String()})
		logs.Reset()
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("m", "k", tg.v, slog.Any("a", tg.v))
		out = append(out, rendering{tg.name + " slog json", logs.String()})
	}
	return out
}

// privateSecrets returns the secret parts of k: an Ed25519 seed and whole
// private key, an ECDSA scalar, RSA's private exponent and primes (as bytes,
// and as fmt prints a big.Int in decimal and hex), and the PKCS #8 PEM body
// lines.
func privateSecrets(t *testing.T, k PrivateKey) [][]byte {
	t.Helper()
	var out [][]byte
	addInt := func(n *big.Int) {
		out = append(out, n.Bytes(), []byte(n.String()), []byte(n.Text(16)), []byte(strings.ToUpper(n.Text(16))))
	}
	switch s := k.Signer().(type) {
	case ed25519.PrivateKey:
		out = append(out, s.Seed(), s)
	case *ecdsa.PrivateKey:
		b := must(s.Bytes())(t)
		out = append(out, b)
		addInt(new(big.Int).SetBytes(b))
	case *rsa.PrivateKey:
		addInt(s.D)
		for _, p := range s.Primes {
			addInt(p)
		}
	default:
		t.Fatalf("no secrets known for %T", s)
	}
	pemText := must(MarshalPrivateKeyPEM(k))(t)
	for _, line := range strings.Split(string(pemText), "\n") {
		if line != "" && !strings.HasPrefix(line, "-----") {
			out = append(out, []byte(line))
		}
	}
	return out
}

func mustFormatSigning(t *testing.T, k PrivateKey) string {
	t.Helper()
	s := must(FormatStandardSigningKey(k))(t)
	return s
}
