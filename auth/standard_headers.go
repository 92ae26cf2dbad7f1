package auth

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The svix-* names of the Standard Webhooks headers, accepted for Svix
// compatibility when none of the webhook-* ones is present.
const (
	headerSvixID        = "Svix-Id"
	headerSvixTimestamp = "Svix-Timestamp"
	headerSvixSignature = "Svix-Signature"
)

// Length bounds checked before any parsing.
const (
	// maxIDLen bounds a delivery id (webhook-id and the like).
	maxIDLen = 256
	// maxSignatureHeaderLen bounds a signature header (all its values
	// together): room for dozens of rotated signatures, no more.
	maxSignatureHeaderLen = 4096
)

// readStandardHeaders reads the webhook-id, webhook-timestamp and
// webhook-signature headers of a Standard Webhooks request (or svix-id,
// svix-timestamp and svix-signature when no webhook-* header is present),
// checking their lengths before parsing. It returns the id and the timestamp
// exactly as sent (they are part of the signed content), the parsed
// timestamp, and the signature header: space-separated "version,signature"
// tokens, several header values joined by a space. Last, the timestamp must
// lie within o's tolerance of o's clock (see [checkTimestamp]), so that no
// scheme of the family reads the headers without that check.
//
// Errors name scheme and wrap [ErrNoSignature] (no signature header),
// [ErrMalformed] (missing id or timestamp, repeated or oversized header,
// unparsable timestamp) or [ErrExpired]. Used by the v1 and v1a schemes
// alike.
func readStandardHeaders(h http.Header, scheme string, o *options) (id, ts string, tsTime time.Time, sigs string, err error) {
	idKey, tsKey, sigKey := HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature
	if h[idKey] == nil && h[tsKey] == nil && h[sigKey] == nil &&
		(h[headerSvixID] != nil || h[headerSvixTimestamp] != nil || h[headerSvixSignature] != nil) {
		idKey, tsKey, sigKey = headerSvixID, headerSvixTimestamp, headerSvixSignature
	}
	sigVals := h[sigKey]
	if len(sigVals) == 0 {
		return "", "", time.Time{}, "", fmt.Errorf("auth: %s: %w: missing %s header", scheme, ErrNoSignature, strings.ToLower(sigKey))
	}
	id, err = singleHeader(h, idKey, maxIDLen, scheme, ErrMalformed)
	if err != nil {
		return "", "", time.Time{}, "", err
	}
	ts, err = singleHeader(h, tsKey, maxTimestampLen, scheme, ErrMalformed)
	if err != nil {
		return "", "", time.Time{}, "", err
	}
	tsTime, err = parseUnix(scheme, ts)
	if err != nil {
		return "", "", time.Time{}, "", err
	}
	total := len(sigVals) - 1
	for _, v := range sigVals {
		total += len(v)
	}
	if total > maxSignatureHeaderLen {
		return "", "", time.Time{}, "", fmt.Errorf("auth: %s: %w: %s header longer than %d bytes", scheme, ErrMalformed, strings.ToLower(sigKey), maxSignatureHeaderLen)
	}
	if err := checkTimestamp(o.now(), tsTime, o.tolerance, scheme); err != nil {
		return "", "", time.Time{}, "", err
	}
	if len(sigVals) == 1 {
		sigs = sigVals[0]
	} else {
		sigs = strings.Join(sigVals, " ")
	}
	return id, ts, tsTime, sigs, nil
}

// singleHeader returns the one non-empty value of h[key], at most max bytes
// long. A missing or empty header is the error missing (ErrNoSignature for
// the header that carries the signature, ErrMalformed for one that only
// goes with it); a repeated or oversized one is [ErrMalformed]: with two
// values it would be unclear which one was signed. Errors name scheme and
// the header, never its value.
func singleHeader(h http.Header, key string, max int, scheme string, missing error) (string, error) {
	vals := h[key]
	switch {
	case len(vals) == 0 || vals[0] == "":
		return "", fmt.Errorf("auth: %s: %w: missing %s header", scheme, missing, strings.ToLower(key))
	case len(vals) > 1:
		return "", fmt.Errorf("auth: %s: %w: repeated %s header", scheme, ErrMalformed, strings.ToLower(key))
	case len(vals[0]) > max:
		return "", fmt.Errorf("auth: %s: %w: %s header longer than %d bytes", scheme, ErrMalformed, strings.ToLower(key), max)
	}
	return vals[0], nil
}

// cutSignature takes the first "version,signature" token off a Standard
// Webhooks signature header. Tokens are separated by spaces (runs of spaces
// and tabs are tolerated). ok is false when no token is left. A token
// without a comma yields an empty version, which no scheme accepts. It never
// allocates:
//
//	for v, sig, rest, ok := cutSignature(sigs); ok; v, sig, rest, ok = cutSignature(rest) { ... }
func cutSignature(sigs string) (version, sig, rest string, ok bool) {
	i := 0
	for i < len(sigs) && (sigs[i] == ' ' || sigs[i] == '\t') {
		i++
	}
	if i == len(sigs) {
		return "", "", "", false
	}
	j, comma := i, -1
	for ; j < len(sigs) && sigs[j] != ' ' && sigs[j] != '\t'; j++ {
		if sigs[j] == ',' && comma < 0 {
			comma = j
		}
	}
	if comma < 0 {
		return "", sigs[i:j], sigs[j:], true
	}
	return sigs[i:comma], sigs[comma+1 : j], sigs[j:], true
}

// appendStandardContent appends the Standard Webhooks signed content,
// id "." ts "." body, to dst. The v1a scheme signs it whole; v1 streams the
// same bytes into its MAC without building them.
func appendStandardContent(dst []byte, id, ts string, body []byte) []byte {
	dst = append(dst, id...)
	dst = append(dst, '.')
	dst = append(dst, ts...)
	dst = append(dst, '.')
	return append(dst, body...)
}

// setStandardHeaders sets webhook-id, webhook-timestamp and
// webhook-signature to one value each. When all three hold one value
// already (a header map signed again), they are overwritten in place;
// otherwise the three one-value slices come from one array, so that a
// fresh header map costs one allocation for all three, not three.
func setStandardHeaders(h http.Header, id, ts, sig string) {
	ids, tss, sigs := h[HeaderWebhookID], h[HeaderWebhookTimestamp], h[HeaderWebhookSignature]
	if len(ids) == 1 && len(tss) == 1 && len(sigs) == 1 {
		ids[0], tss[0], sigs[0] = id, ts, sig
		return
	}
	v := &[3]string{id, ts, sig}
	h[HeaderWebhookID], h[HeaderWebhookTimestamp], h[HeaderWebhookSignature] = v[0:1:1], v[1:2:2], v[2:3:3]
}

// setHeader sets h[key] to the single value v. key must be canonical. When
// h already holds exactly one value for key, that slice is reused, so a
// header map re-signed for every attempt costs no allocation here.
func setHeader(h http.Header, key, v string) {
	if s := h[key]; len(s) == 1 {
		s[0] = v
		return
	}
	h[key] = []string{v}
}
