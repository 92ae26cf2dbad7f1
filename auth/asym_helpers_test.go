package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"net/http"
	"sync"
	"testing"
	"time"
)

// asymNow is the fixed clock of the v1a, JWT and key tests.
var asymNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func asymClock() time.Time { return asymNow }

// asymMsg is a typical delivery; its URL carries a query that must never
// reach a token or an error.
func asymMsg() Message {
	return Message{
		ID:        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
		Timestamp: asymNow,
		Body:      []byte(`{"type":"contact.created","data":{"id":"1f81eb52"}}`),
		URL:       "https://user:pw@hooks.example.com/in?token=QUERYSECRET#frag",
		Topic:     "contact:created",
	}
}

// asymTestKeys are deterministic Ed25519 and ECDSA keys (so that failures
// reproduce) and one RSA key generated once per test binary.
type asymTestKeys struct {
	ed, ed2, ec, ec2, rsa PrivateKey
}

var (
	asymKeysOnce sync.Once
	asymKeysVal  asymTestKeys
)

func asymKeys(t testing.TB) asymTestKeys {
	t.Helper()
	asymKeysOnce.Do(func() {
		mustKey := func(k PrivateKey, err error) PrivateKey {
			if err != nil {
				panic(err) // test set-up only
			}
			return k
		}
		seed := func(b byte) []byte {
			s := make([]byte, ed25519.SeedSize)
			for i := range s {
				s[i] = b + byte(i)
			}
			return s
		}
		asymKeysVal.ed = mustKey(NewPrivateKey(ed25519.NewKeyFromSeed(seed(1)), "ed-1"))
		asymKeysVal.ed2 = mustKey(NewPrivateKey(ed25519.NewKeyFromSeed(seed(100)), "ed-2"))
		ec, err := ecdsa.GenerateKey(elliptic.P256(), deterministicReader(7))
		if err != nil {
			panic(err)
		}
		asymKeysVal.ec = mustKey(NewPrivateKey(ec, "ec-1"))
		ec2, err := ecdsa.GenerateKey(elliptic.P256(), deterministicReader(9))
		if err != nil {
			panic(err)
		}
		asymKeysVal.ec2 = mustKey(NewPrivateKey(ec2, "ec-2"))
		rk, err := rsa.GenerateKey(deterministicReader(3), 2048)
		if err != nil {
			panic(err)
		}
		asymKeysVal.rsa = mustKey(NewPrivateKey(rk, "rsa-1"))
	})
	return asymKeysVal
}

// deterministicReader is a byte stream for key generation in tests. Go's
// key generators may ignore it (they are deliberately non-deterministic for
// some key types); that only costs reproducibility, not correctness.
type deterministicReader byte

func (r deterministicReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r) + byte(i*31)
	}
	return len(p), nil
}

// cloneHeader copies h so that a test can tamper with one copy.
func cloneHeader(h http.Header) http.Header { return h.Clone() }

// refV1a computes a Standard Webhooks v1a signature by k, an Ed25519 key,
// independently of the code under test.
func refV1a(k PrivateKey, id, ts string, body []byte) string {
	sig := ed25519.Sign(k.Signer().(ed25519.PrivateKey), []byte(id+"."+ts+"."+string(body)))
	return "v1a," + base64.StdEncoding.EncodeToString(sig)
}
