// Package topic is herald's one topic model: what a topic is, what a topic
// pattern is, and how a pattern matches. The listener's routes
// (listener.On), the sender's destination filters (sender.Destination.Topics)
// and the relay's configuration all parse and match through it, so a pattern
// one of them accepts means the same thing to all of them.
//
// A topic is "domain:action": two non-empty segments of topic characters
// (ASCII letters, digits, '_', '-', '.'), at most [MaxLen] bytes. Events
// (listener.Event.Topic) are validated to that shape, and NATS subjects map
// its two segments to two tokens, so no topic has more or fewer segments.
//
// A pattern follows the topic's shape:
//
//	pattern = "**" | segment ":" segment
//	segment = 1*( topic-char | "*" )      ; no "**" inside
//
// '*' matches any run of topic characters within its segment, the empty run
// included; "**" alone matches every topic. Matching is case-sensitive, and
// a string that is not a valid topic matches no pattern, not even "**".
//
// Valid: "job:ready", "job:*", "*:created", "job:re*", "j*b:*y", "*:*", "**".
// Invalid: "" (empty), "job" and "*" (one segment), "job:ready:now" (three),
// "job:" and ":x" (an empty segment), "job:**" and "**:x" ("**" stands
// alone; "job:*" already matches every action of job), "j**b:x",
// "job:re ady" and "jöb:x" (not a topic character), longer than MaxLen.
package topic

import (
	"errors"
	"fmt"
	"strings"
)

// MaxLen bounds a topic, and a pattern, in bytes.
const MaxLen = 255

// ErrInvalidPattern is the one error for a malformed pattern, wherever it
// was given; package sender exports it. Errors from [Parse] wrap it with the
// pattern and the reason.
var ErrInvalidPattern = errors.New("invalid topic pattern")

// class sorts the bytes of topics and patterns.
var class = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
			t[c] = topicChar
		case c == ':':
			t[c] = colon
		case c == '*':
			t[c] = star
		}
	}
	return t
}()

const (
	other uint8 = iota
	topicChar
	colon
	star
)

// Char reports whether c may appear in a topic segment: an ASCII letter,
// digit, '_', '-' or '.'.
func Char(c byte) bool { return class[c] == topicChar }

// Split returns the domain and action of t, with ok false when t is not a
// valid topic. It does not allocate.
func Split(t string) (domain, action string, ok bool) {
	if len(t) == 0 || len(t) > MaxLen {
		return "", "", false
	}
	at := -1
	for i := 0; i < len(t); i++ {
		switch class[t[i]] {
		case topicChar:
		case colon:
			if at >= 0 {
				return "", "", false
			}
			at = i
		default:
			return "", "", false
		}
	}
	if at <= 0 || at == len(t)-1 {
		return "", "", false
	}
	return t[:at], t[at+1:], true
}

// Valid reports whether t is a topic, "domain:action".
func Valid(t string) bool {
	_, _, ok := Split(t)
	return ok
}

// Pattern is a parsed pattern: "**" (All), or a [Glob] per segment.
type Pattern struct {
	// All is set for "**", which matches every topic.
	All bool
	// Domain and Action match the two segments of a topic, when All is not
	// set.
	Domain, Action Glob
}

// Parse checks src against the grammar, in one pass over its bytes; errors
// wrap [ErrInvalidPattern]. It does not allocate when src is valid.
func Parse(src string) (Pattern, error) {
	if src == "**" {
		return Pattern{All: true}, nil
	}
	if src == "" || len(src) > MaxLen {
		return Pattern{}, invalid(src, -1)
	}
	at, bad := -1, -1
	for i := 0; i < len(src) && bad < 0; i++ {
		switch class[src[i]] {
		case topicChar:
		case colon:
			if at >= 0 || i == 0 || i == len(src)-1 {
				bad = i
			}
			at = i
		case star:
			if i > 0 && src[i-1] == '*' {
				bad = i
			}
		default:
			bad = i
		}
	}
	if bad >= 0 || at < 0 {
		return Pattern{}, invalid(src, bad)
	}
	return Pattern{Domain: NewGlob(src[:at]), Action: NewGlob(src[at+1:])}, nil
}

