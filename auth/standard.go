package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// standardV1Len is the length of one encoded v1 signature: base64 of a
// SHA-256 MAC.
const standardV1Len = 44

// errNoStandardV1 is the error of a webhook-signature header without any
// v1 signature (only v1a, v2, ... or garbage).
var errNoStandardV1 = fmt.Errorf("auth: %s: %w: webhook-signature holds no v1 signature", schemeStandard, ErrNoSignature)

// standardScheme is the scheme behind [NewStandard]; see its doc.
type standardScheme struct {
	keys []*macKey
	o    options
}

// NewStandard returns a Standard Webhooks v1 signer and verifier using
// secrets, in order (Verified.KeyID reports the index of the secret that
// matched). Decode whsec_ strings with [ParseStandardSecret]. It refuses an
// empty list and any secret shorter than 24 bytes with
// an error wrapping [ErrBadKey].
//
// Options: [WithTolerance], [WithClock].
//
// The scheme signs and verifies Standard Webhooks v1: an HMAC-SHA256 over
// webhook-id "." webhook-timestamp "." body, sent as
// "webhook-signature: v1,<base64>". It holds one or more secrets so that a
// secret can be rotated without downtime: Sign signs with every secret,
// Verify accepts a signature made with any of them. The Scheme is safe for
// concurrent use.
func NewStandard(secrets []Secret, opts ...StandardOption) (*Scheme, error) {
	keys, err := newMacKeys(schemeStandard, sha256.New, secrets, minStandardSecretLen)
	if err != nil {
		return nil, err
	}
	return &Scheme{s: &standardScheme{keys: keys, o: buildOptions(opts, StandardOption.standard)}}, nil
}

// Sign sets webhook-id to m.ID, webhook-timestamp to the signing time in
// Unix seconds (m.Timestamp, or the clock when zero) and webhook-signature
// to one "v1,<base64>" signature per secret, separated by spaces. Header
// values already present as a single value are overwritten in place; the
// others share one allocation. m.ID
// must be a non-empty header-safe string of at most 256 bytes.
func (s *standardScheme) Sign(h http.Header, m Message) error {
	unix, err := signingUnix(schemeStandard, m, s.o.now, checkMessageID)
	if err != nil {
		return err
	}
	// One buffer holds the timestamp and then the signature header value,
	// so that both strings come from a single allocation.
	var stack [maxTimestampLen + 2*(3+standardV1Len+1)]byte
	buf := strconv.AppendInt(stack[:0], unix, 10)
	tsLen := len(buf)
	ts := buf[:tsLen]
	for i, k := range s.keys {
		if i > 0 {
			buf = append(buf, ' ')
		}
		st := k.get()
		sum := macStandard(st, m.ID, ts, m.Body)
		buf = append(buf, "v1,"...)
		buf = base64.StdEncoding.AppendEncode(buf, sum)
		k.put(st)
		ts = buf[:tsLen]
	}
	all := string(buf)
	setStandardHeaders(h, m.ID, all[:tsLen], all[tsLen:])
	return nil
}

// Verify checks the webhook-id, webhook-timestamp and webhook-signature
// headers (or their svix-* names when no webhook-* header is present)
// against body. Header lengths are bounded before parsing; the timestamp
// must lie within the tolerance of the clock in both directions
// ([ErrExpired]); then any "v1," signature made with any
// secret is accepted, compared in constant time. Signatures of other
// versions (v1a, v2, ...) are ignored. Errors wrap [ErrNoSignature],
// [ErrMalformed] or [ErrBadSignature] as well.
func (s *standardScheme) Verify(h http.Header, body []byte) (Verified, error) {
	id, ts, tsTime, sigs, err := readStandardHeaders(h, schemeStandard, &s.o)
	if err != nil {
		return Verified{}, err
	}
	// "v1," occurs in every header with a v1 signature: a cheap early
	// refusal before any MAC is computed. The exact count comes from the
	// token scan below.
	if !strings.Contains(sigs, "v1,") {
		return Verified{}, errNoStandardV1
	}
	v1 := 0
	for i, k := range s.keys {
		st := k.get()
		want := base64.StdEncoding.AppendEncode(st.enc[:0], macStandard(st, id, ts, body))
		match := false
		v1 = 0
		for v, sig, rest, ok := cutSignature(sigs); ok; v, sig, rest, ok = cutSignature(rest) {
			if v == "v1" {
				v1++
				match = st.equal(want, sig) || match
			}
		}
		k.put(st)
		if match {
			return Verified{Scheme: schemeStandard, ID: id, Timestamp: tsTime, KeyID: keyIndex(i), replayUntil: tsTime.Add(s.o.tolerance)}, nil
		}
		if v1 == 0 {
			return Verified{}, errNoStandardV1
		}
	}
	return Verified{}, fmt.Errorf("auth: %s: %w: no v1 signature matched (%d signatures, %d secrets tried)", schemeStandard, ErrBadSignature, v1, len(s.keys))
}

// macStandard returns the HMAC of id "." ts "." body, streamed into the MAC
// without building the content. id must be at most maxIDLen bytes and ts at
// most maxTimestampLen. The result aliases st.sum.
func macStandard[T string | []byte](st *macState, id string, ts T, body []byte) []byte {
	p := append(append(st.in[:0], id...), '.')
	return st.macOf(append(append(p, ts...), '.'), body)
}

var (
	_ Signer   = (*standardScheme)(nil)
	_ Verifier = (*standardScheme)(nil)
)
