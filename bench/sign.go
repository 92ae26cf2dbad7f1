package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/auth"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// errMismatch is what the baselines report when a signature does not verify.
var errMismatch = errors.New("baseline: signature mismatch")

// benchID is the delivery id every signing benchmark signs.
const benchID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"

// auth's defaults, which the baselines apply too, so that both sides do
// the same checks.
const (
	authTolerance = 5 * time.Minute  // WithTolerance
	authTTL       = 5 * time.Minute  // WithTTL
	authLeeway    = 30 * time.Second // WithLeeway
)

// signSizes are the body sizes of the signing section.
var signSizes = []int{1 << 10, 16 << 10}

// body returns n bytes of JSON-ish payload, the same for every run.
func body(n int) []byte {
	b := bytes.Repeat([]byte(`{"k":"abcdefghijklmnopqrstuvwxyz0123456789"},`), n/45+1)
	return b[:n]
}

// sizeName formats a body size as "1 KiB".
func sizeName(n int) string { return fmt.Sprintf("%d KiB", n>>10) }

// signCases builds the comparisons of section 1 except JWT: Standard
// Webhooks v1 against raw HMAC and the reference library, Hub and Stripe
// against raw HMAC, v1a against raw Ed25519.
func signCases() ([]microCase, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	ts := time.Now()
	var cases []microCase
	for _, n := range signSizes {
		b := body(n)
		c, err := standardCases(key, ts, b)
		if err != nil {
			return nil, err
		}
		cases = append(cases, c...)
		if c, err = hubCases(key, b); err != nil {
			return nil, err
		}
		cases = append(cases, c...)
		if c, err = stripeCases(key, ts, b); err != nil {
			return nil, err
		}
		cases = append(cases, c...)
		if c, err = v1aCases(ts, b); err != nil {
			return nil, err
		}
		cases = append(cases, c...)
	}
	return cases, nil
}

// signVerifyCases returns the two comparisons of scheme s named name
// ("hub"): signing msg, and verifying the headers s signs msg with.
// baselines gets those headers and returns the sign and the verify
// baselines; lims, if any, holds the targets of both cases.
func signVerifyCases(name string, s *auth.Scheme, msg auth.Message, lims []limit,
	baselines func(signed http.Header) (sign, verify []contender, err error)) ([]microCase, error) {
	signed := make(http.Header)
	if err := s.Sign(signed, msg); err != nil {
		return nil, err
	}
	sign, verify, err := baselines(signed)
	if err != nil {
		return nil, err
	}
	h := make(http.Header)
	size := sizeName(len(msg.Body))
	return []microCase{
		{
			name:      name + " sign " + size,
			herald:    contender{"herald", func() error { return s.Sign(h, msg) }},
			baselines: sign,
			limits:    lims,
		},
		{
			name:      name + " verify " + size,
			herald:    contender{"herald", func() error { _, err := s.Verify(signed, msg.Body); return err }},
			baselines: verify,
			limits:    lims,
		},
	}, nil
}

