package sender

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRetryPolicyDefaults(t *testing.T) {
	p := RetryPolicy{}.withDefaults()
	want := RetryPolicy{MaxAttempts: 5, MinWait: 500 * time.Millisecond, MaxWait: 30 * time.Second, MaxElapsed: 2 * time.Minute}
	if p != want {
		t.Fatalf("defaults = %+v, want %+v", p, want)
	}
	p = RetryPolicy{MaxAttempts: -1, MinWait: time.Second, MaxWait: time.Millisecond}.withDefaults()
	if p.MaxAttempts != want.MaxAttempts || p.MaxWait != time.Second {
		t.Fatalf("MaxWait below MinWait: %+v", p)
	}
}

func TestBackoffJitter(t *testing.T) {
	p := RetryPolicy{MinWait: 10 * time.Millisecond, MaxWait: 200 * time.Millisecond}.withDefaults()
	for attempt := 1; attempt <= 70; attempt++ {
		ceiling := min(p.MaxWait, p.MinWait<<min(attempt, 20))
		seen := map[time.Duration]bool{}
		for range 200 {
			w := p.wait(attempt, nil, time.Now())
			if w < p.MinWait || w > ceiling {
				t.Fatalf("attempt %d: wait %s outside [%s, %s]", attempt, w, p.MinWait, ceiling)
			}
			seen[w] = true
		}
		if len(seen) < 10 {
			t.Fatalf("attempt %d: only %d distinct waits: no jitter", attempt, len(seen))
		}
	}
	// Huge MinWait must not overflow into a negative wait.
	big := RetryPolicy{MinWait: time.Duration(1 << 60), MaxWait: time.Duration(1<<63 - 1)}.withDefaults()
	for attempt := 1; attempt < 70; attempt++ {
		if w := big.wait(attempt, nil, time.Now()); w < big.MinWait {
			t.Fatalf("attempt %d: wait %s", attempt, w)
		}
	}
	if w := (RetryPolicy{MinWait: time.Second, MaxWait: time.Second}).withDefaults().wait(3, nil, time.Now()); w != time.Second {
		t.Fatalf("MinWait == MaxWait: %s", w)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := RetryPolicy{MinWait: time.Millisecond, MaxWait: time.Minute}.withDefaults()
	tests := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"3600", time.Minute, true}, // capped by MaxWait
		{"99999999999999999999", time.Minute, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(time.Hour).Format(http.TimeFormat), time.Minute, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second, true},
		{"-5", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
		{"99999999999999999999x", 0, false}, // too large, and not a number either
		{strings.Repeat("9", 100), 0, false},
	}
	for _, tt := range tests {
		resp := &http.Response{Header: http.Header{"Retry-After": {tt.value}}}
		_, ok := retryAfter(resp.Header, now)
		if ok != tt.ok {
			t.Errorf("retryAfter(%q) ok = %v, want %v", tt.value, ok, tt.ok)
			continue
		}
		w := p.wait(1, resp, now)
		if tt.ok && w != tt.want {
			t.Errorf("wait with Retry-After %q = %s, want %s", tt.value, w, tt.want)
		}
		if !tt.ok && (w < p.MinWait || w > 2*p.MinWait) {
			t.Errorf("wait with bad Retry-After %q = %s, want the plain backoff", tt.value, w)
		}
	}
}

func TestClassify(t *testing.T) {
	for code, want := range map[int]struct {
		err   error
		retry bool
	}{
		200: {nil, false}, 204: {nil, false}, 299: {nil, false},
		301: {ErrRejected, false}, 302: {ErrRejected, false}, 304: {ErrRejected, false}, 307: {ErrRejected, false}, 308: {ErrRejected, false},
		400: {ErrRejected, false}, 401: {ErrRejected, false}, 403: {ErrRejected, false}, 404: {ErrRejected, false},
		409: {ErrRejected, false}, 413: {ErrRejected, false}, 422: {ErrRejected, false},
		408: {ErrRateLimited, true}, 425: {ErrRateLimited, true}, 429: {ErrRateLimited, true},
		410: {ErrGone, false},
		500: {ErrServer, true}, 502: {ErrServer, true}, 503: {ErrServer, true}, 504: {ErrServer, true},
		501: {ErrServer, false}, 505: {ErrServer, false}, 511: {ErrServer, false},
		100: {ErrRejected, false}, 600: {ErrRejected, false},
	} {
		err, retry := classify(&http.Response{StatusCode: code}, nil, time.Second)
		if retry != want.retry || (want.err == nil) != (err == nil) || (want.err != nil && !errors.Is(err, want.err)) {
			t.Errorf("status %d: %v, retry %v; want %v, %v", code, err, retry, want.err, want.retry)
		}
	}
	// net/http's *url.Error quotes the whole URL: it must be dropped.
	raw := &url.Error{Op: "Post", URL: "https://example.com/x?token=hunter2", Err: fmt.Errorf("dial: %w", errors.New("connection refused"))}
	err, retry := classify(nil, raw, time.Second)
	if !retry || !errors.Is(err, ErrNetwork) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("network error: %v, retry %v", err, retry)
	}
}