// invalid says why src, refused by Parse at byte bad (-1: as a whole), is
// not a pattern.
func invalid(src string, bad int) error {
	var why string
	switch {
	case src == "":
		why = "empty"
	case len(src) > MaxLen:
		why = fmt.Sprintf("longer than %d bytes", MaxLen)
	case bad < 0:
		why = `want "domain:action" or "**"`
	case src[bad] == '*':
		why = `"**" is only valid as the whole pattern; "domain:*" matches every action`
	case src[bad] != ':':
		why = fmt.Sprintf("invalid character %q", src[bad])
	case bad == 0 || bad == len(src)-1 || src[bad-1] == ':':
		why = "empty segment"
	default:
		why = `more than one ':'; a topic is "domain:action"`
	}
	return fmt.Errorf("%w %.64q: %s", ErrInvalidPattern, src, why)
}

// Match reports whether topic, "domain:action", is selected by p; a string
// that is not a topic never is.
func (p *Pattern) Match(topic string) bool {
	dom, act, ok := Split(topic)
	return ok && p.match(dom, act)
}

// match is Match on a topic already split.
func (p *Pattern) match(dom, act string) bool {
	return p.All || p.Domain.Match(dom) && p.Action.Match(act)
}

// MatchAny reports whether one of the patterns matches topic, as
// [Parse] and [Pattern.Match] would decide: a malformed pattern matches
// nothing, and a string that is not a topic matches no pattern. It takes
// the patterns as strings, for callers that keep no parsed form
// (sender.Destination.Wants), and does not allocate.
func MatchAny(patterns []string, topic string) bool {
	dom, act, ok := Split(topic)
	if !ok {
		return false
	}
	for _, src := range patterns {
		if matchSplit(src, dom, act) {
			return true
		}
	}
	return false
}

// matchSplit reports whether the pattern src matches the valid topic of
// segments dom and act, without Parse's pass over every byte: a byte Parse
// refuses (outside the grammar, an empty segment, a third segment's ':')
// must be matched by the same byte of a topic segment, which a valid topic
// never holds, so it cannot match anyway. Only what would widen a match is
// checked first: the length, and "**" inside the pattern. FuzzGlob holds it
// to Parse and Match.
func matchSplit(src, dom, act string) bool {
	if src == "**" {
		return true
	}
	if len(src) > MaxLen || strings.Contains(src, "**") {
		return false
	}
	pd, pa, ok := strings.Cut(src, ":")
	if !ok {
		return false
	}
	if d := NewGlob(pd); !d.Match(dom) {
		return false
	}
	a := NewGlob(pa)
	return a.Match(act)
}

// Glob matches strings against a pattern in which each '*' stands for any
// run of bytes, the empty run included; a pattern without '*' matches only
// itself. It matches pattern segments against topic segments, and the
// listener's Context and Field filter values. It does not allocate, and
// each match is linear in the pattern and the string: after the prefix and
// suffix, each literal part between stars is taken at its leftmost place,
// which is enough since the next star absorbs whatever lies before.
type Glob struct {
	prefix string // before the first '*'; the whole pattern when literal
	mid    string // between the first and the last '*', inner stars kept
	suffix string // after the last '*'
	wild   bool   // holds a '*'
	fixed  int    // len(prefix) + len(suffix)
}

// NewGlob prepares p for matching.
func NewGlob(p string) Glob {
	first := strings.IndexByte(p, '*')
	if first < 0 {
		return Glob{prefix: p, fixed: len(p)}
	}
	last := strings.LastIndexByte(p, '*')
	g := Glob{prefix: p[:first], suffix: p[last+1:], wild: true}
	if last > first {
		g.mid = p[first+1 : last]
	}
	g.fixed = len(g.prefix) + len(g.suffix)
	return g
}

// Literal returns the one string g matches, with ok false when g holds a
// '*' and so matches more than one.
func (g *Glob) Literal() (s string, ok bool) { return g.prefix, !g.wild }

// Match reports whether s matches g.
func (g *Glob) Match(s string) bool {
	if !g.wild {
		return s == g.prefix
	}
	if len(s) < g.fixed || !strings.HasPrefix(s, g.prefix) || !strings.HasSuffix(s, g.suffix) {
		return false
	}
	s = s[len(g.prefix) : len(s)-len(g.suffix)]
	for mid := g.mid; mid != ""; {
		part, rest, _ := strings.Cut(mid, "*")
		if part != "" {
			k := strings.Index(s, part)
			if k < 0 {
				return false
			}
			s = s[k+len(part):]
		}
		mid = rest
	}
	return true
}
