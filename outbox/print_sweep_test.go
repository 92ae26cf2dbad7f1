package outbox_test

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/leaktest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

// TestQueuePrintsNoSecrets: a Queue, before and after its first use, whose
// Sender holds a client certificate with an Ed25519 key and whose
// destination's URL and headers hold credentials, prints none of them
// under any fmt verb, slog or JSON. (%s and %q of a *Queue printed, through
// the pointers of its state, each destination whole, URL token and header
// values with it, and through its Outbox what the program's store holds.)
func TestQueuePrintsNoSecrets(t *testing.T) {
	cert, forbidden := leaktest.Ed25519Cert(t)
	const (
		pathToken = "QueuePathT0ken77"
		bearer    = "queue-b3arer-t0ken"
	)
	forbidden = append(forbidden, leaktest.TextForms(pathToken, bearer)...)
	dest := sender.Destination{Name: "hook", URL: "https://hooks.example.com/services/" + pathToken,
		Headers: http.Header{"Authorization": {"Bearer " + bearer}}}
	newQueue := func() *outbox.Queue {
		return &outbox.Queue{Outbox: outbox.NewMemory(), Destinations: []sender.Destination{dest},
			Sender: &sender.Sender{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}},
			Logger: slog.New(slog.DiscardHandler), OnDisable: func(string, string) {}}
	}
	fresh := newQueue()
	leaktest.CheckAsGiven(t, "fresh Queue", fresh, forbidden)
	used := newQueue()
	if _, err := used.Enqueue(ctx, "hook", sender.Message{ID: "m-1", Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	leaktest.CheckAsGiven(t, "used Queue", used, forbidden)
	got := fmt.Sprintf("%+v", used)
	for _, want := range []string{"Outbox:*outbox.memory", "Name:hook", "hooks.example.com", "TLS:*tls.Config", "Logger:*slog.Logger"} {
		if !strings.Contains(got, want) {
			t.Errorf("%%+v lacks %q: %s", want, got)
		}
	}
	if got := fmt.Sprintf("%#v", used); !strings.HasPrefix(got, "&outbox.Queue{") {
		t.Errorf("%%#v = %s; want it to name outbox.Queue", got)
	}
}
