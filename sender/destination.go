package sender

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/shown"
)

// Destination is where deliveries go, configured in code. The zero value
// has no URL and is refused by [Sender.Send].
type Destination struct {
	// Name identifies the destination in logs, errors, results, metrics
	// and spans. Empty means the redacted URL (scheme://host/…) in logs,
	// errors and results, and "" in metrics and spans, which never hold a
	// URL (one series per endpoint would grow without bound). Name the
	// destinations that share a host, or their lines cannot be told
	// apart. It must be valid UTF-8 without control characters, line
	// separators or bidi controls, which could forge a log line or make
	// one name read as another.
	Name string
	// URL is the endpoint. It must be https:// unless [Sender.AllowHTTP]
	// is set. Only its scheme and host appear in a log line, an error or
	// a printed Destination: its path shows as "/…", since webhook URLs
	// such as Slack's and Discord's carry their token in it, and its user
	// info, query string and fragment not at all.
	URL string
	// Signer authenticates each attempt, afresh; nil sends unsigned requests.
	Signer auth.Signer
	// Headers are added to every request. A printed Destination shows
	// their names, never their values. They never override the
	// webhook-id, Content-Type or User-Agent headers, nor those the
	// Signer sets. Headers of the connection (Connection, Upgrade,
	// Transfer-Encoding, TE) are refused with [ErrInvalidMessage].
	Headers http.Header
	// Topics are topic patterns that this destination wants ("job:*",
	// "*:created", "**"; see [ValidatePattern] for the grammar); empty means
	// every topic. Send and a Queue's Enqueue do not filter: listener's
	// Forward (and herald relay) ask [Destination.Wants], of the
	// destinations given to Forward, and refuse a malformed pattern.
	Topics []string
	// ClientCert, if set, is the client certificate (mutual TLS) this
	// destination's connections present, in a pool of their own: other
	// destinations never see it. It replaces any certificate of
	// [Sender.TLS] for this destination. Share one *tls.Certificate per
	// destination rather than making one per message. A printed
	// Destination shows it as "[redacted]", and its JSON leaves it out:
	// either would reveal its private key (an Ed25519 key is a byte slice,
	// which fmt prints through the pointer under %s, %q, %x and %d).
	ClientCert *tls.Certificate `json:"-"`
	// OAuth2, if set, authenticates every attempt with an access token
	// of the client credentials grant, in Authorization; see [OAuth2].
	OAuth2 *OAuth2
	// Ordered asks an outbox queue to deliver the messages that share a
	// [Message.PartitionKey] one at a time, in enqueue order: the next
	// waits until the previous is delivered or dead-lettered, while
	// different keys go out in parallel. The queue refuses it over a
	// store that cannot keep that order. Send itself ignores it.
	Ordered bool
	// Rate caps the deliveries per second (attempts, retries included)
	// that an outbox Queue sends to this destination, across all its
	// workers, with bursts of up to Burst; zero means no limit. A limited
	// destination's deliveries wait in the outbox, so that it never
	// holds a worker nor slows the others. Send itself does not wait.
	Rate float64
	// Burst is how many deliveries may go at once above Rate; zero means
	// 1. It matters only with a Rate.
	Burst int
	// DisableAfter makes an outbox Queue disable this destination once it
	// has failed, without a single success, for this long (5 days, say):
	// its deliveries are then held in the outbox, neither sent nor
	// dropped, until it is enabled again. Zero never disables it for
	// failing; a 410 Gone answer disables it at once whatever this says.
	DisableAfter time.Duration
}

// Wants reports whether the destination wants messages of topic: true when
// Topics is empty, else when one of its patterns matches topic by the
// grammar of [ValidatePattern]. A malformed pattern matches nothing, and
// neither does a topic that is not "domain:action".
func (d Destination) Wants(topic string) bool {
	if len(d.Topics) == 0 {
		return true
	}
	return wants(d.Topics, topic)
}

// redactURL returns scheme://host, followed by "/…" when the URL has a
// path beyond "/": no user info, query or fragment, and no path, which may
// hold the credential (Slack's /services/T…/B…/<token>, Discord's
// /api/webhooks/<id>/<token>).
func redactURL(u *url.URL) string {
	if u.Path == "" || u.Path == "/" {
		return u.Scheme + "://" + u.Host + u.Path
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// redactRawURL is [redactURL] of a URL string, or "[unparsable URL]".
func redactRawURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable URL]"
	}
	return redactURL(u)
}

// redactions is the edit of a Destination's printed form (see shown.Struct):
// the URL as in log lines, every header value replaced by "[redacted]",
// the header names kept, and the client certificate, if any, by
// "[redacted]" (not the pointer: fmt prints what it points to under %s,
// %q, %x and %d, and an Ed25519 key is a byte slice it would print). The
// Signer prints by its type, and OAuth2 as it prints itself.
func (d Destination) redactions() map[string]any {
	edit := map[string]any{"URL": redactRawURL(d.URL), "ClientCert": "", "Headers": http.Header(nil)}
	if d.ClientCert != nil {
		edit["ClientCert"] = shown.Redacted
	}
	if d.Headers != nil {
		h := make(http.Header, len(d.Headers))
		for name, vals := range d.Headers {
			h[name] = make([]string, len(vals))
			for i := range vals {
				h[name][i] = shown.Redacted
			}
		}
		edit["Headers"] = h
	}
	return edit
}

