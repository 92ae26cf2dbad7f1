package natsstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// A receiver chooses the text of its errors, and JSON writes '<' as six
// bytes: limits.History attempts of 1024 such bytes, beside the largest body
// and metadata a Put accepts, once made a record too large for the stream.
// Its delivery could then never be settled, and was retried at every
// lease's end beyond its schedule. The oldest attempts now give way.
func TestHistoryFitsTheRecord(t *testing.T) {
	js := jetStream(t)
	ob := open(t, js, freshConfig())
	ctx := context.Background()
	lt := strings.Repeat("<", 1024)
	body := make([]byte, int(js.Conn().MaxPayload())-32<<10)
	now := time.Now()
	d := outbox.Delivery{ID: strings.Repeat("<", 200), Destination: strings.Repeat("&", 200), Topic: lt, ContentType: lt,
		Body: body, Due: now, Created: now}
	if err := ob.Put(ctx, d); err != nil {
		t.Fatal(err)
	}
	const attempts = 70 // more than the 64 a record keeps
	for i := range attempts {
		ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: now.Add(time.Duration(i+1) * time.Hour)})
		if err != nil || len(ls) != 1 {
			t.Fatalf("attempt %d: Lease = %d, %v", i+1, len(ls), err)
		}
		text := lt[:1023] + strconv.Itoa(i%10)
		errs := ob.Settle(ctx, []outbox.Settlement{{ID: d.ID, Token: ls[0].Token, Outcome: outbox.Retrying, Due: now,
			Attempt: outbox.AttemptRecord{At: now, Status: 502, Error: text}}})
		if errs[0] != nil {
			t.Fatalf("attempt %d: Settle: %v", i+1, errs[0])
		}
	}
	h, err := ob.History(ctx, d.ID)
	if err != nil || len(h) == 0 || len(h) >= attempts {
		t.Fatalf("History: %d attempts, %v; want some, not all %d", len(h), err, attempts)
	}
	if last := h[len(h)-1].Error; !strings.HasSuffix(last, strconv.Itoa((attempts-1)%10)) {
		t.Fatalf("the newest attempt was dropped: last error ends %q", last[len(last)-3:])
	}
}
