package main

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

// TestDestNameNotUTF8: a --name that is not UTF-8 (a Latin-1 "café") is
// refused at start-up, as the outbox would refuse every delivery to it.
// (checkDestName took it: the relay started and failed each event.)
func TestDestNameNotUTF8(t *testing.T) {
	const name = "caf\xe9"
	q := &outbox.Queue{Outbox: outbox.NewMemory(), Sender: &sender.Sender{},
		Destinations: []sender.Destination{{Name: name, URL: "https://example.com/hook"}}}
	if _, err := q.Prepare(name, sender.Message{Topic: "job:ready", Body: []byte("{}")}); err == nil {
		t.Fatal("the outbox takes the name: this test proves nothing")
	}
	if err := checkDestName(name); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("checkDestName(%q) = %v, want a refusal naming UTF-8", name, err)
	}
}
