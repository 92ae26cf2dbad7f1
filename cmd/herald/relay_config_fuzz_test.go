package main

import (
	"strings"
	"testing"
)

// FuzzCheckDuplicateKeys: the check of a configuration's keys never panics
// on any input, and refuses a key of ASCII letters given twice, in two
// cases, in an object nested anywhere.
func FuzzCheckDuplicateKeys(f *testing.F) {
	f.Add(`{"destinations":[{"name":"a","topics":["x"],"Topics":["**"]}]}`, "topics")
	f.Add(`{"a":{"b":[1,{"c":2,"c":3}]},"d":null}`, "c")
	f.Add(`[{"k":1},{"k":2}]`, "k")
	f.Fuzz(func(t *testing.T, doc, key string) {
		_ = checkDuplicateKeys([]byte(doc))
		if key == "" || strings.Trim(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return
		}
		twice := `{"x":[1,{"` + key + `":1,"` + strings.ToUpper(key) + `":2}]}`
		if checkDuplicateKeys([]byte(twice)) == nil {
			t.Fatalf("took %s", twice)
		}
	})
}
