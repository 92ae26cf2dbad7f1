package main

import (
	"strings"
	"testing"
)

// TestVerifyFarTimestampNotSaturated: a timestamp centuries from --now,
// with the widest --tolerance, is refused with what it is, not with a
// duration saturated at 2562047h47m.
func TestVerifyFarTimestampNotSaturated(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "body.json", body)
	o := runOpts{dir: dir}
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	far := "99999999999" // the year 5138
	h := must(t, o, "sign", "--secret", secret, "--id", "far", "--timestamp", far, "body.json").stdout
	writeFile(t, dir, "h.txt", h)
	r := expect(t, o, 1, []string{"invalid", "5138-"}, "verify", "--secret", secret, "--headers", "h.txt",
		"--now", "1700000000", "--tolerance", "2562047h", "body.json")
	if strings.Contains(r.stderr, "2562047h47m") {
		t.Errorf("verify reports a saturated duration: %s", r.stderr)
	}
	// A timestamp past what a time.Time holds is out of range, not a
	// date wrapped around into the past.
	h = must(t, o, "sign", "--secret", secret, "--id", "max", "--timestamp", "9223372036854775807", "body.json").stdout
	writeFile(t, dir, "max.txt", h)
	r = expect(t, o, 1, []string{"invalid", "out of range"}, "verify", "--secret", secret, "--headers", "max.txt", "body.json")
	if strings.Contains(r.stderr, "too old") {
		t.Errorf("verify reads the largest timestamp as one in the past: %s", r.stderr)
	}
	// And the other way: --now far after the timestamp.
	h = must(t, o, "sign", "--secret", secret, "--id", "old", "--timestamp", "1", "body.json").stdout
	writeFile(t, dir, "old.txt", h)
	r = expect(t, o, 1, []string{"invalid", "1970-01-01T00:00:01Z"}, "verify", "--secret", secret, "--headers", "old.txt",
		"--now", far, "--tolerance", "2562047h", "body.json")
	if strings.Contains(r.stderr, "2562047h47m") {
		t.Errorf("verify reports a saturated duration: %s", r.stderr)
	}
}
