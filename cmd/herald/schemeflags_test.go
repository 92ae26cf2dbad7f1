package main

import (
	"slices"
	"testing"
)

// TestSchemeFlagNamesMatchRegister keeps the list relay checks in step with
// the flags register defines.
func TestSchemeFlagNamesMatchRegister(t *testing.T) {
	fs := newFlagSet("t", "", "", "")
	var sf schemeFlags
	sf.register(fs)
	var got []string
	fs.VisitAll(func(f *flagFlag) { got = append(got, f.Name) })
	want := slices.Clone(schemeFlagNames)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("register defines %v, schemeFlagNames lists %v", got, want)
	}
}
