package listener_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	ev := listener.Event{
		ID: "evt_1", Topic: "records:created", CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC),
		Context: map[string]string{"workbook": "wb_1"}, Payload: json.RawMessage(`{"a":1}`),
		Namespaces: []string{"acme"}, PartitionKey: "order-7",
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":"evt_1","topic":"records:created","createdAt":"2025-01-02T03:04:05.0000006Z","context":{"workbook":"wb_1"},"payload":{"a":1},"namespaces":["acme"],"partitionKey":"order-7"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back listener.Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.ID != ev.ID || !back.CreatedAt.Equal(ev.CreatedAt) || back.Context["workbook"] != "wb_1" || string(back.Payload) != `{"a":1}` || back.Namespaces[0] != "acme" || back.PartitionKey != "order-7" {
		t.Fatalf("round trip: %+v", back)
	}
	min, _ := json.Marshal(listener.Event{ID: "1", Topic: "a:b"})
	if string(min) != `{"id":"1","topic":"a:b"}` {
		t.Fatalf("zero fields not omitted: %s", min)
	}
}

// TestEnvelopeKeysOnce: each key of the envelope may appear once; a
// second one, of any key, is refused, naming the key.
func TestEnvelopeKeysOnce(t *testing.T) {
	for key, value := range map[string]string{
		"id": `"2"`, "topic": `"c:d"`, "createdAt": `"2025-01-02T03:04:05Z"`, "context": `{}`,
		"payload": `{}`, "namespaces": `["x"]`, "partitionKey": `"k"`,
	} {
		body := `{"id":"1","topic":"a:b","` + key + `":` + value + `,"` + key + `":` + value + `}`
		var ev listener.Event
		err := json.Unmarshal([]byte(body), &ev)
		if !errors.Is(err, listener.ErrInvalidEvent) || !strings.Contains(err.Error(), `duplicate field "`+key+`"`) {
			t.Errorf("%s twice: %v, want a duplicate field error", key, err)
		}
	}
}
