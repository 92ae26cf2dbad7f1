package sendertest_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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

// A loopback HTTPS server with a self-signed certificate, and a client that
// trusts only that certificate. For local development and tests only.
func ExampleSelfSignedCert() {
	cert, roots, _, err := sendertest.SelfSignedCert("my receiver", time.Hour)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output: 204
}
