package shown

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// selfFormat prints "[mine]" under every verb, as a configuration type's
// own Format method would print its redacted form.
type selfFormat struct{ key string }

func (selfFormat) Format(f fmt.State, verb rune) { fmt.Fprint(f, "[mine]") }

// plain is a struct fmt prints safely: values only.
type plain struct {
	N int
	D time.Duration
	L []string
}

// inner is a struct fmt does not print safely: an interface in it.
type inner struct {
	Handler any
	Limit   int64
}

// node contains itself, through a slice.
type node struct {
	Name     string
	Children []node
}

type config struct {
	Name     string
	Count    int
	Wait     time.Duration
	Plain    plain
	Inner    inner
	Nets     []netip.Prefix
	Mine     *selfFormat
	Mines    []selfFormat
	TLS      *tls.Config
	Logger   *slog.Logger
	Store    any
	OnEvent  func()
	Tree     node
	Events   chan int
	Tagged   string `json:"tagged,omitempty"`
	Headers  map[string][]string
	internal string
}

func TestStructKeepsWhatPrintsSafelyAndNamesTheRest(t *testing.T) {
	secret := "s3cr3t-key"
	c := &config{
		Name: "n", Count: 2, Wait: time.Second, Plain: plain{N: 1, L: []string{"a"}},
		Inner: inner{Handler: &tls.Config{ServerName: secret}, Limit: 9},
		Nets:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Mine:  &selfFormat{secret}, Mines: []selfFormat{{secret}},
		TLS: &tls.Config{ServerName: secret}, Logger: slog.Default(),
		Store: struct{ Password string }{secret}, OnEvent: func() {},
		Tree: node{Name: "root", Children: []node{{Name: "leaf"}}}, Events: make(chan int),
		Tagged: "t", Headers: map[string][]string{"H": {"v"}}, internal: secret,
	}
	got := reflect.ValueOf(Struct(c, nil))
	if got.Kind() != reflect.Pointer {
		t.Fatalf("Struct of a pointer gave a %v", got.Kind())
	}
	v := got.Elem()
	if v.Type().Name() != "" || v.NumMethod() != 0 {
		t.Errorf("the copy is of type %v with %d methods; want an unnamed type without methods", v.Type(), v.NumMethod())
	}
	var names []string
	for f := range v.Type().Fields() {
		names = append(names, f.Name)
	}
	want := []string{"Name", "Count", "Wait", "Plain", "Inner", "Nets", "Mine", "Mines", "TLS", "Logger", "Store", "OnEvent", "Tree", "Events", "Tagged", "Headers"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("fields %v; want the exported ones in order, %v", names, want)
	}
	kept := []string{"Name", "Count", "Wait", "Plain", "Nets", "Mine", "Mines", "Tree", "Tagged", "Headers"}
	for _, name := range kept {
		if f := v.FieldByName(name); f.Type() != reflect.ValueOf(c).Elem().FieldByName(name).Type() {
			t.Errorf("%s is a %v in the copy; want it kept", name, f.Type())
		}
	}
	byType := map[string]string{"TLS": "*tls.Config", "Logger": "*slog.Logger", "Store": "struct { Password string }", "OnEvent": "func()", "Events": "chan int"}
	for name, typ := range byType {
		if f := v.FieldByName(name); f.Kind() != reflect.String || f.String() != typ {
			t.Errorf("%s = %v; want its type, %q", name, f, typ)
		}
	}
	in := v.FieldByName("Inner")
	if in.Type().Name() != "" || in.FieldByName("Handler").String() != "*tls.Config" || in.FieldByName("Limit").Int() != 9 {
		t.Errorf("Inner = %+v; want a copy of its own, its Handler by type", in)
	}
	if tag := v.Type().Field(14).Tag; tag != `json:"tagged,omitempty"` {
		t.Errorf("Tagged's tag = %q; want the original's", tag)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		if out := fmt.Sprintf(verb, Struct(c, nil)); strings.Contains(out, secret) {
			t.Errorf("%s printed the secret: %s", verb, out)
		}
	}
	if j, err := json.Marshal(Struct(c.Inner, nil)); err != nil || string(j) != `{"Handler":"*tls.Config","Limit":9}` {
		t.Errorf("json of the copy of Inner = %s, %v", j, err)
	}
}

func TestStructEditsAndNil(t *testing.T) {
	type dest struct {
		URL     string
		Cert    *tls.Certificate `json:"-"`
		Headers map[string][]string
		Note    string
	}
	d := dest{URL: "https://h/secret-token", Cert: &tls.Certificate{}, Headers: map[string][]string{"A": {"b"}}, Note: "kept"}
	edit := map[string]any{"URL": "https://h/…", "Cert": Redacted, "Headers": nil}
	c := reflect.ValueOf(Struct(d, edit))
	if c.Kind() != reflect.Struct {
		t.Fatalf("Struct of a value gave a %v", c.Kind())
	}
	if c.FieldByName("URL").String() != "https://h/…" || c.FieldByName("Cert").String() != Redacted || c.FieldByName("Note").String() != "kept" {
		t.Errorf("copy = %+v; want URL and Cert edited, Note kept", c)
	}
	if h := c.FieldByName("Headers"); h.Kind() != reflect.Interface || !h.IsNil() {
		t.Errorf("Headers = %v; want the nil the edit gave", h)
	}
	if j, _ := json.Marshal(Struct(d, edit)); strings.Contains(string(j), "Cert") {
		t.Errorf("json %s; want the json:\"-\" field left out", j)
	}
	var nilp *dest
	n := reflect.ValueOf(Struct(nilp, nil))
	if n.Kind() != reflect.Pointer || !n.IsNil() || n.Type().Elem().NumField() != 4 {
		t.Errorf("Struct of a nil pointer = %#v; want a nil pointer to a copy's type", n)
	}
}

// printed is a configuration type that prints itself through Format.
type printed struct {
	Addr  string
	Inner inner
	TLS   *tls.Config
}

func (p printed) Format(f fmt.State, verb rune) { Format(f, verb, p, nil) }

type printedPtr struct{ Addr string }

func (p *printedPtr) Format(f fmt.State, verb rune) { Format(f, verb, p, nil) }

func TestFormatNamesTheCopies(t *testing.T) {
	p := printed{Addr: "a", Inner: inner{Handler: 1, Limit: 2}, TLS: &tls.Config{}}
	if got, want := fmt.Sprintf("%#v", p), `shown.printed{Addr:"a", Inner:shown.inner{Handler:"int", Limit:2}, TLS:"*tls.Config"}`; got != want {
		t.Errorf("%%#v = %s\nwant %s", got, want)
	}
	if got, want := fmt.Sprintf("%+v", p), `{Addr:a Inner:{Handler:int Limit:2} TLS:*tls.Config}`; got != want {
		t.Errorf("%%+v = %s\nwant %s", got, want)
	}
	var nilp *printedPtr
	if got, want := fmt.Sprintf("%#v|%s", nilp, nilp), `(*shown.printedPtr)(nil)|%!s(*shown.printedPtr=<nil>)`; got != want {
		t.Errorf("nil = %s\nwant %s", got, want)
	}
	if got, want := fmt.Sprintf("%#v", &printedPtr{"x"}), `&shown.printedPtr{Addr:"x"}`; got != want {
		t.Errorf("%%#v = %s\nwant %s", got, want)
	}
}
