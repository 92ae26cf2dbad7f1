package listener_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestHTTPVerifiedCEHeaderCombinations re-sends two captured signed
// requests, a native envelope and a structured CloudEvent, with every
// combination of hostile ce-* headers (id, type, source, partition key,
// subject, time), every spelling of ce-specversion (absent, empty, 1.0,
// 0.3, an empty one before a real one) and every Content-Type a client
// might send. Whatever the combination, the request is refused, or the
// handler gets the event as the signed body states it: no header ever
// identifies, routes or keys an event behind a Verifier (issue #14, 2).
func TestHTTPVerifiedCEHeaderCombinations(t *testing.T) {
	in := newSignedIntake(t)
	envelope := `{"id":"evt_env","topic":"job:ready","partitionKey":"pk_env","payload":{"n":1}}`
	structured := `{"specversion":"1.0","id":"evt_ce","type":"job:done","source":"/jobs","partitionkey":"pk_ce","data":{"n":2}}`
	type signedAs struct{ id, topic, key, source string }
	signed := map[string]signedAs{
		"evt_env": {"evt_env", "job:ready", "pk_env", ""},
		"evt_ce":  {"evt_ce", "job:done", "pk_ce", "/jobs"},
	}
	hostile := []struct{ name, value string }{
		{"Ce-Id", "evt_evil"}, {"Ce-Type", "billing:refund"}, {"Ce-Source", "/evil"},
		{"Ce-Partitionkey", "pk_evil"}, {"Ce-Subject", "evil"}, {"Ce-Time", "2030-01-01T00:00:00Z"},
	}
	specs := [][]string{nil, {""}, {"1.0"}, {"0.3"}, {"", "1.0"}}
	types := []string{"", "application/json", "application/cloudevents+json", "application/cloudevents+json; charset=utf-8",
		"APPLICATION/CLOUDEVENTS+JSON", "text/plain"}

	accepted, refusedBinary := 0, 0
	for _, body := range []string{envelope, structured} {
		for _, ct := range types {
			base := in.sign(t, ct, "msg_capture", body)
			if ct == "" {
				base.Del("Content-Type")
			}
			for _, spec := range specs {
				for mask := 0; mask < 1<<len(hostile); mask++ {
					h := base.Clone()
					if spec != nil {
						h["Ce-Specversion"] = spec
					}
					for i, x := range hostile {
						if mask&(1<<i) != 0 {
							h.Set(x.name, x.value)
						}
					}
					code, reply := in.post(t, h, body)
					what := fmt.Sprintf("body %.20s… Content-Type %q ce-specversion %q ce mask %06b", body, ct, spec, mask)
					binary := len(spec) > 0 && spec[0] != "" && !strings.Contains(strings.ToLower(ct), "cloudevents")
					switch {
					case code == http.StatusNoContent:
						accepted++
						if binary {
							t.Fatalf("%s: binary mode accepted behind a Verifier", what)
						}
					case binary:
						refusedBinary++
						if code != http.StatusBadRequest || !strings.Contains(reply, "send structured mode") {
							t.Fatalf("%s: %d %q, want 400 pointing to structured mode", what, code, reply)
						}
					case code < 400 || code >= 500:
						t.Fatalf("%s: %d %q", what, code, reply)
					}
				}
			}
		}
	}
	// The envelope is taken as JSON or without a type, and structured mode
	// with any spelling of its type: the genuine forms keep working.
	if accepted == 0 || refusedBinary == 0 {
		t.Fatalf("%d accepted, %d refused as binary mode: the combinations missed a case", accepted, refusedBinary)
	}
	t.Logf("%d accepted, %d refused as binary mode", accepted, refusedBinary)
	events := in.events()
	if len(events) != accepted {
		t.Fatalf("handler saw %d events for %d accepted requests", len(events), accepted)
	}
	for _, ev := range events {
		want, ok := signed[ev.ID]
		if !ok || ev.Topic != want.topic || ev.PartitionKey != want.key || ev.Context["source"] != want.source ||
			ev.Context["subject"] != "" || ev.Context["time"] != "" {
			t.Fatalf("handler saw %s %s key %q context %v: not the signed event %+v", ev.ID, ev.Topic, ev.PartitionKey, ev.Context, want)
		}
	}
}
