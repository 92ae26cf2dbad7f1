package auth

// Helpers shared by the tests of every file of the package.

import (
	"net/http"
	"strings"
	"testing"
)

// must returns a function that gives s, failing the test if the call that
// made s returned an error: must(NewHub(secrets))(t) in one expression.
func must[S any](s S, err error) func(testing.TB) S {
	return func(t testing.TB) S {
		t.Helper()
		if err != nil {
			t.Fatalf("setting up %T: %v", s, err)
		}
		return s
	}
}

// signed returns the headers s sets for m, failing t if it cannot sign.
func signed(t testing.TB, s Signer, m Message) http.Header {
	t.Helper()
	h := http.Header{}
	if err := s.Sign(h, m); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return h
}

// editHeader returns a copy of h changed by edit, for a verifyCase.
func editHeader(h http.Header, edit func(h http.Header)) http.Header {
	c := h.Clone()
	edit(c)
	return c
}

// noLeak fails t if msg contains one of secrets (keys, signatures, tokens,
// raw or as text), naming which one by its position in the list.
func noLeak(t testing.TB, msg string, secrets ...string) {
	t.Helper()
	for i, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Fatalf("message leaks secret %d of %d: %q", i, len(secrets), msg)
		}
	}
}

// mustScheme is must for a Scheme constructor: it returns the scheme type
// behind the *Scheme (T), for the tests that look inside it.
func mustScheme[T scheme](s *Scheme, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatalf("setting up %T: %v", *new(T), err)
		}
		return s.s.(T)
	}
}
