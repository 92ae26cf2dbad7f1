package auth

// The tests of this file run one body for each scheme that signs with a
// list of keys: Hub, Stripe, Standard v1 and v1a, one row of keyedSchemes
// each. What only one scheme does is tested in that scheme's own file,
// through the same verifyRun.

import (
	"crypto/ed25519"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// keyedScheme is one scheme as the shared tests see it. Keys are picked by
// index from a pool of three: 0 and 1 sign, 2 signed nothing.
type keyedScheme struct {
	scheme string // Verified.Scheme
	header string // the header that carries the signatures
	// newSecrets makes an HMAC scheme from secrets, on the clock hmClock
	// with tolerance (0: the default); minSecret is the shortest secret it
	// accepts. v1a, which takes Ed25519 keys, has newKeys and newPublic
	// instead, and its key pool in keys.
	newSecrets func(secrets []Secret, tolerance time.Duration) (scheme, error)
	minSecret  int
	newKeys    func(keys []PrivateKey, tolerance time.Duration) (scheme, error)
	newPublic  func(keys []PublicKey, tolerance time.Duration) (scheme, error)
	keys       []PrivateKey
	// ref computes, independently of the code under test, the signature
	// header value that the pool keys idx give to m.
	ref func(m Message, idx ...int) string
	// id is the Verified.ID of m signed by pool key 0 alone into h.
	id func(m Message, h http.Header) string
	// keyID is the Verified.KeyID of pool key i at position pos of a
	// verifier's list.
	keyID func(i, pos int) string
	// signsAll: Sign signs with every key (Hub signs with the first only).
	signsAll bool
	// timed: the scheme signs a timestamp checked against the clock.
	timed bool
	// idRequired: Sign refuses a message without an id.
	idRequired bool
}

// hmPool is the HMAC key pool of keyedSchemes.
var hmPool = []Secret{hmSecret(1, 32), hmSecret(2, 32), hmSecret(3, 32)}

// pick returns the pool entries at idx.
func pick[K any](pool []K, idx []int) []K {
	keys := make([]K, len(idx))
	for i, n := range idx {
		keys[i] = pool[n]
	}
	return keys
}

// each returns f of each pool entry at idx, in order.
func each[K any](pool []K, idx []int, f func(K) string) []string {
	out := make([]string, len(idx))
	for i, k := range pick(pool, idx) {
		out[i] = f(k)
	}
	return out
}

// unixText is m's signing time as the Standard and Stripe headers carry it.
func unixText(m Message) string { return strconv.FormatInt(m.Timestamp.Unix(), 10) }

// positionKeyID is the Verified.KeyID of the HMAC schemes: the position.
func positionKeyID(_, pos int) string { return strconv.Itoa(pos) }

// keyedSchemes returns the rows of the shared tests.
func keyedSchemes(t testing.TB) []keyedScheme {
	clock := WithClock(hmClock)
	v1aPool := v1aTestPool(t)
	return []keyedScheme{{
		scheme:     schemeHub,
		header:     HeaderHubSignature256,
		newSecrets: func(s []Secret, _ time.Duration) (scheme, error) { return NewHub(s) },
		minSecret:  minHubSecretLen,
		ref:        func(m Message, idx ...int) string { return refHub(hmPool[idx[0]].Bytes(), m.Body) },
		id:         func(_ Message, h http.Header) string { return hubSigID(h.Get(HeaderHubSignature256)) },
		keyID:      positionKeyID,
	}, {
		scheme: schemeStripe,
		header: HeaderStripeSignature,
		newSecrets: func(s []Secret, tolerance time.Duration) (scheme, error) {
			return NewStripe(s, clock, WithTolerance(tolerance))
		},
		minSecret: minStripeSecretLen,
		ref: func(m Message, idx ...int) string {
			v1 := func(k Secret) string { return ",v1=" + refStripe(k.Bytes(), unixText(m), m.Body) }
			return "t=" + unixText(m) + strings.Join(each(hmPool, idx, v1), "")
		},
		id: func(_ Message, h http.Header) string {
			v := h.Get(HeaderStripeSignature)
			return hubSigID(v[strings.Index(v, "v1="):])
		},
		keyID:    positionKeyID,
		signsAll: true,
		timed:    true,
	}, {
		scheme: schemeStandard,
		header: HeaderWebhookSignature,
		newSecrets: func(s []Secret, tolerance time.Duration) (scheme, error) {
			return NewStandard(s, clock, WithTolerance(tolerance))
		},
		minSecret: minStandardSecretLen,
		ref: func(m Message, idx ...int) string {
			v1 := func(k Secret) string { return refStandard(k.Bytes(), m.ID, unixText(m), m.Body) }
			return strings.Join(each(hmPool, idx, v1), " ")
		},
		id:         func(m Message, _ http.Header) string { return m.ID },
		keyID:      positionKeyID,
		signsAll:   true,
		timed:      true,
		idRequired: true,
	}, {
		scheme: schemeStandardV1a,
		header: HeaderWebhookSignature,
		newKeys: func(k []PrivateKey, tolerance time.Duration) (scheme, error) {
			return NewStandardV1a(k, clock, WithTolerance(tolerance))
		},
		newPublic: func(k []PublicKey, tolerance time.Duration) (scheme, error) {
			return NewStandardV1aVerifier(k, clock, WithTolerance(tolerance))
		},
		keys: v1aPool,
		ref: func(m Message, idx ...int) string {
			v1a := func(k PrivateKey) string { return refV1a(k, m.ID, unixText(m), m.Body) }
			return strings.Join(each(v1aPool, idx, v1a), " ")
		},
		id: func(m Message, _ http.Header) string { return m.ID },
		keyID: func(i, pos int) string {
			if id := v1aPool[i].ID(); id != "" {
				return id
			}
			return strconv.Itoa(pos)
		},
		signsAll:   true,
		timed:      true,
		idRequired: true,
	}}
}

// keyedSchemeNamed returns the row of keyedSchemes for scheme.
func keyedSchemeNamed(t testing.TB, scheme string) keyedScheme {
	for _, r := range keyedSchemes(t) {
		if r.scheme == scheme {
			return r
		}
	}
	t.Fatalf("no keyed scheme %s", scheme)
	return keyedScheme{}
}

// signer builds r's scheme signing with the pool keys idx.
func (r keyedScheme) signer(t testing.TB, idx ...int) scheme {
	if r.newSecrets == nil {
		return must(r.newKeys(pick(r.keys, idx), 0))(t)
	}
	return must(r.newSecrets(pick(hmPool, idx), 0))(t)
}

// verifier builds r's verifier of the pool keys idx, with tolerance (0: the
// default): for v1a from their public halves, as a receiver holds them.
func (r keyedScheme) verifier(t testing.TB, tolerance time.Duration, idx ...int) scheme {
	if r.newSecrets == nil {
		var pubs []PublicKey
		for _, k := range pick(r.keys, idx) {
			pubs = append(pubs, k.Public())
		}
		return must(r.newPublic(pubs, tolerance))(t)
	}
	return must(r.newSecrets(pick(hmPool, idx), tolerance))(t)
}

// v1aTestPool is the Ed25519 key pool of the v1a row: a named key, so that
// KeyID reports a name, and two unnamed ones, so that it reports a position.
func v1aTestPool(t testing.TB) []PrivateKey {
	ks := asymKeys(t)
	other := must(NewPrivateKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)), ""))(t)
	return []PrivateKey{ks.ed, ks.ed2.withID(""), other}
}

