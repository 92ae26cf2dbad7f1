package sender_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/syncbuf"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestUnnamedDestinationLabelHidesPath: a destination without a Name whose
// URL path holds its credential, as Slack's and Discord's webhook URLs do,
// fails; neither its errors nor the Sender's log lines nor the attempts
// reported to OnAttempt show the path. (They showed scheme://host/path.)
func TestUnnamedDestinationLabelHidesPath(t *testing.T) {
	const token = "d1sc0rdW3bh00kT0ken"
	var logs syncbuf.Buffer
	rcv := sendertest.NewReceiver(t, nil, sendertest.FailFirst(100, 500))
	s := rcv.Sender()
	s.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.Retry.MaxAttempts = 2
	var labels []string
	s.OnAttempt = func(a sender.Attempt) { labels = append(labels, a.Destination) }
	for _, path := range []string{"/api/webhooks/123456/" + token, "/services/T0001/B0002/" + token} {
		_, err := s.Send(context.Background(), sender.Destination{URL: rcv.URL() + path}, sender.Message{Body: []byte(`{}`)})
		var de *sender.DeliveryError
		if !errors.As(err, &de) {
			t.Fatalf("Send = %v; want a *DeliveryError", err)
		}
		all := strings.Join(append([]string{err.Error(), fmt.Sprintf("%+v", *de), de.Destination, logs.String()}, labels...), "\n")
		if strings.Contains(all, token) {
			t.Errorf("the path's token shows:\n%s", all)
		}
		if !strings.Contains(de.Destination, "127.0.0.1") || !strings.Contains(logs.String(), "status=500") {
			t.Errorf("label %q or the logs say too little:\n%s", de.Destination, logs.String())
		}
	}
	if len(labels) == 0 {
		t.Fatal("OnAttempt was not called")
	}
}
