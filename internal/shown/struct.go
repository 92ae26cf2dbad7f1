package shown

import (
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// Struct returns what prints in place of v, a struct or a pointer to one:
// a copy of its exported fields, in order, as a struct of an unnamed type
// (reflect cannot name one), with what may hold a credential the program
// supplied replaced. Each field holds, in this order of preference:
//
//   - edit's value for its name, when edit has one (a URL cut as in log
//     lines, header values redacted);
//   - v's value, when that prints itself safely: a boolean, number or
//     string, a value with a Format method of its own, a value type with a
//     String method (netip.Prefix), or a struct, slice, array or map made
//     only of those;
//   - the copy Struct makes of it, when it is a struct that does not;
//   - otherwise (a pointer, interface, func or channel with no Format
//     method) its type as [Type] gives it: a TLS config, a logger, a
//     program's own Signer or store.
//
// A pointer gives a pointer to the copy; a nil one, a nil pointer of the
// copy's type. The copy has no methods, so printing it calls no Format
// method of v's, and its fields keep v's struct tags, so that
// encoding/json encodes it under the same keys. A field added to v's type
// is printed by the same rules without a change here.
func Struct(v any, edit map[string]any) any {
	return copyOf(reflect.ValueOf(v), edit, nil).Interface()
}

// Format prints v as [Struct] shows it under verb and f's flags: the whole
// of the Format method of a configuration type. Where fmt writes the
// copy's types (%#v, and a nil pointer under %s), they are written with
// the names of v's own types, as fmt writes a struct of a named type
// ("&outbox.Queue{…}").
func Format(f fmt.State, verb rune, v any, edit map[string]any) {
	var named []naming
	c := copyOf(reflect.ValueOf(v), edit, &named).Interface()
	s := fmt.Sprintf(fmt.FormatString(f, verb), c)
	// The outermost copy is named last, and its type's text holds those of
	// the copies within it: replace it first.
	for _, n := range slices.Backward(named) {
		s = strings.ReplaceAll(s, n.copy, n.name)
	}
	io.WriteString(f, s)
}

// naming pairs the type of a copy, as %#v writes it, with the name of
// the type it copies.
type naming struct{ copy, name string }

// copyOf is [Struct] of rv, recording in named, when it is not nil, each
// copy's type and the type it copies. A value that is not a struct or a
// pointer to one is returned as it is.
func copyOf(rv reflect.Value, edit map[string]any, named *[]naming) reflect.Value {
	t := rv.Type()
	isPtr := t.Kind() == reflect.Pointer
	if isPtr {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return rv
	}
	var fields []reflect.StructField
	var values []reflect.Value
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		var fv reflect.Value
		if !isPtr || !rv.IsNil() {
			fv = reflect.Indirect(rv).Field(i)
		}
		fv = shownField(f, fv, edit, named)
		fields = append(fields, reflect.StructField{Name: f.Name, Type: fv.Type(), Tag: f.Tag})
		values = append(values, fv)
	}
	ct := reflect.StructOf(fields)
	if named != nil {
		*named = append(*named, naming{ct.String(), t.String()})
	}
	if isPtr && rv.IsNil() {
		return reflect.Zero(reflect.PointerTo(ct))
	}
	c := reflect.New(ct).Elem()
	for i, v := range values {
		if v.IsValid() {
			c.Field(i).Set(v)
		}
	}
	if isPtr {
		return c.Addr()
	}
	return c
}

// shownField returns what a copy holds for field f of value fv, which is
// not valid when the struct is a nil pointer's: then a field of the type
// the copy would give it, zero.
func shownField(f reflect.StructField, fv reflect.Value, edit map[string]any, named *[]naming) reflect.Value {
	if e, ok := edit[f.Name]; ok {
		if e == nil {
			return reflect.Zero(reflect.TypeFor[any]())
		}
		return reflect.ValueOf(e)
	}
	if !fv.IsValid() {
		fv = reflect.Zero(f.Type)
	}
	switch {
	case printsSafely(f.Type, map[reflect.Type]bool{}):
		return fv
	case f.Type.Kind() == reflect.Struct:
		return copyOf(fv, nil, named)
	default:
		return reflect.ValueOf(Type(fv.Interface()))
	}
}

var (
	formatterType = reflect.TypeFor[fmt.Formatter]()
	stringerType  = reflect.TypeFor[fmt.Stringer]()
)

// printsSafely reports whether fmt prints a value of type t without
// reaching what a pointer, interface or func in it holds: see [Struct].
// seen holds the types looked at, so that a type that contains itself
// ends the walk: one met again is taken as safe, since a walk that found
// a type unsafe returns false at once, all the way up.
func printsSafely(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t.Implements(formatterType) {
		return true
	}
	if seen[t] {
		return true
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return true
	case reflect.Slice, reflect.Array:
		return printsSafely(t.Elem(), seen)
	case reflect.Map:
		return printsSafely(t.Key(), seen) && printsSafely(t.Elem(), seen)
	case reflect.Struct:
		if t.Implements(stringerType) {
			return true
		}
		for f := range t.Fields() {
			if !printsSafely(f.Type, seen) {
				return false
			}
		}
		return true
	}
	return false
}
