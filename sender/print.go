package sender

import (
	"encoding/json"
	"fmt"

	"github.com/heraldhq/herald/internal/shown"
)

// oauth2Redactions is the edit of an OAuth2's printed form (see shown.Struct):
// the token URL as in log lines (scheme://host/…), since a token
// endpoint's URL may carry a credential in its user info, path or query.
// ClientSecret, an auth.Secret, prints "[redacted]" of itself.
func oauth2Redactions(o OAuth2) map[string]any {
	return map[string]any{"TokenURL": redactRawURL(o.TokenURL)}
}

// Format prints o under every fmt verb and flag as the struct it is, but
// with TokenURL as in log lines (scheme://host/…): a token endpoint's URL
// may carry a credential in its user info, path or query, which fmt and
// slog's text handler printed. ClientSecret shows as "[redacted]", as it
// always did.
func (o OAuth2) Format(f fmt.State, verb rune) {
	shown.Format(f, verb, o, oauth2Redactions(o))
}

// MarshalJSON encodes o as [OAuth2.Format] shows it, the token URL cut to
// scheme://host/…; slog's JSON handler encodes it so. It is for logging:
// the JSON cannot be decoded into a working OAuth2.
func (o OAuth2) MarshalJSON() ([]byte, error) {
	return json.Marshal(shown.Struct(o, oauth2Redactions(o)))
}

// Format prints s under every fmt verb and flag as the struct it is, with
// its exported fields only, and what the program supplied by its type
// ("*tls.Config"): under %s, %q and the like fmt printed what the TLS field
// points to, a client certificate's Ed25519 private key among it. slog's
// text handler prints it so too. The method is on *Sender, which is not
// to be copied: a Sender held by value in a struct that is printed still
// prints whole, so hold it by pointer.
func (s *Sender) Format(f fmt.State, verb rune) {
	shown.Format(f, verb, s, nil)
}