// standardSig is how the Standard Webhooks baselines read the headers:
// the timestamp, refused beyond the tolerance as auth refuses it, and the
// signature after prefix ("v1," or "v1a,") in sigHeader.
func standardSig(signed http.Header, sigHeader, prefix string) (int64, string, error) {
	t, err := strconv.ParseInt(signed.Get("Webhook-Timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(t, 0)).Abs() > authTolerance {
		return 0, "", errMismatch
	}
	v, ok := strings.CutPrefix(sigHeader, prefix)
	if !ok {
		return 0, "", errMismatch
	}
	return t, v, nil
}

// rawMAC is the baseline HMAC-SHA256: one hash reused with Reset, and
// buffers reused for the sum and its encoding.
type rawMAC struct {
	h       hash.Hash
	sum     []byte
	enc     []byte
	dec     []byte
	ts      []byte
	scratch []byte
}

// bytes copies s into a reused buffer, so that the baselines do not pay an
// allocation for a string-to-bytes conversion.
func (m *rawMAC) bytes(s string) []byte {
	m.scratch = append(m.scratch[:0], s...)
	return m.scratch
}

// newRawMAC returns a rawMAC keyed with key.
func newRawMAC(key []byte) *rawMAC {
	return &rawMAC{h: hmac.New(sha256.New, key), enc: make([]byte, 128), dec: make([]byte, 64)}
}

// mac computes the HMAC of the concatenation of parts into m.sum.
func (m *rawMAC) mac(parts ...[]byte) []byte {
	m.h.Reset()
	for _, p := range parts {
		m.h.Write(p)
	}
	m.sum = m.h.Sum(m.sum[:0])
	return m.sum
}

// standardCases compares herald's Standard Webhooks v1 with raw HMAC over
// id.ts.body and with the Standard Webhooks Go library, both ways.
func standardCases(key []byte, ts time.Time, b []byte) ([]microCase, error) {
	std, err := auth.NewStandard([]auth.Secret{auth.NewSecret(key)})
	if err != nil {
		return nil, err
	}
	peer, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return nil, err
	}
	lims := []limit{{}, {}}
	if len(b) == 1<<10 {
		lims = []limit{{1.3}, {0.5}}
	}
	raw := newRawMAC(key)
	id, dot, unix := []byte(benchID), []byte("."), ts.Unix()
	return signVerifyCases("standard v1", std, auth.Message{ID: benchID, Timestamp: ts, Body: b}, lims,
		func(signed http.Header) ([]contender, []contender, error) {
			// The reference library must accept herald's signature, or the
			// comparison would be of two different things.
			if err := peer.Verify(b, signed); err != nil {
				return nil, nil, fmt.Errorf("reference library refuses herald's signature: %w", err)
			}
			rawSign := func() error {
				raw.ts = strconv.AppendInt(raw.ts[:0], unix, 10)
				sum := raw.mac(id, dot, raw.ts, dot, b)
				base64.StdEncoding.Encode(raw.enc, sum)
				return nil
			}
			sigHeader := signed.Get("Webhook-Signature")
			rawVerify := func() error {
				t, v, err := standardSig(signed, sigHeader, "v1,")
				if err != nil {
					return err
				}
				k, err := base64.StdEncoding.Decode(raw.dec, raw.bytes(v))
				if err != nil {
					return err
				}
				raw.ts = strconv.AppendInt(raw.ts[:0], t, 10)
				if !hmac.Equal(raw.mac(raw.bytes(signed.Get("Webhook-Id")), dot, raw.ts, dot, b), raw.dec[:k]) {
					return errMismatch
				}
				return nil
			}
			sign := []contender{
				{"raw HMAC-SHA256", rawSign},
				{"standard-webhooks lib", func() error { _, err := peer.Sign(benchID, ts, b); return err }},
			}
			verify := []contender{
				{"raw HMAC-SHA256", rawVerify},
				{"standard-webhooks lib", func() error { return peer.Verify(b, signed) }},
			}
			return sign, verify, nil
		})
}

// hubCases compares herald's Hub scheme with a raw HMAC over the body,
// hex-encoded as GitHub sends it.
func hubCases(key, b []byte) ([]microCase, error) {
	hub, err := auth.NewHub([]auth.Secret{auth.NewSecret(key)})
	if err != nil {
		return nil, err
	}
	raw := newRawMAC(key)
	return signVerifyCases("hub", hub, auth.Message{ID: benchID, Body: b}, nil,
		func(signed http.Header) ([]contender, []contender, error) {
			value := signed.Get(auth.HeaderHubSignature256)
			rawSign := func() error {
				hex.Encode(raw.enc, raw.mac(b))
				return nil
			}
			rawVerify := func() error {
				v, ok := strings.CutPrefix(value, "sha256=")
				if !ok {
					return errMismatch
				}
				k, err := hex.Decode(raw.dec, raw.bytes(v))
				if err != nil {
					return err
				}
				if !hmac.Equal(raw.mac(b), raw.dec[:k]) {
					return errMismatch
				}
				return nil
			}
			return []contender{{"raw HMAC-SHA256", rawSign}}, []contender{{"raw HMAC-SHA256", rawVerify}}, nil
		})
}