// verifyCase is one request shown to a verifier and what it must answer.
type verifyCase struct {
	name      string
	h         http.Header
	body      []byte        // nil: the run's body
	keys      []int         // the verifier's keys; nil: key 0 alone
	tolerance time.Duration // 0: the default
	want      error         // nil: accepted
	keyID     string        // Verified.KeyID when accepted
	id        string        // Verified.ID when accepted; "": the run's id(h)
}

// verifyRun checks verifyCases against one scheme: a refused request gets
// an error matching want with errors.Is, a zero Verified and an error text
// that shows none of secrets; an accepted one reports scheme, id(h) of its
// headers h and the case's keyID.
type verifyRun struct {
	scheme   string
	id       func(h http.Header) string
	body     []byte
	verifier func(t testing.TB, tolerance time.Duration, idx ...int) scheme
	secrets  []string
}

func (r verifyRun) run(t *testing.T, cases []verifyCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys, body := c.keys, c.body
			if keys == nil {
				keys = []int{0}
			}
			if body == nil {
				body = r.body
			}
			v, err := r.verifier(t, c.tolerance, keys...).Verify(c.h, body)
			hmWantErr(t, err, c.want)
			if err != nil {
				if v.Scheme != "" || v.ID != "" || v.KeyID != "" || !v.Timestamp.IsZero() || v.Claims != nil {
					t.Fatalf("failed Verify returned %+v", v)
				}
				noLeak(t, err.Error(), r.secrets...)
				return
			}
			id := c.id
			if id == "" {
				id = r.id(c.h)
			}
			if v.Scheme != r.scheme || v.ID != id || v.KeyID != c.keyID {
				t.Fatalf("Verified = %+v, want Scheme %s, ID %q, KeyID %q", v, r.scheme, id, c.keyID)
			}
		})
	}
}

