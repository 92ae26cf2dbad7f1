// Package topic holds what the listener and the sender agree a topic is
// made of, so that the topics a listener accepts and the patterns a
// destination is configured with are checked by one rule.
package topic

// Char reports whether c may appear in a topic segment: an ASCII letter,
// digit, '_', '-' or '.'.
func Char(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '.'
}
