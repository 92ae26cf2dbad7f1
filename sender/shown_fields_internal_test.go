package sender

import (
	"reflect"
	"testing"
)

// TestShownKeepsEveryField: the struct a Destination prints as has the
// fields of Destination, in order, and its OAuth2 those of OAuth2, so that
// a field added to either is not left out of printing, nor printed whole,
// without this test saying so.
func TestShownKeepsEveryField(t *testing.T) {
	d := Destination{OAuth2: &OAuth2{}}
	shown := reflect.TypeOf(d.shown())
	same(t, reflect.TypeFor[Destination](), shown)
	oauth, ok := shown.FieldByName("OAuth2")
	if !ok {
		t.Fatal("the printed Destination has no OAuth2")
	}
	same(t, reflect.TypeFor[OAuth2](), oauth.Type.Elem())
}

// same fails t unless a and b have the same field names in the same order.
func same(t *testing.T, a, b reflect.Type) {
	t.Helper()
	names := func(s reflect.Type) (out []string) {
		for f := range s.Fields() {
			out = append(out, f.Name)
		}
		return out
	}
	if an, bn := names(a), names(b); !reflect.DeepEqual(an, bn) {
		t.Errorf("%v has fields %v, its printed form %v", a, an, bn)
	}
}
