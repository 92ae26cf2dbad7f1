package natsevents_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

// BenchmarkSource publishes b.N events, then measures a Source handing
// them to a listener whose handler does nothing, from the first to the
// last acknowledged (an op is one event):
//
//	go test -run '^$' -bench Source -benchtime 20000x ./listener/natsevents/
func BenchmarkSource(b *testing.B) {
	url := natstest.Start(b, nil).ClientURL()
	js := connect(b, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &natsevents.Source{JetStream: js}
	if err := src.Setup(ctx); err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		ev := &listener.Event{ID: fmt.Sprint("e", i), Topic: "job:ready", Payload: []byte(`{"n":1}`)}
		if err := natsevents.Publish(ctx, js, "", ev); err != nil {
			b.Fatal(err)
		}
	}
	handled := make(chan struct{}, b.N)
	l := listener.New()
	if err := l.On("**", func(context.Context, *listener.Event) error { handled <- struct{}{}; return nil }); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- src.Serve(ctx, l) }()
	for range b.N {
		select {
		case <-handled:
		case err := <-done:
			b.Fatalf("Serve returned %v", err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.StopTimer()
	cancel()
	<-done
}
