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
	if _, ok := shown.FieldByName("OAuth2"); !ok {
		t.Fatal("the printed Destination has no OAuth2")
	}
	oauth := reflect.TypeOf(reflect.ValueOf(d.shown()).FieldByName("OAuth2").Interface())
	if oauth.Kind() != reflect.Pointer {
		t.Fatalf("the printed Destination's OAuth2 is a %v", oauth)
	}
	same(t, reflect.TypeFor[OAuth2](), oauth.Elem())
	// An OAuth2 printed alone prints as the one in a Destination.
	same(t, reflect.TypeFor[OAuth2](), reflect.TypeOf(shownOAuth2(&OAuth2{})).Elem())
}

// TestShownSenderKeepsEveryExportedField: a Sender prints as a struct with
// its exported fields, in order, and nothing else, so that a field added
// to Sender is not left out of printing without this test saying so.
func TestShownSenderKeepsEveryExportedField(t *testing.T) {
	shown := reflect.TypeOf((&Sender{}).shown()).Elem()
	if shown.Name() != "Sender" {
		t.Errorf("a Sender prints as a %v", shown)
	}
	var exported []string
	for f := range reflect.TypeFor[Sender]().Fields() {
		if f.IsExported() {
			exported = append(exported, f.Name)
		}
	}
	var printed []string
	for f := range shown.Fields() {
		printed = append(printed, f.Name)
	}
	if !reflect.DeepEqual(exported, printed) {
		t.Errorf("Sender has exported fields %v, its printed form %v", exported, printed)
	}
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
