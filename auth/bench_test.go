package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

// hmBenchSizes are the body sizes every HMAC benchmark runs at, so that each
// scheme can be read as a ratio of BenchmarkRawHMAC at the same size.
var hmBenchSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}}

// hmBenchID is a typical delivery id (a UUIDv7 with a prefix).
const hmBenchID = "msg_01890a5d-ac96-774b-bcce-b302099a8057"

// BenchmarkRawHMAC is the baseline: HMAC-SHA256 of the body with one
// hash reused (Reset) per op, no encoding, no headers.
func BenchmarkRawHMAC(b *testing.B) {
	key := hmSecret(1, 32).Bytes()
	for _, sz := range hmBenchSizes {
		b.Run(sz.name, func(b *testing.B) {
			body := bytes.Repeat([]byte("a"), sz.n)
			m := hmac.New(sha256.New, key)
			var sum [32]byte
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				m.Reset()
				m.Write(body)
				m.Sum(sum[:0])
			}
		})
	}
}

// hmBenchSignVerify runs Sign (re-using one header map, as sender does per
// attempt) and Verify of one scheme at every size.
func hmBenchSignVerify(b *testing.B, sv interface {
	Signer
	Verifier
}, sign bool) {
	sv = &Scheme{s: sv} // what the constructors hand out
	for _, sz := range hmBenchSizes {
		b.Run(sz.name, func(b *testing.B) {
			body := bytes.Repeat([]byte("a"), sz.n)
			m := Message{ID: hmBenchID, Body: body}
			h := signed(b, sv, m)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			if sign {
				for b.Loop() {
					if err := sv.Sign(h, m); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			for b.Loop() {
				if _, err := sv.Verify(h, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStandardSign measures Standard Webhooks v1 Sign with one secret; compare with BenchmarkRawHMAC.
func BenchmarkStandardSign(b *testing.B) {
	hmBenchSignVerify(b, must(NewStandard([]Secret{hmSecret(1, 32)}, WithClock(hmClock)))(b), true)
}

// BenchmarkStandardVerify measures Standard Webhooks v1 Verify with one secret; compare with BenchmarkRawHMAC.
func BenchmarkStandardVerify(b *testing.B) {
	hmBenchSignVerify(b, must(NewStandard([]Secret{hmSecret(1, 32)}, WithClock(hmClock)))(b), false)
}

// BenchmarkHubSign measures Hub Sign with one secret; compare with BenchmarkRawHMAC.
func BenchmarkHubSign(b *testing.B) {
	hmBenchSignVerify(b, must(NewHub([]Secret{hmSecret(1, 32)}))(b), true)
}

// BenchmarkHubVerify measures Hub Verify with one secret; compare with BenchmarkRawHMAC.
func BenchmarkHubVerify(b *testing.B) {
	hmBenchSignVerify(b, must(NewHub([]Secret{hmSecret(1, 32)}))(b), false)
}

// BenchmarkStripeSign measures Stripe Sign with one secret; compare with BenchmarkRawHMAC.
func BenchmarkStripeSign(b *testing.B) {
	hmBenchSignVerify(b, must(NewStripe([]Secret{hmSecret(1, 32)}, WithClock(hmClock)))(b), true)
}

// BenchmarkStripeVerify measures Stripe Verify with one secret; compare with BenchmarkRawHMAC.
func BenchmarkStripeVerify(b *testing.B) {
	hmBenchSignVerify(b, must(NewStripe([]Secret{hmSecret(1, 32)}, WithClock(hmClock)))(b), false)
}
