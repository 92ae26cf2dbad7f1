// Package shown holds what the Format methods of herald's configuration
// types share: they print a copy of the struct ([Struct]) in which
// whatever may hold a credential is replaced, and what the program
// supplied (an interface, a func, a logger, a TLS config) is shown by its
// type, never its contents ([Type]).
package shown

import (
	"fmt"
	"reflect"
)

// Redacted stands for a value that is set but not printed.
const Redacted = "[redacted]"

// Type returns the type of v as %T prints it ("*tls.Config"), or "" when v
// is nil or a nil pointer, func, map, slice, channel or interface, so that a
// printed struct still says which of its fields are set.
func Type(v any) string {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return ""
	}
	switch rv.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice, reflect.Chan, reflect.Interface, reflect.UnsafePointer:
		if rv.IsNil() {
			return ""
		}
	}
	return fmt.Sprintf("%T", v)
}
