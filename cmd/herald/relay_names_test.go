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

// TestEventsSubjectUnprintable: --events-subject refuses what is not
// printable UTF-8: a C1 control such as U+009B (a terminal's CSI), a
// Unicode space, bytes that are not UTF-8. (Only ASCII controls were
// refused.)
func TestEventsSubjectUnprintable(t *testing.T) {
	for _, s := range []string{"acme.\u009b2J", "acme\u00a0events", "acme.\u2028", "acme.\xff", "ev\u200eents"} {
		err := checkEventsSubject(s)
		if err == nil || !strings.HasPrefix(err.Error(), "--events-subject") {
			t.Errorf("checkEventsSubject(%q) = %v, want a refusal naming the flag", s, err)
		}
	}
	if err := checkEventsSubject("acme.évènements"); err != nil {
		t.Errorf("refused printable UTF-8: %v", err)
	}
}

// testSecret is a Standard Webhooks secret for configurations of tests.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestDestNameNotDisplayable: a configured destination name holding a
// line separator or a bidi control is refused at start-up, as the outbox
// refuses it, and the error does not repeat it raw. (checkDestName took
// all but control characters: the relay would not start, with an error
// from deep in the outbox.)
func TestDestNameNotDisplayable(t *testing.T) {
	for _, name := range []string{"acme\u2028level=ERROR", "acme\u202egnp", "\u2066acme", "a\u061cb", "a\u200fb", "acme\u0085"} {
		d := &destConfig{Name: name, URL: "https://example.com/hook", Secret: stringOrList{testSecret}}
		_, err := d.destination(1)
		if err == nil || !strings.Contains(err.Error(), "--config") || strings.Contains(err.Error(), name) {
			t.Errorf("destination named %+q: %v, want a --config refusal that does not repeat the name", name, err)
		}
	}
	d := &destConfig{Name: "café \U0001F469\u200d\U0001F4BB", URL: "https://example.com/hook", Secret: stringOrList{testSecret}}
	if _, err := d.destination(1); err != nil {
		t.Errorf("a name of printable UTF-8 refused: %v", err)
	}
}
