package sender

import "github.com/heraldhq/herald/internal/topic"

// ErrInvalidPattern reports a malformed topic pattern, wherever it was
// given: [ValidatePattern], listener.On and listener.Handle, the relay's
// configuration. It is herald's one pattern error; the error that wraps it
// names the pattern and the reason.
var ErrInvalidPattern = topic.ErrInvalidPattern

// ValidatePattern checks p against herald's one topic pattern grammar, the
// one [Destination.Topics], listener.On and the relay's configuration use.
// A topic is "domain:action", two non-empty segments of ASCII letters,
// digits, '_', '-' and '.', at most 255 bytes; a pattern is
//
//	pattern = "**" | segment ":" segment
//	segment = 1*( topic-char | "*" )      ; no "**" inside
//
// where '*' matches any run of topic characters within its segment, the
// empty run included, and "**" alone matches every topic. Matching is
// case-sensitive, and a string that is not a topic matches no pattern.
//
// Valid: "job:ready", "job:*", "*:created", "job:re*", "j*b:*y", "*:*",
// "**". Invalid: "", "job" and "*" (one segment), "job:ready:now" (three),
// "job:" and ":x" (an empty segment), "job:**" and "**:x" ("**" stands
// alone: write "job:*"), "j**b:x", "job:re ady" and "jöb:x" (not a topic
// character), anything over 255 bytes.
//
// Errors wrap [ErrInvalidPattern]. Wants never matches a malformed pattern,
// so check patterns where they are configured.
func ValidatePattern(p string) error {
	_, err := topic.Parse(p)
	return err
}

// wants is [Destination.Wants] once Topics is known not to be empty: the
// module's one matcher.
func wants(patterns []string, t string) bool { return topic.MatchAny(patterns, t) }
