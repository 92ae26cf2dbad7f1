package listener_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
)

func ceHeader() http.Header {
	return http.Header{
		"Content-Type":      {"application/json; charset=utf-8"},
		"Ce-Specversion":    {"1.0"},
		"Ce-Id":             {"ce-1"},
		"Ce-Source":         {"/platform/workbooks"},
		"Ce-Type":           {"workbook:updated"},
		"Ce-Time":           {"2025-03-04T05:06:07.5+01:00"},
		"Ce-Subject":        {"wb_1"},
		"Ce-Workbook":       {"wb_1"},
		"Ce-Traceparent":    {"00-abc-def-01"},
		"Ce-Comment":        {"caf%C3%A9%20%25"},
		"X-Unrelated-Thing": {"ignored"},
	}
}

func TestCloudEventsBinary(t *testing.T) {
	c := newCapture(t)
	h := &listener.HTTPHandler{Dispatcher: c.l}
	w := post(h, ceHeader(), `{"rows":3}`)
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	ev := c.last
	want := map[string]string{
		"source": "/platform/workbooks", "subject": "wb_1", "workbook": "wb_1",
		"traceparent": "00-abc-def-01", "comment": "café %",
	}
	if ev.ID != "ce-1" || ev.Topic != "workbook:updated" || string(ev.Payload) != `{"rows":3}` ||
		!ev.CreatedAt.Equal(time.Date(2025, 3, 4, 4, 6, 7, 5e8, time.UTC)) || len(ev.Context) != len(want) {
		t.Fatalf("event %+v", ev)
	}
	for k, v := range want {
		if ev.Context[k] != v {
			t.Errorf("context[%s] = %q, want %q", k, ev.Context[k], v)
		}
	}
	// No body: no payload.
	if w := post(h, ceHeader(), ""); w.Code != http.StatusNoContent || c.last.Payload != nil {
		t.Fatalf("empty body: %d %q", w.Code, c.last.Payload)
	}

	for name, mutate := range map[string]func(http.Header){
		"missing id":         func(h http.Header) { h.Del("Ce-Id") },
		"missing source":     func(h http.Header) { h.Del("Ce-Source") },
		"missing type":       func(h http.Header) { h.Del("Ce-Type") },
		"type not a topic":   func(h http.Header) { h.Set("Ce-Type", "com.example.updated") },
		"bad time":           func(h http.Header) { h.Set("Ce-Time", "2025-03-04") },
		"bad extension name": func(h http.Header) { h.Set("Ce-Work_book", "x") },
		"long extension":     func(h http.Header) { h.Set("Ce-Abcdefghijklmnopqrstu", "x") },
		"repeated header":    func(h http.Header) { h.Add("Ce-Id", "ce-2") },
		"bad percent":        func(h http.Header) { h.Set("Ce-Comment", "%zz") },
		"datacontenttype":    func(h http.Header) { h.Set("Ce-Datacontenttype", "application/json") },
	} {
		hdr := ceHeader()
		mutate(hdr)
		if w := post(h, hdr, `{}`); w.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 (%s)", name, w.Code, w.Body)
		}
	}
	if w := post(h, ceHeader(), `{"rows":`); w.Code != http.StatusBadRequest {
		t.Errorf("invalid JSON body: %d", w.Code)
	}
	hdr := ceHeader()
	hdr.Set("Ce-Specversion", "0.3")
	if w := post(h, hdr, `{}`); w.Code != http.StatusUnsupportedMediaType {
		t.Errorf("specversion 0.3: %d", w.Code)
	}
}

func TestCloudEventsStructured(t *testing.T) {
	c := newCapture(t)
	h := &listener.HTTPHandler{Dispatcher: c.l}
	hdr := http.Header{"Content-Type": {"application/cloudevents+json; charset=utf-8"}}
	w := post(h, hdr, `{"specversion":"1.0","id":"ce-2","source":"urn:platform","type":"records:created",
		"time":"2025-03-04T05:06:07Z","subject":"rec_1","datacontenttype":"application/json",
		"dataschema":"https://example.com/s.json","tenant":"acme","attempt":2,"urgent":true,"gone":null,
		"data":{"record":{"status":"active"}}}`)
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	ev := c.last
	if ev.ID != "ce-2" || ev.Topic != "records:created" || string(ev.Payload) != `{"record":{"status":"active"}}` ||
		!ev.CreatedAt.Equal(time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)) {
		t.Fatalf("event %+v", ev)
	}
	for k, v := range map[string]string{"source": "urn:platform", "subject": "rec_1", "tenant": "acme",
		"attempt": "2", "urgent": "true", "dataschema": "https://example.com/s.json"} {
		if ev.Context[k] != v {
			t.Errorf("context[%s] = %q, want %q", k, ev.Context[k], v)
		}
	}
	if _, ok := ev.Context["gone"]; ok {
		t.Error("null attribute kept")
	}

	base := `"specversion":"1.0","id":"x","source":"s","type":"a:b"`
	for name, body := range map[string]string{
		"missing specversion": `{"id":"x","source":"s","type":"a:b"}`,
		"missing source":      `{"specversion":"1.0","id":"x","type":"a:b"}`,
		"missing id":          `{"specversion":"1.0","source":"s","type":"a:b"}`,
		"repeated attribute":  `{` + base + `,"id":"y"}`,
		"object extension":    `{` + base + `,"ext":{"a":1}}`,
		"bad extension name":  `{` + base + `,"Ext":"v"}`,
		"id not a string":     `{"specversion":"1.0","id":1,"source":"s","type":"a:b"}`,
		"trailing data":       `{` + base + `}{}`,
		"not an object":       `[1]`,
		"bad topic":           `{"specversion":"1.0","id":"x","source":"s","type":"a.b"}`,
	} {
		if w := post(h, hdr, body); w.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 (%s)", name, w.Code, w.Body)
		}
	}
	for name, body := range map[string]string{
		"data_base64":     `{` + base + `,"data_base64":"AAAA"}`,
		"xml data":        `{` + base + `,"datacontenttype":"application/xml","data":"<a/>"}`,
		"specversion 0.3": `{"specversion":"0.3","id":"x","source":"s","type":"a:b"}`,
	} {
		if w := post(h, hdr, body); w.Code != http.StatusUnsupportedMediaType {
			t.Errorf("%s: status %d, want 415 (%s)", name, w.Code, w.Body)
		}
	}
}
