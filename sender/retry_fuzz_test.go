package sender

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzRetryAfter: a receiver's Retry-After (the first, when it sends
// several) is a delay in seconds or an HTTP date. Whatever it sends,
// retryAfter never panics and never answers a negative wait; digits are
// read as seconds exactly, saturating rather than wrapping; anything else
// it takes is an HTTP date; a value over 64 bytes is ignored. The wait
// that follows is within [0, MaxWait].
func FuzzRetryAfter(f *testing.F) {
	for _, v := range []string{
		"", "0", "30", " 30 ", "-1", "+5", "1.5", "0x10", "1e3", "30\x00", "3\r\n0",
		"9223372036", "9223372037", "9223372036854775807", "18446744073709551615", "99999999999999999999999",
		"Fri, 02 Jan 2026 03:04:35 GMT", "Friday, 02-Jan-26 03:04:35 GMT", "Fri Jan  2 03:04:35 2026",
		"Thu, 01 Jan 1970 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "Fri, 02 Jan 2026 03:04:35 GMT\xff",
		strings.Repeat("9", 65), "\xff\xfe",
	} {
		f.Add(v, "", uint8(1))
	}
	f.Add("30", "0", uint8(3))
	f.Fuzz(func(t *testing.T, v, second string, attempt uint8) {
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		h := http.Header{"Retry-After": {v, second}}
		d, ok := retryAfter(h, now)
		tv := strings.TrimSpace(v)
		switch {
		case ok && d < 0:
			t.Fatalf("Retry-After %q: negative wait %s", v, d)
		case ok && (tv == "" || len(tv) > maxRetryAfter):
			t.Fatalf("Retry-After %q (%d bytes trimmed): taken as %s", v, len(tv), d)
		case tv != "" && len(tv) <= maxRetryAfter && strings.Trim(tv, "0123456789") == "":
			const maxSecs = (1<<63 - 1) / int64(time.Second)
			secs, err := strconv.ParseUint(tv, 10, 64)
			if !ok || err == nil && secs <= uint64(maxSecs) && d != time.Duration(secs)*time.Second || (err != nil || secs > uint64(maxSecs)) && d < time.Duration(maxSecs)*time.Second {
				t.Fatalf("Retry-After %q: %s, %v; want that many seconds, saturated", v, d, ok)
			}
		case ok:
			at, err := http.ParseTime(tv)
			if err != nil || d != max(at.Sub(now), 0) {
				t.Fatalf("Retry-After %q: %s, taken though not a delay, and as a date %v (%v)", v, d, at, err)
			}
		}
		p := RetryPolicy{MinWait: time.Millisecond, MaxWait: time.Minute}.withDefaults()
		if w := p.wait(int(attempt), &http.Response{Header: h}, now); w < 0 || w > p.MaxWait {
			t.Fatalf("Retry-After %q, attempt %d: wait %s outside [0, %s]", v, attempt, w, p.MaxWait)
		}
	})
}