// Format prints d under every fmt verb and flag as the struct it is, but
// for what may hold a credential: the URL, and OAuth2's token URL, show
// as in log lines (scheme://host/…), every header value and the client
// certificate as "[redacted]", and the Signer by its type. slog's text
// handler prints it so too. A struct that embeds a Destination takes this
// method, and prints as the Destination. fmt calls no method of a value
// in an unexported field, nor for %p of a value that is not a pointer:
// there a Destination prints whole, so keep one in an exported field of a
// struct you print.
func (d Destination) Format(f fmt.State, verb rune) {
	shown.Format(f, verb, d, d.redactions())
}

// MarshalJSON encodes d as [Destination.Format] shows it, without the
// client certificate; slog's JSON handler encodes it so. It is for
// logging and listing: the JSON cannot be decoded into a working
// Destination.
func (d Destination) MarshalJSON() ([]byte, error) {
	return json.Marshal(shown.Struct(d, d.redactions()))
}

// ErrInsecureURL: the URL is http:// and [Sender.AllowHTTP] is false.
var ErrInsecureURL = errors.New("URL is not https")

// ErrInvalidURL: the destination URL cannot be parsed, has no host (or
// one that is not UTF-8), a port outside 1 to 65535, or a scheme other
// than https (or http).
var ErrInvalidURL = errors.New("invalid destination URL")

// checkURL validates a parsed destination URL against the sender's
// settings: scheme, host, and a literal IP against the address guard.
func (s *Sender) checkURL(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !s.AllowHTTP {
			return fmt.Errorf("%w: %s (set Sender.AllowHTTP for local development)", ErrInsecureURL, redactURL(u))
		}
	default:
		return fmt.Errorf("%w: scheme must be https", ErrInvalidURL)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if !utf8.ValidString(host) {
		// net/http would send it to another host: each bad byte as
		// U+FFFD, in punycode.
		return fmt.Errorf("%w: host is not UTF-8", ErrInvalidURL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: port %s is not 1 to 65535", ErrInvalidURL, p)
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return checkAddr("", a, s.AllowNetworks)
	}
	return nil
}

// maxCachedURLs bounds the parsed destination URLs a Sender keeps; past it
// the cache starts over.
const maxCachedURLs = 1024

// destURL is a destination URL parsed and checked once, then shared,
// read-only, by the requests of every delivery to it.
type destURL struct {
	url   *url.URL // as http.NewRequest leaves it; never modified
	label string   // the redacted URL
}

// parseURL parses and checks a destination URL as http.NewRequest and
// checkURL would, through a bounded per-Sender cache keyed by the URL
// string; the Sender's settings do not change after the first Send, so
// neither does the outcome for a given string. Only accepted URLs are
// cached. The label it returns is the redacted URL, or a placeholder when
// the URL cannot be parsed.
func (s *Sender) parseURL(raw string) (*destURL, string, error) {
	if v, ok := s.urls.Load(raw); ok {
		e := v.(*destURL)
		return e, e.label, nil
	}
	// The parse error would quote the whole URL, so it is not passed on.
	req, err := http.NewRequest(http.MethodPost, raw, nil)
	if err != nil {
		return nil, "[unparsable URL]", fmt.Errorf("%w: cannot parse", ErrInvalidURL)
	}
	label := redactURL(req.URL)
	if !utf8.ValidString(req.URL.Host) {
		label = "[unparsable URL]" // not a name to show
	}
	if err := s.checkURL(req.URL); err != nil {
		return nil, label, err
	}
	e := &destURL{url: req.URL, label: label}
	if s.nurls.Add(1) > maxCachedURLs {
		s.urls.Clear()
		s.nurls.Store(1)
	}
	s.urls.Store(raw, e)
	return e, label, nil
}

// Validate reports whether Send would accept d's URL as configured: a
// parsable absolute https URL (or http with AllowHTTP), whose host, if it is
// a literal IP address, passes the address guard. Names are checked again
// at dial time, after resolution. It checks [Destination.ClientCert] and
// [Destination.OAuth2] too: the token URL as the URL, and that neither the
// Signer (a JWT scheme) nor Headers set the Authorization header the token
// goes in, which it learns by signing an empty message once. Use it to
// refuse bad configuration early.
func (s *Sender) Validate(d Destination) error {
	u, err := url.Parse(d.URL)
	if err != nil {
		return fmt.Errorf("sender: %w: cannot parse", ErrInvalidURL)
	}
	if err := s.checkURL(u); err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	if err := s.validateAuth(d); err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	return nil
}
