package shown

import (
	"crypto/tls"
	"testing"
)

func TestType(t *testing.T) {
	var f func()
	var c *tls.Config
	for _, tc := range []struct {
		v    any
		want string
	}{{nil, ""}, {f, ""}, {c, ""}, {&tls.Config{}, "*tls.Config"}, {func() {}, "func()"}, {3, "int"}} {
		if got := Type(tc.v); got != tc.want {
			t.Errorf("Type(%T) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
