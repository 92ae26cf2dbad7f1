package topic

import "testing"

func TestChar(t *testing.T) {
	for _, c := range []byte("azAZ09_-.") {
		if !Char(c) {
			t.Errorf("Char(%q) = false", c)
		}
	}
	for _, c := range []byte(" :*/\x00\x7f\xc3") {
		if Char(c) {
			t.Errorf("Char(%q) = true", c)
		}
	}
}
