package listener

import "strings"

// glob matches strings against a pattern in which '*' stands for any run of
// characters (possibly empty). It is compiled once and matches without
// allocating.
type glob struct {
	literal bool     // no '*': exact comparison with prefix
	prefix  string   // before the first '*'
	suffix  string   // after the last '*'
	middle  []string // the literal parts between stars, in order
	minLen  int      // len(prefix)+len(suffix)+sum(len(middle))
}

func compileGlob(p string) glob {
	i := strings.IndexByte(p, '*')
	if i < 0 {
		return glob{literal: true, prefix: p, minLen: len(p)}
	}
	j := strings.LastIndexByte(p, '*')
	g := glob{prefix: p[:i], suffix: p[j+1:]}
	g.minLen = len(g.prefix) + len(g.suffix)
	for _, part := range strings.Split(p[i+1:j+1], "*") {
		if part != "" {
			g.middle = append(g.middle, part)
			g.minLen += len(part)
		}
	}
	return g
}

func (g *glob) match(s string) bool {
	if g.literal {
		return s == g.prefix
	}
	if len(s) < g.minLen || !strings.HasPrefix(s, g.prefix) || !strings.HasSuffix(s, g.suffix) {
		return false
	}
	s = s[len(g.prefix) : len(s)-len(g.suffix)]
	for _, m := range g.middle {
		k := strings.Index(s, m)
		if k < 0 {
			return false
		}
		s = s[k+len(m):]
	}
	return true
}
