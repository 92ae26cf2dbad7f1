package shown_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/heraldhq/herald/internal/shown"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

// TestEveryPrintedFieldWasDecided lists, for each configuration type that
// prints through shown.Struct, the exported fields that print as they are
// (or as they print themselves), those shown by their type, and those its
// Format edits. Struct's rule keeps a string or a byte slice as it is: a
// field added later that holds a credential would print, so a new field
// fails this test until someone decides how it prints and writes it here.
func TestEveryPrintedFieldWasDecided(t *testing.T) {
	for _, tc := range []struct {
		typ                  reflect.Type
		kept, byType, edited []string
	}{
		{reflect.TypeFor[sender.Destination](),
			[]string{"Name", "Topics", "OAuth2", "Ordered", "Rate", "Burst", "DisableAfter"},
			[]string{"Signer"}, []string{"URL", "Headers", "ClientCert"}},
		{reflect.TypeFor[sender.OAuth2](),
			[]string{"ClientID", "ClientSecret", "Scopes"}, nil, []string{"TokenURL"}},
		{reflect.TypeFor[sender.Sender](),
			[]string{"Retry", "AttemptTimeout", "AllowHTTP", "AllowNetworks"},
			[]string{"TLS", "Logger", "LookupNetIP", "OnAttempt", "TracerProvider", "MeterProvider"}, nil},
		{reflect.TypeFor[outbox.Queue](),
			[]string{"Sender", "Destinations", "Workers", "PerDestination", "Schedule", "Breaker", "LeaseTTL", "Poll"},
			[]string{"Outbox", "Metrics", "OnDisable", "Logger"}, nil},
		{reflect.TypeFor[listener.HTTPServer](),
			[]string{"Addr", "Path", "Handler"}, []string{"NetListener", "TLSConfig"}, nil},
		{reflect.TypeFor[listener.HTTPHandler](),
			[]string{"MaxBodyBytes"}, []string{"Dispatcher", "Verifier"}, nil},
	} {
		decided := slices.Concat(tc.kept, tc.byType, tc.edited)
		for f := range tc.typ.Fields() {
			if f.IsExported() && !slices.Contains(decided, f.Name) {
				t.Errorf("%v.%s (%v) prints as shown.Struct's rule says, undecided: add it to this test's list of what prints as it is, or edit it in the type's Format", tc.typ, f.Name, f.Type)
			}
		}
		for _, name := range decided {
			if _, ok := tc.typ.FieldByName(name); !ok {
				t.Errorf("%v has no field %s any more: take it out of this test", tc.typ, name)
			}
		}
		// What the rule makes of the zero value, field by field: kept
		// fields keep their type, the others become the type's name.
		c := reflect.TypeOf(shown.Struct(reflect.New(tc.typ).Interface(), nil)).Elem()
		for _, name := range slices.Concat(tc.kept, tc.byType) {
			f, _ := tc.typ.FieldByName(name)
			cf, ok := c.FieldByName(name)
			switch {
			case !ok:
				t.Errorf("%v.%s is not printed", tc.typ, name)
			case slices.Contains(tc.kept, name) && cf.Type != f.Type && cf.Type.Kind() != reflect.Struct:
				t.Errorf("%v.%s prints as a %v; want it kept as a %v", tc.typ, name, cf.Type, f.Type)
			case slices.Contains(tc.byType, name) && cf.Type.Kind() != reflect.String:
				t.Errorf("%v.%s prints as a %v; want it shown by its type", tc.typ, name, cf.Type)
			}
		}
	}
}
