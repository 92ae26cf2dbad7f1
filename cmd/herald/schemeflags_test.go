package main

import (
	"slices"
	"strings"
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

// TestAlgWithJWKSRefused: --alg names the one algorithm a verifier takes,
// which it checks against the keys it is given; a JWKS URL's keys are not
// known until they are fetched, and the verifier takes the algorithm of
// each, so --alg with one is a usage error rather than a restriction
// silently not applied (a token of another algorithm from the set passed).
func TestAlgWithJWKSRefused(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "h.txt", "Authorization: Bearer a.b.c\n")
	r := herald(t, runOpts{dir: dir}, "verify", "--scheme", "jwt", "--pubkey", "https://127.0.0.1:1/jwks.json", "--alg", "RS256", "--headers", "h.txt")
	if r.code != 2 || !strings.Contains(r.stderr, "--alg") || !strings.Contains(r.stderr, "JWKS") {
		t.Fatalf("verify --alg with a JWKS URL: exit %d\n%s", r.code, r.stderr)
	}
}