// TestKeyedSchemesVerify runs the refusals every scheme shares: a changed
// body, a wrong key, a missing, empty or oversized signature header, and
// for the timed schemes a timestamp outside the tolerance.
func TestKeyedSchemesVerify(t *testing.T) {
	for _, r := range keyedSchemes(t) {
		t.Run(r.scheme, func(t *testing.T) {
			m := Message{ID: "msg_1", Timestamp: hmTime, Body: []byte(`{"n":1}`)}
			signedAt := func(at time.Time) http.Header {
				m := m
				m.Timestamp = at
				return signed(t, r.signer(t, 0), m)
			}
			good := signedAt(hmTime)
			sig := func(v ...string) http.Header {
				return editHeader(good, func(h http.Header) { h[r.header] = v })
			}
			cases := []verifyCase{
				{name: "valid", h: good, keyID: r.keyID(0, 0)},
				{name: "second key", h: good, keys: []int{2, 0}, keyID: r.keyID(0, 1), id: secondKeyID(r.scheme, m)},
				{name: "tampered body", h: good, body: []byte(`{"n":2}`), want: ErrBadSignature},
				{name: "empty body", h: good, body: []byte{}, want: ErrBadSignature},
				{name: "wrong key", h: good, keys: []int{2}, want: ErrBadSignature},
				{name: "no signature header", h: sig(), want: ErrNoSignature},
				{name: "empty signature header", h: sig(""), want: ErrNoSignature},
				{name: "oversized signature header", h: sig(good.Get(r.header) + strings.Repeat("A", 5000)), want: ErrMalformed},
			}
			if r.timed {
				cases = append(cases,
					verifyCase{name: "expired", h: signedAt(hmTime.Add(-defaultTolerance - time.Second)), want: ErrExpired},
					verifyCase{name: "future", h: signedAt(hmTime.Add(defaultTolerance + time.Second)), want: errNotYetValid},
					verifyCase{name: "edge of tolerance", h: signedAt(hmTime.Add(-defaultTolerance)), keyID: r.keyID(0, 0)},
					verifyCase{name: "custom tolerance", h: signedAt(hmTime.Add(-2 * time.Minute)), tolerance: time.Minute, want: ErrExpired},
				)
			}
			secrets := []string{string(hmPool[0].Bytes()), good.Get(r.header)}
			id := func(h http.Header) string { return r.id(m, h) }
			verifyRun{scheme: r.scheme, id: id, body: m.Body, verifier: r.verifier, secrets: secrets}.run(t, cases)
		})
	}
}

