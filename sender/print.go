package sender

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/shown"
)

// shownOAuth2 returns o as it may be printed, a pointer to a struct of a
// type named OAuth2 with the same fields: the token URL as in log lines
// (scheme://host/…, since a token endpoint's URL may carry a credential in
// its user info, path or query), the secret as the auth.Secret it is,
// which prints "[redacted]". A nil o gives a nil pointer of that type, so
// that a Destination without OAuth2 prints as it did. The type has no
// Format method, so printing it does not come back here.
func shownOAuth2(o *OAuth2) any {
	type OAuth2 struct {
		TokenURL     string
		ClientID     string
		ClientSecret auth.Secret
		Scopes       []string
	}
	if o == nil {
		return (*OAuth2)(nil)
	}
	return &OAuth2{TokenURL: redactRawURL(o.TokenURL), ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes}
}

// Format prints o under every fmt verb and flag as the struct it is, but
// with TokenURL as in log lines (scheme://host/…): a token endpoint's URL
// may carry a credential in its user info, path or query, which fmt and
// slog's text handler printed. ClientSecret shows as "[redacted]", as it
// always did.
func (o OAuth2) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), reflect.ValueOf(shownOAuth2(&o)).Elem().Interface())
}

// MarshalJSON encodes o as [OAuth2.Format] shows it, the token URL cut to
// scheme://host/…; slog's JSON handler encodes it so. It is for logging:
// the JSON cannot be decoded into a working OAuth2.
func (o OAuth2) MarshalJSON() ([]byte, error) {
	return json.Marshal(shownOAuth2(&o))
}

// shown returns s as it may be printed, a pointer to a struct of a type
// named Sender with the exported fields of Sender: what the program
// supplied (the TLS config, which may hold client certificates and their
// private keys, the Logger, the funcs, the providers) by its type, or ""
// when unset, and none of the unexported state (connection pools, cached
// tokens). A nil s gives a nil pointer of that type.
func (s *Sender) shown() any {
	type Sender struct {
		Retry          RetryPolicy
		AttemptTimeout time.Duration
		TLS            string
		AllowHTTP      bool
		AllowNetworks  []netip.Prefix
		Logger         string
		LookupNetIP    string
		OnAttempt      string
		TracerProvider string
		MeterProvider  string
	}
	if s == nil {
		return (*Sender)(nil)
	}
	return &Sender{Retry: s.Retry, AttemptTimeout: s.AttemptTimeout, TLS: shown.Type(s.TLS), AllowHTTP: s.AllowHTTP,
		AllowNetworks: s.AllowNetworks, Logger: shown.Type(s.Logger), LookupNetIP: shown.Type(s.LookupNetIP),
		OnAttempt: shown.Type(s.OnAttempt), TracerProvider: shown.Type(s.TracerProvider), MeterProvider: shown.Type(s.MeterProvider)}
}

// Format prints s under every fmt verb and flag as the struct it is, with
// its exported fields only, and what the program supplied by its type
// ("*tls.Config"): under %s, %q and the like fmt printed what the TLS field
// points to, a client certificate's Ed25519 private key among it. slog's
// text handler prints it so too. The method is on *Sender, which is not
// to be copied: a Sender held by value in a struct that is printed still
// prints whole, so hold it by pointer.
func (s *Sender) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.shown())
}
