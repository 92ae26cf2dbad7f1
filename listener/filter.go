package listener

import (
	"strings"

	"github.com/heraldhq/herald/internal/topic"
)

// A Filter is a predicate on an event, checked after the topic pattern
// matched and before the handler and its middleware run. Any
// func(*Event) bool is a Filter. It sees a copy of the event, made for
// the dispatch and reused after it: it must not change or keep it.
type Filter func(ev *Event) bool

// ContextMatches returns a Filter that accepts events whose Context[key] matches
// value, where '*' in value matches any run of characters ("wb_*"). A value
// without '*' must match exactly. A missing key never matches.
func ContextMatches(key, value string) Filter {
	g := topic.NewGlob(value)
	return func(ev *Event) bool {
		v, ok := ev.Context[key]
		return ok && g.Match(v)
	}
}

// Field returns a Filter that accepts events whose JSON payload holds, at
// the dotted path (such as "record.status" or "items.0.id"), a scalar that
// matches value. A string matches by its value, a number, true, false or
// null by its JSON text ("42", "true"); '*' in value matches any run of
// characters. Objects, arrays, a missing path and a malformed payload never
// match.
//
// Keys match exactly. A payload that holds a key of the path twice in one
// object, or a key that differs from it only in case ("Status" for
// "status"), reads differently to different decoders: a Go struct takes
// any case, a map or another language only the exact key. When a Field
// of a matching route reads such a key, the listener refuses the event as
// [ErrInvalidPayload] before any handler runs, whatever [Not] around the
// Field would make of it. (A Field that [AnyOf] or the route's other
// filters skip, their answer already known, reads nothing, and decides
// nothing either.)
func Field(path, value string) Filter {
	segs := strings.Split(path, ".")
	g := topic.NewGlob(value)
	return func(ev *Event) bool {
		v, ok, err := lookupField(ev.Payload, segs)
		if err != nil {
			ev.refused = err
		}
		return ok && g.Match(v)
	}
}

// allOf returns a Filter that accepts an event when every filter does
// (nil filters are ignored; no filters accept everything). On and Handle
// use it for their filters; AnyOf and Not nest it as Not(AnyOf(Not(a), Not(b))).
func allOf(filters ...Filter) Filter {
	fs := compact(filters)
	return func(ev *Event) bool {
		for _, f := range fs {
			if !f(ev) {
				return false
			}
		}
		return true
	}
}

// AnyOf returns a Filter that accepts an event when at least one filter does
// (nil filters are ignored; no filters accept nothing).
func AnyOf(filters ...Filter) Filter {
	fs := compact(filters)
	return func(ev *Event) bool {
		for _, f := range fs {
			if f(ev) {
				return true
			}
		}
		return false
	}
}

// Not returns a Filter that accepts the events f rejects.
func Not(f Filter) Filter {
	if f == nil {
		return func(*Event) bool { return false }
	}
	return func(ev *Event) bool { return !f(ev) }
}

// InNamespace returns a Filter that accepts events in namespace ns.
func InNamespace(ns string) Filter {
	return func(ev *Event) bool { return ev.inNamespace(ns) }
}

func compact(filters []Filter) []Filter {
	var out []Filter
	for _, f := range filters {
		if f != nil {
			out = append(out, f)
		}
	}
	return out
}