// TestKeyedSchemesRotation signs with an old and a new key and checks the
// header against an independent reference, then which verifier key lists
// accept it: every list holding a key that signed, reporting its KeyID.
func TestKeyedSchemesRotation(t *testing.T) {
	for _, r := range keyedSchemes(t) {
		t.Run(r.scheme, func(t *testing.T) {
			m := Message{ID: "msg_1", Timestamp: hmTime, Body: []byte("rotate me")}
			h := signed(t, r.signer(t, 0, 1), m)
			signers := []int{0, 1}
			if !r.signsAll {
				signers = signers[:1]
			}
			if got, want := h[r.header], r.ref(m, signers...); len(got) != 1 || got[0] != want {
				t.Fatalf("%s = %q, want the one value %q", r.header, got, want)
			}
			for _, idx := range [][]int{{0}, {1}, {2, 1}, {2, 0}, {2}} {
				v, err := r.verifier(t, 0, idx...).Verify(h, m.Body)
				pos := len(idx) - 1 // the last key is the only one that may have signed
				if idx[pos] == 2 || (!r.signsAll && idx[pos] != 0) {
					if !errors.Is(err, ErrBadSignature) {
						t.Fatalf("keys %v: %+v, %v; want ErrBadSignature", idx, v, err)
					}
					continue
				}
				if want := r.keyID(idx[pos], pos); err != nil || v.KeyID != want {
					t.Fatalf("keys %v: %+v, %v; want KeyID %q", idx, v, err, want)
				}
			}
		})
	}
}

// TestKeyedSchemesSignRefuses checks that Sign refuses an id that cannot
// be sent as a header, and for the timed schemes a time before 1970, setting
// no header; and that a scheme needing no id signs without one, setting its
// signature header alone.
func TestKeyedSchemesSignRefuses(t *testing.T) {
	for _, r := range keyedSchemes(t) {
		t.Run(r.scheme, func(t *testing.T) {
			s := r.signer(t, 0)
			bad := map[string]Message{
				"newline id": {ID: "a\r\nX-Evil: 1"},
				"space id":   {ID: "a b"},
				"huge id":    {ID: strings.Repeat("i", maxIDLen+1)},
			}
			if r.timed {
				bad["before epoch"] = Message{ID: "a", Timestamp: time.Unix(-5, 0)}
			}
			if r.idRequired {
				bad["empty id"] = Message{}
			} else if h := signed(t, s, Message{Body: []byte("x")}); len(h) != 1 || len(h[r.header]) != 1 {
				t.Fatalf("Sign without an id set %v", h)
			}
			for name, m := range bad {
				h := http.Header{}
				if err := s.Sign(h, m); err == nil {
					t.Errorf("%s: Sign succeeded", name)
				}
				if len(h) != 0 {
					t.Errorf("%s: Sign set headers on failure: %v", name, h)
				}
			}
		})
	}
}

// TestKeyedSchemesRefuseSecrets checks that each HMAC scheme refuses no
// secret, an empty one and one shorter than its minimum, anywhere in the
// list, with ErrBadKey; and accepts a secret of exactly the minimum.
func TestKeyedSchemesRefuseSecrets(t *testing.T) {
	for _, r := range keyedSchemes(t) {
		if r.newSecrets == nil {
			continue // v1a takes keys: TestStandardV1aConstructors
		}
		t.Run(r.scheme, func(t *testing.T) {
			for name, secrets := range map[string][]Secret{
				"nil":          nil,
				"empty":        {},
				"zero secret":  {{}},
				"short":        {hmSecret(1, r.minSecret-1)},
				"one short":    {hmSecret(1, r.minSecret), hmSecret(2, r.minSecret-1)},
				"empty second": {hmSecret(1, r.minSecret), NewSecret(nil)},
			} {
				if _, err := r.newSecrets(secrets, 0); !errors.Is(err, ErrBadKey) {
					t.Errorf("%s: %v, want ErrBadKey", name, err)
				}
			}
			if _, err := r.newSecrets([]Secret{hmSecret(1, r.minSecret)}, 0); err != nil {
				t.Fatalf("%d-byte secret refused: %v", r.minSecret, err)
			}
		})
	}
}

// secondKeyID is the Verified.ID of TestKeyedSchemesVerify's "second key"
// case, where the verifier holds pool keys 2 and 0 and key 0 signed: for
// Stripe the ID is the digest of the MAC under the verifier's first secret,
// whichever v1 matched (a replayer chooses which v1 values are left); ""
// (the run's id) for the others.
func secondKeyID(scheme string, m Message) string {
	if scheme != schemeStripe {
		return ""
	}
	return hubSigID("v1=" + refStripe(hmPool[2].Bytes(), unixText(m), m.Body))
}
