package auth

import (
	"crypto/hmac"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// macState is one keyed HMAC with scratch space, pooled per secret so that
// signing and verifying neither rebuild the key schedule (hmac.New is
// costly) nor allocate.
type macState struct {
	mac hash.Hash
	// sum receives the raw MAC.
	sum [64]byte
	// enc receives the encoded (base64 or hex) MAC.
	enc [128]byte
	// in receives a copy of a received signature for the constant-time
	// comparison, and the Standard Webhooks "id.ts." prefix before it is
	// written into the MAC.
	in [maxIDLen + maxTimestampLen + 2]byte
}

// macOf returns the HMAC of prefix followed by body, streamed into the MAC
// (which must be fresh or reset). The result aliases st.sum.
func (st *macState) macOf(prefix, body []byte) []byte {
	st.mac.Write(prefix)
	st.mac.Write(body)
	return st.mac.Sum(st.sum[:0])
}

// macKey is one HMAC secret ready for use from many goroutines.
type macKey struct {
	pool sync.Pool
}

// newMacKeys builds one macKey per secret for the hash h, after checking
// that there is at least one secret and that each is at least min bytes
// long. Errors wrap [ErrBadKey], name scheme and the position of the faulty
// secret, never its content.
func newMacKeys(scheme string, h func() hash.Hash, secrets []Secret, min int) ([]*macKey, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("auth: %s: %w: no secret given", scheme, ErrBadKey)
	}
	keys := make([]*macKey, len(secrets))
	for i, s := range secrets {
		if s.size() < min {
			return nil, fmt.Errorf("auth: %s: %w: secret %d is %d bytes, need at least %d", scheme, ErrBadKey, i, s.size(), min)
		}
		key := append([]byte(nil), s.Bytes()...)
		k := &macKey{}
		k.pool.New = func() any { return &macState{mac: hmac.New(h, key)} }
		keys[i] = k
	}
	return keys, nil
}

// get returns a reset macState for this key. Give it back with put.
func (k *macKey) get() *macState { return k.pool.Get().(*macState) }

// put resets st and returns it to the pool.
func (k *macKey) put(st *macState) {
	st.mac.Reset()
	k.pool.Put(st)
}

// equal reports, in constant time for equal lengths, whether the expected
// encoded MAC want equals the received signature got. Lengths are public.
func (st *macState) equal(want []byte, got string) bool {
	if len(got) != len(want) || len(got) > len(st.in) {
		return false
	}
	n := copy(st.in[:], got)
	return subtle.ConstantTimeCompare(want, st.in[:n]) == 1
}

// headerMAC is what the schemes that sign in one header of their own (Hub,
// Stripe) share: a pooled MAC state per secret, and the header's name. They
// sign no id: a message's id travels in webhook-id as an unsigned hint.
type headerMAC struct {
	scheme string
	keys   []*macKey
	header string
}

// newHeaderMAC builds the headerMAC of scheme: one key per secret, each of
// at least min bytes (see newMacKeys), and the header named name, or def
// when name is empty (see schemeHeaderName).
func newHeaderMAC(scheme string, h func() hash.Hash, secrets []Secret, min int, name, def string) (headerMAC, error) {
	keys, err := newMacKeys(scheme, h, secrets, min)
	if err != nil {
		return headerMAC{}, err
	}
	name, err = schemeHeaderName(scheme, name, def)
	return headerMAC{scheme: scheme, keys: keys, header: name}, err
}

// appendMAC appends to buf the lowercase hex of the MAC that mac computes
// with secret i.
func (hm headerMAC) appendMAC(buf []byte, i int, mac func(st *macState) []byte) []byte {
	st := hm.keys[i].get()
	buf = hex.AppendEncode(buf, mac(st))
	hm.keys[i].put(st)
	return buf
}

// set sets the scheme's header to value and, when id is not empty,
// webhook-id to id. The id is a hint, which receivers may use to
// deduplicate, so it follows the rule of a signed id ([checkMessageID]);
// one that does not is refused and nothing is set.
func (hm headerMAC) set(h http.Header, value []byte, id string) error {
	if id != "" {
		if err := checkMessageID(hm.scheme, id); err != nil {
			return err
		}
		setHeader(h, HeaderWebhookID, id)
	}
	setHeader(h, hm.header, string(value))
	return nil
}

// match tries the secrets in order: mac computes the MAC of the signed
// content with st's key, and accept compares its lowercase hex (want) with
// the received signatures, in constant time. It returns the index of the
// first secret accepted and the signature id of its MAC (see
// [Verified.ID]), or -1 when none is.
func (hm headerMAC) match(mac func(st *macState) []byte, accept func(st *macState, want []byte) bool) (int, string) {
	for i, k := range hm.keys {
		st := k.get()
		sum := mac(st)
		ok := accept(st, hex.AppendEncode(st.enc[:0], sum))
		id := ""
		if ok {
			id = signatureID(sum)
		}
		k.put(st)
		if ok {
			return i, id
		}
	}
	return -1, ""
}

// schemeHeaderName returns the canonical form of name, or of def when name is
// empty. A name that is not an HTTP token is refused with an error naming
// scheme.
func schemeHeaderName(scheme, name, def string) (string, error) {
	if name == "" {
		name = def
	}
	if len(name) > 128 {
		return "", fmt.Errorf("auth: %s: header name longer than 128 bytes", scheme)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return "", fmt.Errorf("auth: %s: header name is not an HTTP token (byte %d)", scheme, i)
		}
	}
	return http.CanonicalHeaderKey(name), nil
}

// keyIndex formats a secret's position for Verified.KeyID; small numbers cost
// no allocation.
func keyIndex(i int) string { return strconv.Itoa(i) }
