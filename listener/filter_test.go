package listener_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/listenertest"
)

func TestFilters(t *testing.T) {
	ev := &listener.Event{
		ID: "1", Topic: "records:created",
		Context: map[string]string{"workbook": "wb_42", "tenant": "acme"},
		Payload: json.RawMessage(`{"record":{"status":"active","count":3,"ok":true,"tags":["x","y"],"na\u006de":"q\"uote","nil":null},"record.status":"flat","dup":1,"dup":2}`),
	}
	yes, no := func(*listener.Event) bool { return true }, func(*listener.Event) bool { return false }
	tests := []struct {
		name string
		f    listener.Filter
		want bool
	}{
		{"context exact", listener.ContextMatches("tenant", "acme"), true},
		{"context exact miss", listener.ContextMatches("tenant", "acm"), false},
		{"context glob", listener.ContextMatches("workbook", "wb_*"), true},
		{"context glob miss", listener.ContextMatches("workbook", "ws_*"), false},
		{"context missing key", listener.ContextMatches("nope", "*"), false},
		{"field string", listener.Field("record.status", "active"), true},
		{"field glob", listener.Field("record.status", "act*"), true},
		{"field miss", listener.Field("record.status", "inactive"), false},
		{"field number", listener.Field("record.count", "3"), true},
		{"field bool", listener.Field("record.ok", "true"), true},
		{"field null", listener.Field("record.nil", "null"), true},
		{"field array index", listener.Field("record.tags.1", "y"), true},
		{"field array out of range", listener.Field("record.tags.2", "*"), false},
		{"field escaped key and value", listener.Field("record.name", `q"uote`), true},
		{"field object is no scalar", listener.Field("record", "*"), false},
		{"field missing", listener.Field("record.missing", "*"), false},
		{"field through scalar", listener.Field("record.status.x", "*"), false},
		{"field dotted key is a path", listener.Field("record.status", "flat"), false},
		{"field duplicate key is ambiguous", listener.Field("dup", "2"), false},
		{"all", listener.AllForTest(yes, listener.ContextMatches("tenant", "acme"), nil), true},
		{"all one fails", listener.AllForTest(yes, no), false},
		{"all empty", listener.AllForTest(), true},
		{"anyof", listener.AnyOf(no, listener.Field("record.count", "3")), true},
		{"anyof none", listener.AnyOf(no, no), false},
		{"anyof empty", listener.AnyOf(), false},
		{"not", listener.Not(no), true},
		{"in namespace", listener.InNamespace("x"), false},
	}
	for _, tt := range tests {
		if got := tt.f(ev); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	if listener.Field("a", "*")(&listener.Event{Payload: json.RawMessage(`{"a":`)}) {
		t.Error("malformed payload matched")
	}
	// A key that is not UTF-8 is the key encoding/json reads, U+FFFD,
	// not its raw bytes (found by FuzzField).
	bad := &listener.Event{Payload: json.RawMessage("{\"\x8a\":\"v\"}")}
	if listener.Field("\x8a", "v")(bad) || !listener.Field("\ufffd", "v")(bad) {
		t.Error("a key that is not UTF-8 was matched by its raw bytes")
	}
}

func TestFiltersOnRegistration(t *testing.T) {
	var l listener.Listener
	var rec listenertest.Recorder
	mustOn(t, &l, "records:*", rec.Handler("active-wb", nil),
		listener.ContextMatches("workbook", "wb_*"), listener.Field("record.status", "active"))
	mustOn(t, &l, "records:*", rec.Handler("either", nil),
		listener.AnyOf(listener.Field("record.status", "deleted"), listener.ContextMatches("workbook", "wb_9")))
	mustOn(t, &l, "records:*", rec.Handler("plain", nil), func(ev *listener.Event) bool { return ev.ID == "e3" })
	for i, tc := range []struct {
		wb, status string
		want       []string
	}{
		{"wb_1", "active", []string{"active-wb"}},
		{"wb_9", "active", []string{"active-wb", "either"}},
		{"xx", "deleted", []string{"either", "plain"}},
	} {
		rec = listenertest.Recorder{}
		ev := listenertest.NewEvent(t, "records:updated", map[string]any{"record": map[string]string{"status": tc.status}})
		ev.ID = []string{"e1", "e2", "e3"}[i]
		ev.Context = map[string]string{"workbook": tc.wb}
		if err := l.Dispatch(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		if got := rec.Ran(); !slices.Equal(got, tc.want) {
			t.Errorf("%v: ran %v, want %v", tc, got, tc.want)
		}
	}
}

// A payload whose keys a Go struct and a map read differently (a key in
// another case, or twice) is refused before any handler runs, whichever way
// a Field filter on it is wrapped: else a filter could pass an event whose
// typed handler sees another value than the filter read.
func TestFieldAmbiguousKeyRefused(t *testing.T) {
	type order struct {
		Status string `json:"status"`
		Tenant string `json:"tenant"`
	}
	var l listener.Listener
	var ran []string
	handle := func(name string) func(context.Context, *listener.Event, order) error {
		return func(_ context.Context, _ *listener.Event, o order) error {
			ran = append(ran, name+":"+o.Status+o.Tenant)
			return nil
		}
	}
	for _, err := range []error{
		listener.Handle(&l, "order:paid", handle("approved"), listener.Field("status", "approved")),
		listener.Handle(&l, "order:paid", handle("allowed"), listener.Not(listener.Field("tenant", "blocked"))),
		listener.Handle(&l, "order:paid", handle("all")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, tc := range []struct {
		payload string
		want    []string // nil: refused
	}{
		{`{"status":"approved","tenant":"acme"}`, []string{"approved:approvedacme", "allowed:approvedacme", "all:approvedacme"}},
		{`{"status":"approved","tenant":"blocked"}`, []string{"approved:approvedblocked", "all:approvedblocked"}},
		{`{"status":"approved","STATUS":"refunded"}`, nil},
		{`{"status":"approved","Status":"refunded"}`, nil},
		{`{"status":"approved","\u017ftatus":"refunded"}`, nil}, // ſ folds to s
		{`{"status":"approved","status":"refunded"}`, nil},
		{`{"status":"approved","Tenant":"blocked"}`, nil},
		{`{"status":"approved","tenant":"x","TENANT":"blocked"}`, nil},
	} {
		ran = nil
		ev := &listener.Event{ID: strings.Repeat("e", i+1), Topic: "order:paid", Payload: json.RawMessage(tc.payload)}
		err := l.Dispatch(t.Context(), ev)
		if tc.want == nil {
			if !errors.Is(err, listener.ErrInvalidPayload) || !listener.IsPermanent(err) || ran != nil {
				t.Errorf("%s: err %v, ran %v; want a permanent ErrInvalidPayload and no handler", tc.payload, err, ran)
			}
			continue
		}
		if err != nil || !slices.Equal(ran, tc.want) {
			t.Errorf("%s: err %v, ran %v; want %v", tc.payload, err, ran, tc.want)
		}
	}
}

// The same event dispatched by two listeners at once (a fan-out) keeps
// each dispatch's refusal its own: noted on the caller's event, the second
// dispatch cleared the first one's between its filters and its check.
func TestFieldRefusalPerDispatch(t *testing.T) {
	type order struct {
		Status string `json:"status"`
	}
	reached, resume := make(chan struct{}), make(chan struct{})
	slow := func(*listener.Event) bool { close(reached); <-resume; return true }
	a, b := listener.New(), listener.New()
	ran := make(chan string, 1)
	if err := listener.Handle(a, "order:paid", func(_ context.Context, _ *listener.Event, o order) error {
		ran <- o.Status
		return nil
	}, listener.Not(listener.Field("status", "paid")), slow); err != nil {
		t.Fatal(err)
	}
	mustOn(t, b, "**", func(context.Context, *listener.Event) error { return nil })
	ev := &listener.Event{ID: "e1", Topic: "order:paid", Payload: json.RawMessage(`{"status":"unpaid","Status":"paid"}`)}
	done := make(chan error, 1)
	go func() { done <- a.Dispatch(t.Context(), ev) }()
	<-reached // a's Field has read the ambiguous key
	_ = b.Dispatch(t.Context(), ev)
	close(resume)
	if err := <-done; !errors.Is(err, listener.ErrInvalidPayload) {
		t.Fatalf("a.Dispatch = %v; want ErrInvalidPayload", err)
	}
	select {
	case s := <-ran:
		t.Fatalf("the handler ran, with status %q", s)
	default:
	}
}
