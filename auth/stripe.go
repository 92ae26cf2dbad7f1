package auth

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Stripe bounds.
const (
	// minStripeSecretLen is the shortest secret, in bytes, that [NewStripe]
	// accepts.
	minStripeSecretLen = 16
	// maxStripeHeaderLen bounds the signature header before parsing.
	maxStripeHeaderLen = 4096
	// stripeV1Len is the length of one v1 signature: hex of a SHA-256 MAC.
	stripeV1Len = 64
)

// stripeScheme is the scheme behind [NewStripe]; see its doc.
type stripeScheme struct {
	headerMAC
	o options
}

// NewStripe returns a Stripe-style signer and verifier using secrets, in
// order (Verified.KeyID reports the index of the secret that matched).
// Stripe uses its whole "whsec_..." string, prefix included, as the raw
// key bytes: build it with NewSecret([]byte(s)), not [ParseStandardSecret].
// Secrets shorter than 16 bytes, or none, are refused with
// [ErrBadKey].
//
// Options: [WithTolerance], [WithClock], [WithHeaderName].
//
// The scheme signs and verifies Stripe-style webhooks: an HMAC-SHA256 over
// t "." body, sent as "Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]"
// with one v1 per secret. The Scheme is safe for concurrent use.
func NewStripe(secrets []Secret, opts ...StripeOption) (*Scheme, error) {
	o := buildOptions(opts, StripeOption.stripe)
	hm, err := newHeaderMAC(schemeStripe, sha256.New, secrets, minStripeSecretLen, o.headerName, HeaderStripeSignature)
	if err != nil {
		return nil, err
	}
	return &Scheme{s: &stripeScheme{headerMAC: hm, o: o}}, nil
}

// Sign sets the signature header to t=<unix seconds> (m.Timestamp, or the
// clock when zero) followed by one v1=<hex> per secret, and webhook-id to
// m.ID when m.ID is set.
func (s *stripeScheme) Sign(h http.Header, m Message) error {
	unix, err := signingUnix(schemeStripe, m, s.o.now, nil)
	if err != nil {
		return err
	}
	var stack [2 + maxTimestampLen + 2*(4+stripeV1Len)]byte
	buf := append(stack[:0], "t="...)
	buf = strconv.AppendInt(buf, unix, 10)
	tsEnd := len(buf)
	for i := range s.keys {
		ts := buf[2:tsEnd]
		buf = s.appendMAC(append(buf, ",v1="...), i, func(st *macState) []byte { return macStripe(st, ts, m.Body) })
	}
	return s.set(h, buf, m.ID)
}

// Verify parses the signature header (bounded in length first), checks
// that t lies within the tolerance of the clock in both directions
// ([ErrExpired]), then accepts any v1 signature made with
// any secret, compared in constant time. Other keys, such as Stripe's
// v0=, are ignored; a repeated or missing t is [ErrMalformed]. Verified.ID
// is "sig:" and the SHA-256 of the MAC of t and the body under the first
// secret, whichever v1 matched, so that dropping v1 values from a header
// signed with several secrets does not change it (see [Verified.ID]); the
// webhook-id header is not covered by the signature.
func (s *stripeScheme) Verify(h http.Header, body []byte) (Verified, error) {
	header, err := singleHeader(h, s.header, maxStripeHeaderLen, schemeStripe, ErrNoSignature)
	if err != nil {
		return Verified{}, err
	}
	ts, v1, err := scanStripeHeader(header)
	if err != nil {
		return Verified{}, err
	}
	tsTime, err := parseUnix(schemeStripe, ts)
	if err != nil {
		return Verified{}, err
	}
	if v1 == 0 {
		return Verified{}, fmt.Errorf("auth: %s: %w: %s header holds no v1 signature", schemeStripe, ErrNoSignature, strings.ToLower(s.header))
	}
	if err := checkTimestamp(s.o.now(), tsTime, s.o.tolerance, schemeStripe); err != nil {
		return Verified{}, err
	}
	i, id := s.match(func(st *macState) []byte { return macStripe(st, ts, body) },
		func(st *macState, want []byte) bool { return anyV1(st, header, want) })
	if i >= 0 {
		if i > 0 {
			// During a rotation the header holds one v1 per secret, and
			// whoever replays it chooses which of them is left to match:
			// the ID must not depend on that. It is always that of the
			// first secret's MAC, which the request's t and body decide.
			st := s.keys[0].get()
			id = signatureID(macStripe(st, ts, body))
			s.keys[0].put(st)
		}
		return Verified{Scheme: schemeStripe, ID: id, Timestamp: tsTime, KeyID: keyIndex(i), replayUntil: tsTime.Add(s.o.tolerance)}, nil
	}
	return Verified{}, fmt.Errorf("auth: %s: %w: no v1 signature matched (%d signatures, %d secrets tried)", schemeStripe, ErrBadSignature, v1, len(s.keys))
}

// scanStripeHeader finds the t= value of a Stripe signature header and
// counts its v1= items, without allocating. Items are separated by commas;
// spaces around an item are ignored. An item without "=", or a second t=,
// is [ErrMalformed]; other keys are ignored.
func scanStripeHeader(header string) (ts string, v1 int, err error) {
	seenT := false
	for rest := header; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, ",")
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, ok := strings.Cut(item, "=")
		switch {
		case !ok:
			return "", 0, fmt.Errorf("auth: %s: %w: item without '=' in signature header", schemeStripe, ErrMalformed)
		case key == "t":
			if seenT {
				return "", 0, fmt.Errorf("auth: %s: %w: repeated t= in signature header", schemeStripe, ErrMalformed)
			}
			ts, seenT = val, true
		case key == "v1":
			v1++
		}
	}
	if !seenT {
		return "", 0, fmt.Errorf("auth: %s: %w: no t= in signature header", schemeStripe, ErrMalformed)
	}
	return ts, v1, nil
}

// anyV1 reports whether one of the v1 signatures of header equals want.
// It compares every one, in constant time, so that the time taken does not
// tell which matched.
func anyV1(st *macState, header string, want []byte) bool {
	match := false
	for rest := header; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, ",")
		if key, sig, _ := strings.Cut(strings.TrimSpace(item), "="); key == "v1" && st.equal(want, sig) {
			match = true
		}
	}
	return match
}

// macStripe returns the HMAC of ts "." body, streamed into the MAC. ts must
// be at most maxTimestampLen bytes. The result aliases st.sum.
func macStripe[T string | []byte](st *macState, ts T, body []byte) []byte {
	return st.macOf(append(append(st.in[:0], ts...), '.'), body)
}

var (
	_ Signer   = (*stripeScheme)(nil)
	_ Verifier = (*stripeScheme)(nil)
)
