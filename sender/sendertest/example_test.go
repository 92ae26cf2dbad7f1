package sendertest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// A test that delivers a signed webhook to a receiver that fails once, and
// checks that it arrived verified, with the same id on both attempts.
func ExampleNewReceiver() {
	t := &testing.T{} // in a real test: the *testing.T of your test function

	secret := auth.NewSecret([]byte("a test secret of at least 24 bytes"))
	std, err := auth.NewStandard([]auth.Secret{secret})
	if err != nil {
		t.Fatal(err)
	}
	rcv := sendertest.NewReceiver(t, std, sendertest.FailFirst(1, 503))

	res, err := rcv.Sender().Send(context.Background(), rcv.Destination(std), sender.Message{
		Topic: "job:ready",
		Body:  []byte(`{"job":42}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := rcv.WaitFor(2, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		if d.Err != nil || d.ID != res.ID {
			t.Errorf("attempt %d: %v", i+1, d.Err)
		}
	}
	fmt.Println(res.Attempts, ds[1].Verified.Scheme)
}
