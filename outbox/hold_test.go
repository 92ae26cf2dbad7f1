package outbox_test

import (
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/internal/telemetry/telemetrytest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
)

// holds is a Metrics and HoldMetrics that keeps the last Hold reported
// for each destination.
type holds struct {
	mu   sync.Mutex
	last map[string]outbox.Hold
}

func (*holds) Observe(outbox.Sample)   {}
func (*holds) Depth(outbox.Stats, int) {}

func (h *holds) Held(dest string, hold outbox.Hold) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last == nil {
		h.last = map[string]outbox.Hold{}
	}
	h.last[dest] = hold
}

// waitHold waits until dest's last reported Hold is want.
func (h *holds) waitHold(t *testing.T, dest string, want outbox.Hold) {
	t.Helper()
	var got outbox.Hold
	var seen bool
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		h.mu.Lock()
		got, seen = h.last[dest]
		h.mu.Unlock()
		if seen && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: last Hold %+v (reported: %v), want %+v", dest, got, seen, want)
		}
	}
}

// holdQueue starts a Queue with the Metrics m over a new boltstore file,
// delivering to "hook" on a receiver that answers status until d.healthy
// is set, and to "calm" (never used), with the breaker b. It returns the
// Queue, its store, and the reader of its OpenTelemetry metrics.
func holdQueue(t *testing.T, d *disabledLog, status int, b outbox.Breaker, m *holds) (*outbox.Queue, outbox.Store, *sdkmetric.ManualReader) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "outbox.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	rcv := d.receiver(t, status)
	q := &outbox.Queue{
		Outbox: st, Sender: rcv.Sender(), Workers: 1, Poll: 5 * time.Millisecond, Metrics: m, Breaker: b,
		Schedule:     retryEvery20ms(),
		Destinations: []sender.Destination{{Name: "hook", URL: rcv.URL()}, {Name: "calm", URL: rcv.URL()}},
	}
	q.Sender.Retry.MaxAttempts = 1
	reader := sdkmetric.NewManualReader()
	q.Sender.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	queuetest.Run(t, q)
	return q, st, reader
}

// wantStates fails t unless herald_destination_state of dest is 1 for the
// states in on and 0 for the others.
func wantStates(t *testing.T, reader *sdkmetric.ManualReader, dest string, on ...string) {
	t.Helper()
	got := telemetrytest.Points(t, reader)
	for _, state := range []string{"paused", "failing", "disabled"} {
		key := "herald_destination_state{destination=" + dest + ",state=" + state + "}"
		want := int64(0)
		if slices.Contains(on, state) {
			want = 1
		}
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %d (recorded: %v), want %d", key, v, ok, want)
		}
	}
}

// A Queue tells its HoldMetrics that a destination a 410 disabled is
// Disabled, and that it is back in normal service once enabled; a
// destination in normal service all along is reported with the zero Hold.
// herald_destination_state says the same (it is set before the hook is
// called).
func TestHoldMetricsDisabled(t *testing.T) {
	var d disabledLog
	var m holds
	q, _, reader := holdQueue(t, &d, http.StatusGone, outbox.Breaker{}, &m)
	m.waitHold(t, "calm", outbox.Hold{})
	enqueue(t, q, "hook", 1)
	m.waitHold(t, "hook", outbox.Hold{Disabled: true})
	wantStates(t, reader, "hook", "disabled")
	wantStates(t, reader, "calm")
	d.healthy.Store(true)
	if err := q.Enable(ctx, "hook"); err != nil {
		t.Fatal(err)
	}
	m.waitHold(t, "hook", outbox.Hold{})
	wantStates(t, reader, "hook")
}

// A destination whose breaker opened is reported Paused during its
// cool-downs and probes, and no longer once the receiver recovered; the
// probe that then succeeds closes the breaker. (The zero Hold is reported
// from the end of a cool-down, before the probe is leased, so the breaker
// may still be half-open when it is first seen.)
func TestHoldMetricsBreakerPaused(t *testing.T) {
	var d disabledLog
	var m holds
	q, _, _ := holdQueue(t, &d, http.StatusServiceUnavailable, outbox.Breaker{Failures: 3, Cooldown: 200 * time.Millisecond, MaxCooldown: 400 * time.Millisecond}, &m)
	enqueue(t, q, "hook", 1)
	m.waitHold(t, "hook", outbox.Hold{Paused: true})
	m.waitHold(t, "calm", outbox.Hold{})
	d.healthy.Store(true)
	m.waitHold(t, "hook", outbox.Hold{})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		s, _ := q.BreakerState("hook")
		if s == outbox.BreakerClosed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("breaker %v 10s after the receiver recovered, want closed", s)
		}
	}
}

// A destination that another Queue on the outbox recorded failing is
// reported Failing once this Queue read the states, and no longer once
// the record is gone.
func TestHoldMetricsRecordedFailing(t *testing.T) {
	var d disabledLog
	var m holds
	_, st, _ := holdQueue(t, &d, http.StatusOK, outbox.Breaker{}, &m)
	ds := st.(outbox.DestinationStore)
	if err := ds.SetDestinationState(ctx, outbox.DestinationState{Destination: "hook", FailingSince: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	m.waitHold(t, "hook", outbox.Hold{Failing: true})
	if err := ds.SetDestinationState(ctx, outbox.DestinationState{Destination: "hook"}); err != nil {
		t.Fatal(err)
	}
	m.waitHold(t, "hook", outbox.Hold{})
}

// A destination whose breaker opened on its last delivery, dead-lettered
// at that failure, is reported Paused only for the cool-down: its next
// delivery would be sent at once, as the probe. (An open breaker turns
// half-open only when a delivery is leased, so a destination left with
// none was reported Paused, and herald_destination_state{state="paused"}
// stayed 1, for the life of the process.)
func TestHoldMetricsBreakerCooledDown(t *testing.T) {
	var d disabledLog
	var m holds
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "outbox.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	rcv := d.receiver(t, http.StatusServiceUnavailable)
	q := &outbox.Queue{
		Outbox: st, Sender: rcv.Sender(), Workers: 1, Poll: 5 * time.Millisecond, Metrics: &m,
		Breaker:      outbox.Breaker{Failures: 1, Cooldown: 100 * time.Millisecond, MaxCooldown: 100 * time.Millisecond},
		Schedule:     outbox.Schedule{Delays: []time.Duration{0}}, // one attempt: dead-lettered at its failure
		Destinations: []sender.Destination{{Name: "hook", URL: rcv.URL()}},
	}
	q.Sender.Retry.MaxAttempts = 1
	queuetest.Run(t, q)
	enqueue(t, q, "hook", 1)
	m.waitHold(t, "hook", outbox.Hold{Paused: true})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		s, err := st.(outbox.Admin).Stats(ctx)
		if err == nil && s.Dead == 1 && s.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, %v; want the one delivery dead-lettered", s, err)
		}
	}
	m.waitHold(t, "hook", outbox.Hold{})
}
