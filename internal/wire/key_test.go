package wire

import (
	"strings"
	"testing"
)

func TestCheckKey(t *testing.T) {
	for _, k := range []string{"", "order-42", "tenant/ü/ключ", strings.Repeat("k", MaxKeyLen), "a b"} {
		if err := CheckKey(k); err != nil {
			t.Errorf("CheckKey(%q) = %v, want nil", k, err)
		}
	}
	for _, k := range []string{strings.Repeat("k", MaxKeyLen+1), "a\x00b", "a\nb", "a\x7fb", "a\u0085b", "\xff"} {
		if err := CheckKey(k); err == nil {
			t.Errorf("CheckKey(%q) = nil, want an error", k)
		} else if strings.Contains(err.Error(), k) {
			t.Errorf("CheckKey(%q) quotes the key: %v", k, err)
		}
	}
}

// FuzzCheckKey checks what CheckKey promises the stores: a key it accepts
// is valid UTF-8 of at most MaxKeyLen bytes without a byte below 0x20, so
// it can end with a NUL inside a store's key.
func FuzzCheckKey(f *testing.F) {
	f.Add("order-42")
	f.Add("a\x00b")
	f.Add("\xc2\x85")
	f.Fuzz(func(t *testing.T, key string) {
		if CheckKey(key) != nil {
			return
		}
		if len(key) > MaxKeyLen {
			t.Fatalf("accepted %d bytes", len(key))
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] == 0x7f {
				t.Fatalf("accepted %q with a control byte", key)
			}
		}
	})
}
