package auth

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

// What each constructor's option type takes, checked by the compiler: a
// slice of each type holding every option that does something for it.
// Adding an option to a slice it does not belong in stops the package
// from compiling; TestOptionMatrix checks the pairs that must not compile.
var (
	_ = []StandardOption{WithTolerance(time.Minute), WithClock(time.Now)}
	_ = []HubOption{WithHeaderName("X-Signature"), WithSHA1()}
	_ = []StripeOption{WithTolerance(time.Minute), WithClock(time.Now), WithHeaderName("X-Signature")}
	_ = []JWTOption{
		WithClock(time.Now), WithIssuer("herald"), WithAudience("https://a.example"), WithTTL(time.Minute),
		WithLeeway(time.Second), WithRequireBodyHash(), WithAllowMissingExp(), WithMaxLifetime(time.Hour),
	}
	_ = []JWTVerifierOption{
		WithClock(time.Now), WithIssuer("herald"), WithAudience("https://a.example"),
		WithLeeway(time.Second), WithRequireBodyHash(), WithAllowMissingExp(), WithMaxLifetime(time.Hour),
	}
)

// TestOptionMatrix checks, for every scheme option and every constructor,
// that the option's declared result type can be passed to the constructor
// exactly when the constructor reads what the option sets: Go's assignment
// rule for interfaces is the method-set inclusion reflect.Type.Implements
// tests, so a false here is a compile error there.
func TestOptionMatrix(t *testing.T) {
	constructors := map[string]any{
		"NewStandard": NewStandard, "NewStandardV1a": NewStandardV1a, "NewStandardV1aVerifier": NewStandardV1aVerifier,
		"NewHub": NewHub, "NewStripe": NewStripe,
		"NewJWT": NewJWT, "NewJWTSigner": NewJWTSigner, "NewJWTVerifier": NewJWTVerifier,
	}
	std := []string{"NewStandard", "NewStandardV1a", "NewStandardV1aVerifier"}
	jwtAll := []string{"NewJWT", "NewJWTSigner", "NewJWTVerifier"}
	options := []struct {
		name    string
		fn      any
		applies []string
	}{
		{"WithTolerance", WithTolerance, append(slices.Clone(std), "NewStripe")},
		{"WithClock", WithClock, append(append(slices.Clone(std), "NewStripe"), jwtAll...)},
		{"WithHeaderName", WithHeaderName, []string{"NewHub", "NewStripe"}},
		{"WithSHA1", WithSHA1, []string{"NewHub"}},
		{"WithIssuer", WithIssuer, jwtAll},
		{"WithAudience", WithAudience, jwtAll},
		{"WithTTL", WithTTL, []string{"NewJWT", "NewJWTSigner"}},
		{"WithLeeway", WithLeeway, jwtAll},
		{"WithRequireBodyHash", WithRequireBodyHash, jwtAll},
		{"WithAllowMissingExp", WithAllowMissingExp, jwtAll},
		{"WithMaxLifetime", WithMaxLifetime, jwtAll},
	}
	for _, o := range options {
		result := reflect.TypeOf(o.fn).Out(0)
		for name, c := range constructors {
			ct := reflect.TypeOf(c)
			param := ct.In(ct.NumIn() - 1).Elem() // the variadic option type
			want := slices.Contains(o.applies, name)
			if got := result.Implements(param); got != want {
				t.Errorf("%s(...) passed to %s: compiles = %v, want %v", o.name, name, got, want)
			}
		}
	}
}

// Options are applied in order and a nil one is skipped, for every option
// type.
func TestOptionsApplyInOrder(t *testing.T) {
	o := buildOptions([]StripeOption{WithTolerance(time.Minute), nil, WithTolerance(2 * time.Minute), WithHeaderName("X-Sig")}, StripeOption.stripe)
	if o.tolerance != 2*time.Minute || o.headerName != "X-Sig" {
		t.Fatalf("options = %+v", o)
	}
	o = buildOptions([]JWTOption{WithTTL(-1), WithLeeway(-1)}, JWTOption.jwt)
	if o.ttl != defaultTTL || o.leeway != defaultLeeway || o.maxLifetime != defaultMaxLifetime {
		t.Fatalf("out-of-range values changed the defaults: %+v", o)
	}
}
