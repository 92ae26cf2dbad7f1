// Package leaktest renders a value every way a program might print or log
// it, and checks that no rendering shows a secret in any encoding. The
// tests of the packages that hold credentials use it.
package leaktest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Verbs are the fmt verbs Renderings uses: those a program prints with,
// and those (%s, %q, %x, %X, %d) that make fmt print what a pointer
// nested in a struct points to.
var Verbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"}

// Rendering is one way of showing a value, and what it showed.
type Rendering struct {
	// How names the way: the verb or encoder, and how the value was
	// passed to it.
	How string
	// Out is what it printed.
	Out string
}

// Renderings shows v through every verb of Verbs, encoding/json and
// slog's text and JSON handlers: v as given, a pointer to it (or, for a
// pointer, what it points to), and both in an exported field of a struct
// and a slice. A value in an unexported field is left out: fmt calls no
// Format method there, so only sealed key material (package auth) holds
// up in one.
func Renderings(v any) []Rendering { return renderings(v, true) }

// RenderingsAsGiven is [Renderings] without the pointer to v or what v
// points to: for a type not to be copied (it holds a lock), which has
// its methods on the pointer.
func RenderingsAsGiven(v any) []Rendering { return renderings(v, false) }

func renderings(v any, both bool) []Rendering {
	type holder struct {
		Exported any
		Other    string
	}
	targets := []struct {
		name string
		v    any
	}{{"value", v}}
	rv := reflect.ValueOf(v)
	switch {
	case !both:
	case rv.Kind() == reflect.Pointer:
		if !rv.IsNil() {
			targets = append(targets, struct {
				name string
				v    any
			}{"pointee", rv.Elem().Interface()})
		}
	default:
		p := reflect.New(rv.Type())
		p.Elem().Set(rv)
		targets = append(targets, struct {
			name string
			v    any
		}{"pointer", p.Interface()})
	}
	for _, tg := range targets[:len(targets):len(targets)] {
		targets = append(targets,
			struct {
				name string
				v    any
			}{tg.name + " in holder", holder{tg.v, "x"}},
			struct {
				name string
				v    any
			}{tg.name + " in &holder", &holder{tg.v, "x"}},
			struct {
				name string
				v    any
			}{tg.name + " in slice", []any{tg.v}})
	}
	var out []Rendering
	for _, tg := range targets {
		for _, verb := range Verbs {
			out = append(out, Rendering{tg.name + " " + verb, fmt.Sprintf(verb, tg.v)})
		}
		js, err := json.Marshal(tg.v)
		out = append(out, Rendering{tg.name + " json", string(js) + fmt.Sprint(err)})
		var logs bytes.Buffer
		slog.New(slog.NewTextHandler(&logs, nil)).Info("m", "k", tg.v)
		out = append(out, Rendering{tg.name + " slog text", logs.String()})
		logs.Reset()
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("m", slog.Any("k", tg.v))
		out = append(out, Rendering{tg.name + " slog json", logs.String()})
	}
	return out
}

// Forms returns the encodings in which b could show: raw, hex (lower,
// upper, spaced), every base64 alphabet, the decimal byte lists of fmt and
// JSON, Go syntax and %q's escapes.
func Forms(b []byte) []string {
	list := strings.Trim(fmt.Sprint(b), "[]")
	goSyntax := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%#v", b), "[]byte{"), "}")
	quoted := strconv.Quote(string(b))
	return []string{
		string(b),
		hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)), fmt.Sprintf("% x", b),
		base64.StdEncoding.EncodeToString(b), base64.URLEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		list, strings.ReplaceAll(list, " ", ","), goSyntax,
		quoted[1 : len(quoted)-1],
	}
}

// TextForms returns Forms of each of texts.
func TextForms(texts ...string) []string {
	var out []string
	for _, s := range texts {
		out = append(out, Forms([]byte(s))...)
	}
	return out
}

// Check fails t for every rendering of v (see Renderings) that holds one
// of forbidden (see Forms), naming the rendering once per value.
func Check(t testing.TB, name string, v any, forbidden []string) {
	t.Helper()
	check(t, name, Renderings(v), forbidden)
}

// CheckAsGiven is [Check] of [RenderingsAsGiven].
func CheckAsGiven(t testing.TB, name string, v any, forbidden []string) {
	t.Helper()
	check(t, name, RenderingsAsGiven(v), forbidden)
}

func check(t testing.TB, name string, rs []Rendering, forbidden []string) {
	t.Helper()
	for _, r := range rs {
		for _, f := range forbidden {
			if strings.Contains(r.Out, f) {
				t.Errorf("%s: %s shows %q:\n%.600s", name, r.How, f, r.Out)
				break
			}
		}
	}
}

// Ed25519Cert returns a self-signed certificate whose private key is an
// Ed25519 key, a byte slice that fmt prints through a pointer, and the
// forms of that key that must never show.
func Ed25519Cert(t testing.TB) (tls.Certificate, []string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "leaktest"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf},
		append(Forms(priv.Seed()), Forms(priv)...)
}
