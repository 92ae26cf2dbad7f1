package listener

import (
	"fmt"
	"strings"

	"github.com/heraldhq/herald/internal/topic"
)

// A pattern selects topics. Its grammar:
//
//	pattern = "**" | segment ":" segment
//	segment = 1*( topic-char | "*" )     ; "**" not allowed inside
//
// where topic-char is an ASCII letter, digit, '_', '-' or '.'. A '*' in a
// segment matches any run of topic characters within that segment (so "job:*"
// matches every action of domain job, "*:created" every domain, "job:re*"
// "job:ready" and "job:retry"); "**" alone matches every topic.
type pattern struct {
	src    string
	all    bool // "**"
	domain glob
	action glob
}

// literalDomain reports whether the domain segment has no wildcard.
func (p *pattern) literalDomain() bool { return !p.all && p.domain.literal }

// literalAction reports whether the action segment has no wildcard.
func (p *pattern) literalAction() bool { return !p.all && p.action.literal }

// compilePattern parses a pattern; errors match [ErrInvalidPattern].
func compilePattern(src string) (pattern, error) {
	if src == "**" {
		return pattern{src: src, all: true}, nil
	}
	bad := func(why string) (pattern, error) {
		return pattern{}, fmt.Errorf("%w %.64q: %s", ErrInvalidPattern, src, why)
	}
	if src == "" {
		return bad("empty")
	}
	if len(src) > MaxTopicLen {
		return bad("too long")
	}
	i := strings.IndexByte(src, ':')
	if i < 0 {
		return bad(`want "domain:action" or "**"`)
	}
	if strings.IndexByte(src[i+1:], ':') >= 0 {
		return bad("more than one ':'")
	}
	dom, act := src[:i], src[i+1:]
	if dom == "" || act == "" {
		return bad("empty segment")
	}
	if strings.Contains(src, "**") {
		return bad(`"**" is only valid as the whole pattern`)
	}
	for k := 0; k < len(src); k++ {
		if c := src[k]; c != ':' && c != '*' && !topic.Char(c) {
			return bad(fmt.Sprintf("invalid character %q", c))
		}
	}
	return pattern{src: src, domain: compileGlob(dom), action: compileGlob(act)}, nil
}

// match reports whether topic, "domain:action", is selected. A malformed
// topic never matches.
func (p *pattern) match(topic string) bool {
	if p.all {
		return true
	}
	i := strings.IndexByte(topic, ':')
	if i < 0 {
		return false
	}
	return p.domain.match(topic[:i]) && p.action.match(topic[i+1:])
}

// ValidatePattern reports whether pattern is well formed, with an error
// matching [ErrInvalidPattern] when it is not.
func ValidatePattern(pattern string) error {
	_, err := compilePattern(pattern)
	return err
}

// MatchTopic reports whether topic matches pattern. A malformed pattern
// matches nothing and yields an error matching [ErrInvalidPattern]. It
// compiles pattern on every call; Listener compiles once at registration.
func MatchTopic(pattern, topic string) (bool, error) {
	p, err := compilePattern(pattern)
	if err != nil {
		return false, err
	}
	return validTopic(topic) && p.match(topic), nil
}