// stripeCases compares herald's Stripe scheme with a raw HMAC over t.body.
func stripeCases(key []byte, ts time.Time, b []byte) ([]microCase, error) {
	st, err := auth.NewStripe([]auth.Secret{auth.NewSecret(key)})
	if err != nil {
		return nil, err
	}
	raw := newRawMAC(key)
	dot, unix := []byte("."), ts.Unix()
	return signVerifyCases("stripe", st, auth.Message{ID: benchID, Timestamp: ts, Body: b}, nil,
		func(signed http.Header) ([]contender, []contender, error) {
			value := signed.Get(auth.HeaderStripeSignature)
			rawSign := func() error {
				raw.ts = strconv.AppendInt(raw.ts[:0], unix, 10)
				hex.Encode(raw.enc, raw.mac(raw.ts, dot, b))
				return nil
			}
			rawVerify := func() error {
				t, sig, ok := strings.Cut(value, ",v1=")
				t, ok2 := strings.CutPrefix(t, "t=")
				if !ok || !ok2 {
					return errMismatch
				}
				u, err := strconv.ParseInt(t, 10, 64)
				if err != nil || time.Since(time.Unix(u, 0)).Abs() > authTolerance {
					return errMismatch
				}
				k, err := hex.Decode(raw.dec, raw.bytes(sig))
				if err != nil {
					return err
				}
				raw.ts = append(raw.ts[:0], t...)
				if !hmac.Equal(raw.mac(raw.ts, dot, b), raw.dec[:k]) {
					return errMismatch
				}
				return nil
			}
			return []contender{{"raw HMAC-SHA256", rawSign}}, []contender{{"raw HMAC-SHA256", rawVerify}}, nil
		})
}

// v1aCases compares herald's Standard Webhooks v1a with raw Ed25519 over
// id.ts.body.
func v1aCases(ts time.Time, b []byte) ([]microCase, error) {
	pk, err := auth.GeneratePrivateKey("EdDSA")
	if err != nil {
		return nil, err
	}
	s, err := auth.NewStandardV1a([]auth.PrivateKey{pk})
	if err != nil {
		return nil, err
	}
	priv := pk.Signer().(ed25519.PrivateKey)
	pub := priv.Public().(ed25519.PublicKey)
	unix := ts.Unix()
	var buf []byte
	enc := make([]byte, 128)
	dec := make([]byte, 96)
	var scratch []byte
	build := func(id string, t int64) []byte {
		buf = append(buf[:0], id...)
		buf = append(buf, '.')
		buf = strconv.AppendInt(buf, t, 10)
		buf = append(buf, '.')
		return append(buf, b...)
	}
	return signVerifyCases("standard v1a", s, auth.Message{ID: benchID, Timestamp: ts, Body: b}, nil,
		func(signed http.Header) ([]contender, []contender, error) {
			sigHeader := signed.Get("Webhook-Signature")
			rawSign := func() error {
				base64.StdEncoding.Encode(enc, ed25519.Sign(priv, build(benchID, unix)))
				return nil
			}
			rawVerify := func() error {
				t, v, err := standardSig(signed, sigHeader, "v1a,")
				if err != nil {
					return err
				}
				scratch = append(scratch[:0], v...)
				k, err := base64.StdEncoding.Decode(dec, scratch)
				if err != nil {
					return err
				}
				if !ed25519.Verify(pub, build(signed.Get("Webhook-Id"), t), dec[:k]) {
					return errMismatch
				}
				return nil
			}
			return []contender{{"raw ed25519", rawSign}}, []contender{{"raw ed25519", rawVerify}}, nil
		})
}

// runSign measures section 1: signing and verifying with every scheme
// against its baselines.
func runSign(cfg config) ([]Row, []error) {
	cases, err := signCases()
	if err != nil {
		return nil, []error{fmt.Errorf("sign: %w", err)}
	}
	jc, err := jwtCases()
	if err != nil {
		return nil, []error{fmt.Errorf("sign: %w", err)}
	}
	return runCases("sign", cfg.microRuns, append(cases, jc...))
}
