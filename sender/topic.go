package sender

import (
	"errors"
	"fmt"
	"strings"

	"github.com/heraldhq/herald/internal/topic"
)

// ErrInvalidPattern reports a malformed topic pattern; see
// [ValidatePattern].
var ErrInvalidPattern = errors.New("sender: invalid topic pattern")

// ValidatePattern reports whether p is a well-formed pattern for
// [Destination.Topics]: colon-separated segments, each a run of ASCII
// letters, digits, '_', '-', '.' and '*', or exactly "**". Wants accepts
// any string, but one that fails this check is almost always a mistake in
// configuration, worth refusing where patterns are read; the error wraps
// [ErrInvalidPattern].
func ValidatePattern(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty", ErrInvalidPattern)
	}
	if len(p) > maxPatternLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidPattern, maxPatternLen)
	}
	for seg := range strings.SplitSeq(p, ":") {
		switch {
		case seg == "":
			return fmt.Errorf("%w %.64q: empty segment", ErrInvalidPattern, p)
		case seg == "**":
		case strings.Contains(seg, "**"):
			return fmt.Errorf("%w %.64q: \"**\" must be a whole segment", ErrInvalidPattern, p)
		default:
			for i := 0; i < len(seg); i++ {
				if c := seg[i]; c != '*' && !topic.Char(c) {
					return fmt.Errorf("%w %.64q: invalid character %q", ErrInvalidPattern, p, c)
				}
			}
		}
	}
	return nil
}

// maxPatternLen bounds a topic pattern.
const maxPatternLen = 1024

// matchTopic reports whether topic matches pattern. Topics are
// colon-separated segments ("records:created"). In a pattern, "*" matches
// any run of characters within one segment ("job:*", "*:created",
// "rec*:up*"), and a segment that is exactly "**" matches any number of
// segments, none included ("**" matches every topic, "job:**" matches "job"
// and "job:ready:now"). Matching is case-sensitive; empty patterns and
// topics match nothing.
func matchTopic(pattern, topic string) bool {
	if pattern == "" || topic == "" {
		return false
	}
	var pbuf, tbuf [8]string
	return matchSegments(split(pbuf[:0], pattern), split(tbuf[:0], topic))
}

// split appends the colon-separated segments of s to dst.
func split(dst []string, s string) []string {
	for {
		seg, rest, more := strings.Cut(s, ":")
		dst = append(dst, seg)
		if !more {
			return dst
		}
		s = rest
	}
}

// matchSegments matches topic segments ts against pattern segments ps, in
// which "**" stands for any run of segments. Like matchGlob it keeps only
// the last "**" as a backtracking point, which is enough since a later "**"
// can absorb whatever an earlier one would have: O(len(ps)·len(ts)) segment
// matches, no recursion.
func matchSegments(ps, ts []string) bool {
	pi, ti := 0, 0
	star, mark := -1, 0
	for ti < len(ts) {
		switch {
		case pi < len(ps) && ps[pi] == "**":
			star, mark = pi, ti
			pi++
		case pi < len(ps) && matchGlob(ps[pi], ts[ti]):
			pi++
			ti++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(ps) && ps[pi] == "**" {
		pi++
	}
	return pi == len(ps)
}

// matchGlob matches one segment against a pattern in which "*" stands for
// any run of characters. It runs in O(len(p)·len(s)) at worst, without
// recursion.
func matchGlob(p, s string) bool {
	var pi, si int
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
