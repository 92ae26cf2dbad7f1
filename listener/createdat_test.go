package listener_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
)

// TestCreatedAtForwardCannotWriteRefused: an event time whose offset is
// 24 hours or more ("+24:00", which RFC 3339 does not allow but Go's
// parsers take) passed the intake and Validate, ran the handlers before
// Forward, and then failed Forward for good, which cannot write it back
// as RFC 3339 (Time.MarshalJSON refuses it): the sender was told 400 for
// an event that was half handled. The intake now refuses it, in both
// forms, before any handler runs, and Validate refuses it too.
func TestCreatedAtForwardCannotWriteRefused(t *testing.T) {
	_, st, _, l := forwarding(t, "job:*")
	var ran atomic.Int32
	mustOn(t, l, "**", func(context.Context, *listener.Event) error { ran.Add(1); return nil })
	h := &listener.HTTPHandler{Dispatcher: l}
	for _, c := range []struct {
		name   string
		header http.Header
		body   string
	}{
		{"envelope", jsonHeader(), `{"id":"evt_1","topic":"job:ready","createdAt":"2026-01-01T00:00:00+24:00"}`},
		{"structured", sourcedCEHeader(), `{"specversion":"1.0","id":"evt_2","type":"job:ready","source":"/s","time":"2026-01-01T00:00:00-24:30"}`},
	} {
		w := post(h, c.header, c.body)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "RFC 3339") {
			t.Errorf("%s: status %d %q, want 400 naming RFC 3339", c.name, w.Code, strings.TrimSpace(w.Body.String()))
		}
	}
	if n := ran.Load(); n != 0 {
		t.Errorf("%d handlers ran for events Forward cannot write", n)
	}
	if s, err := st.Stats(context.Background()); err != nil || s.Pending != 0 {
		t.Errorf("stats %+v, %v: want nothing stored", s, err)
	}

	ev := &listener.Event{ID: "evt_3", Topic: "job:ready", CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))}
	if err := ev.Validate(); !errors.Is(err, listener.ErrInvalidEvent) {
		t.Errorf("Validate of a +24:00 time: %v, want ErrInvalidEvent", err)
	}
	ev.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := ev.Validate(); !errors.Is(err, listener.ErrInvalidEvent) {
		t.Errorf("Validate of the year 10000: %v, want ErrInvalidEvent", err)
	}
	ev.CreatedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -(23*3600+59*60)))
	if err := ev.Validate(); err != nil {
		t.Errorf("Validate of a -23:59 time: %v", err)
	}
	if _, err := ev.MarshalJSON(); err != nil {
		t.Errorf("MarshalJSON of a -23:59 time: %v", err)
	}
}
