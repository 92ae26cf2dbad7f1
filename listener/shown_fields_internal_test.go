package listener

import (
	"reflect"
	"testing"
)

// TestShownKeepsEveryExportedField: each type with a Format method prints
// as a struct of the same name with its exported fields, in order, and
// nothing else, so that a field added to one is not left out of printing,
// nor printed whole, without this test saying so.
func TestShownKeepsEveryExportedField(t *testing.T) {
	for _, c := range []struct {
		typ   reflect.Type
		shown any
	}{
		{reflect.TypeFor[HTTPHandler](), HTTPHandler{}.shown()},
		{reflect.TypeFor[HTTPServer](), HTTPServer{}.shown()},
	} {
		sameExported(t, c.typ, reflect.TypeOf(c.shown))
	}
}

// sameExported fails t unless shown (or what it points to) is a struct
// named as typ whose fields are the exported fields of typ, in order.
func sameExported(t *testing.T, typ, shown reflect.Type) {
	t.Helper()
	if shown.Kind() == reflect.Pointer {
		shown = shown.Elem()
	}
	if shown.Name() != typ.Name() {
		t.Errorf("%v prints as a %v", typ, shown)
	}
	var exported, printed []string
	for f := range typ.Fields() {
		if f.IsExported() {
			exported = append(exported, f.Name)
		}
	}
	for f := range shown.Fields() {
		printed = append(printed, f.Name)
	}
	if !reflect.DeepEqual(exported, printed) {
		t.Errorf("%v has exported fields %v, its printed form %v", typ, exported, printed)
	}
}
