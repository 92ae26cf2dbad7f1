package outbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// disabledLog collects OnDisable calls and the Queue's log.
type disabledLog struct {
	mu      sync.Mutex
	calls   []string
	logs    strings.Builder
	healthy atomic.Bool
}

func (d *disabledLog) onDisable(dest, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, dest+": "+reason)
}

func (d *disabledLog) get() ([]string, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.calls...), d.logs.String()
}

func (d *disabledLog) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs.Write(p)
}

// receiver returns a receiver that answers status until d.healthy is
// set, and accepts from then on.
func (d *disabledLog) receiver(t *testing.T, status int) *sendertest.Receiver {
	return sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
		if d.healthy.Load() {
			return 0, nil, nil
		}
		return status, nil, nil
	}))
}

// retryEvery20ms is a Schedule of 200 attempts, each 20 ms after the last,
// without jitter.
func retryEvery20ms() outbox.Schedule {
	delays := make([]time.Duration, 200)
	for i := 1; i < len(delays); i++ {
		delays[i] = 20 * time.Millisecond
	}
	return outbox.Schedule{Delays: delays, Jitter: -1}
}

// stateOf returns the recorded state of a destination.
func stateOf(t *testing.T, ob outbox.DestinationStore, dest string) (outbox.DestinationState, bool) {
	t.Helper()
	list, err := ob.DestinationStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Destination == dest {
			return s, true
		}
	}
	return outbox.DestinationState{}, false
}

// A 410 Gone disables its destination at once: the delivery is held, not
// dead-lettered, the others are not tried, OnDisable and a WARN line say
// so, and the state is in the outbox, so that a new Queue on it (a
// restart) keeps the destination disabled. Enable resumes it, and every
// held delivery goes out.
func TestGoneDisables(t *testing.T) {
	var d disabledLog
	rcv := d.receiver(t, http.StatusGone)
	ob := outbox.NewMemory()
	newQueue := func() *outbox.Queue {
		q := &outbox.Queue{
			Outbox: ob, Sender: rcv.Sender(), PerDestination: 1, Workers: 2, Poll: 5 * time.Millisecond,
			Destinations: []sender.Destination{{Name: "gone", URL: rcv.URL() + "/hook?token=SECRET-QUERY"}},
			OnDisable:    d.onDisable,
			Logger:       slog.New(slog.NewTextHandler(&d, nil)),
		}
		q.Sender.Retry.MaxAttempts = 1
		return q
	}
	q := newQueue()
	enqueue(t, q, "gone", 5)
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 10*time.Second, "OnDisable", func() bool { c, _ := d.get(); return len(c) > 0 })
	time.Sleep(50 * time.Millisecond) // time for anything leaked through to show
	calls, logs := d.get()
	if len(calls) != 1 || calls[0] != "gone: gone (410)" {
		t.Errorf("OnDisable calls %q, want one for gone (410)", calls)
	}
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "destination disabled") || strings.Contains(logs, "SECRET") {
		t.Errorf("log %q: want a WARN line saying the destination is disabled, without the query", logs)
	}
	if n := len(rcv.Deliveries()); n != 1 {
		t.Errorf("the gone destination got %d requests, want 1", n)
	}
	if s := stats(t, ob); s.Pending != 5 || s.Dead != 0 {
		t.Errorf("Stats %+v, want the 5 deliveries held, none dead", s)
	}
	if s, ok := stateOf(t, ob, "gone"); !ok || s.Disabled.IsZero() || s.Reason != "gone (410)" {
		t.Errorf("recorded state %+v, %v; want disabled, gone (410)", s, ok)
	}

	// A restart: a new Queue on the same outbox keeps it disabled.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := q.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	d.healthy.Store(true)
	q2 := newQueue()
	queuetest.Run(t, q2)
	time.Sleep(100 * time.Millisecond) // twenty polls
	if n := len(rcv.Deliveries()); n != 1 {
		t.Errorf("after a restart the disabled destination got %d requests, want still 1", n)
	}
	if err := q2.Enable(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := rcv.WaitFor(6, 10*time.Second); err != nil {
		t.Fatalf("Enable did not resume the destination: %v", err)
	}
	queuetest.WaitFor(t, 10*time.Second, "the held deliveries", func() bool { return stats(t, ob).Pending == 0 })
	if _, ok := stateOf(t, ob, "gone"); ok {
		t.Error("the state is still recorded after Enable")
	}
}

// A destination that fails without a single success for its DisableAfter
// is disabled: its deliveries are held, with attempts left, and no more
// requests reach it. A destination that fails two requests in three, but
// succeeds in between, is not disabled. Enable resumes the disabled one.
func TestDisableAfter(t *testing.T) {
	var d disabledLog
	down := d.receiver(t, http.StatusServiceUnavailable)
	flaky := sendertest.NewReceiver(t, nil, sendertest.Respond(func(n int) (int, http.Header, []byte) {
		if n%3 == 0 {
			return 0, nil, nil
		}
		return http.StatusServiceUnavailable, nil, nil
	}))
	ob := outbox.NewMemory()
	q := &outbox.Queue{
		Outbox: ob, Sender: down.Sender(), PerDestination: 1, Workers: 4, Poll: 5 * time.Millisecond,
		Schedule: retryEvery20ms(), Breaker: outbox.Breaker{Failures: -1},
		Destinations: []sender.Destination{
			{Name: "down", URL: down.URL(), DisableAfter: 400 * time.Millisecond},
			{Name: "flaky", URL: flaky.URL(), DisableAfter: 400 * time.Millisecond},
		},
		OnDisable: d.onDisable,
		Logger:    slog.New(slog.NewTextHandler(&d, nil)),
	}
	q.Sender.Retry.MaxAttempts = 1
	for i := range 3 {
		for _, dest := range []string{"down", "flaky"} {
			if _, err := q.Enqueue(ctx, dest, sender.Message{ID: fmt.Sprintf("%s-%d", dest, i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now()
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 10*time.Second, "OnDisable", func() bool { c, _ := d.get(); return len(c) > 0 })
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Errorf("disabled after %s, before its DisableAfter", took)
	}
	time.Sleep(100 * time.Millisecond)
	n := len(down.Deliveries())
	time.Sleep(200 * time.Millisecond) // ten retry delays
	if m := len(down.Deliveries()); m != n {
		t.Errorf("the disabled destination got %d more requests", m-n)
	}
	calls, _ := d.get()
	if len(calls) != 1 || !strings.HasPrefix(calls[0], "down: failing without a success since ") {
		t.Errorf("OnDisable calls %q, want one for down", calls)
	}
	if s := stats(t, ob); s.Dead != 0 || s.Pending != 3 {
		t.Errorf("Stats %+v, want down's 3 deliveries held and flaky's delivered", s)
	}
	d.healthy.Store(true)
	if err := q.Enable(ctx, "down"); err != nil {
		t.Fatal(err)
	}
	queuetest.WaitFor(t, 10*time.Second, "the held deliveries", func() bool { return stats(t, ob).Pending == 0 })
}

// slowStates is an outbox.Store whose destination state writes take a
// while, as they may on a loaded disk.
type slowStates struct{ outbox.Store }

func (s slowStates) SetDestinationState(ctx context.Context, st outbox.DestinationState) error {
	time.Sleep(200 * time.Millisecond)
	return s.Store.SetDestinationState(ctx, st)
}

// A reload of the recorded states while the write of a disable is under
// way (it reads no state yet) does not enable the destination again: the
// held deliveries are not sent to the gone destination. A loaded CI
// machine once saw a disabled destination called again this way.
func TestDisableOutlivesReloadDuringItsWrite(t *testing.T) {
	var d disabledLog
	rcv := d.receiver(t, http.StatusGone)
	ob := slowStates{outbox.NewMemory()}
	q := &outbox.Queue{
		Outbox: ob, Sender: rcv.Sender(), PerDestination: 1, Workers: 2, Poll: 5 * time.Millisecond,
		Destinations: []sender.Destination{{Name: "gone", URL: rcv.URL()}},
	}
	q.Sender.Retry.MaxAttempts = 1
	enqueue(t, q, "gone", 5)
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 10*time.Second, "the disable recorded", func() bool {
		s, ok := stateOf(t, ob, "gone")
		return ok && !s.Disabled.IsZero()
	})
	time.Sleep(50 * time.Millisecond) // ten polls, each reloading the states
	if n := len(rcv.Deliveries()); n != 1 {
		t.Errorf("the gone destination got %d requests, want 1", n)
	}
	if s := stats(t, ob); s.Pending != 5 || s.Dead != 0 {
		t.Errorf("Stats %+v, want the 5 deliveries held, none dead", s)
	}
}

// A success that was already in flight when its destination was disabled
// (it failed for DisableAfter meanwhile, and the failing was recorded) does
// not enable it again: only Enable does. It used to clear the recorded
// state, and the next reload of the states sent the held deliveries to the
// destination that had been disabled.
func TestStragglerSuccessKeepsDisabled(t *testing.T) {
	var d disabledLog
	started, release := make(chan struct{}), make(chan struct{})
	rcv := sendertest.NewReceiver(t, nil, sendertest.Respond(func(n int) (int, http.Header, []byte) {
		if n == 1 {
			close(started)
			<-release
			return 0, nil, nil
		}
		return http.StatusServiceUnavailable, nil, nil
	}))
	ob := outbox.NewMemory()
	q := &outbox.Queue{
		Outbox: ob, Sender: rcv.Sender(), PerDestination: 2, Workers: 2, Poll: 5 * time.Millisecond,
		Schedule: retryEvery20ms(), Breaker: outbox.Breaker{Failures: -1},
		Destinations: []sender.Destination{{Name: "d", URL: rcv.URL(), DisableAfter: 300 * time.Millisecond}},
		OnDisable:    d.onDisable,
	}
	q.Sender.Retry.MaxAttempts = 1
	if _, err := q.Enqueue(ctx, "d", sender.Message{ID: "slow"}); err != nil {
		t.Fatal(err)
	}
	queuetest.Run(t, q)
	<-started
	if _, err := q.Enqueue(ctx, "d", sender.Message{ID: "failing"}); err != nil {
		t.Fatal(err)
	}
	queuetest.WaitFor(t, 10*time.Second, "OnDisable", func() bool { c, _ := d.get(); return len(c) > 0 })
	close(release)
	queuetest.WaitFor(t, 10*time.Second, "the slow delivery", func() bool { return stats(t, ob).Pending == 1 })
	n := len(rcv.Deliveries())
	time.Sleep(200 * time.Millisecond) // forty polls, ten retry delays
	if m := len(rcv.Deliveries()); m != n {
		t.Errorf("the disabled destination got %d more requests after a straggler's success", m-n)
	}
	if s, ok := stateOf(t, ob, "d"); !ok || s.Disabled.IsZero() {
		t.Errorf("recorded state %+v (%v), want disabled", s, ok)
	}
}

// In a fleet, a Queue that has not yet read another's disable must not
// undo it: its own bookkeeping writes (a run of failures recorded, or its
// end at a success) leave a disabled record alone; only Enable replaces
// one. They replaced it: a success of this Queue, in flight when another
// disabled the destination, enabled it again for the whole fleet.
func TestBookkeepingKeepsAnotherQueuesDisable(t *testing.T) {
	ob := outbox.NewMemory()
	other := outbox.DestinationState{Destination: "d", Reason: "disabled by another worker"}
	var healthy atomic.Bool
	rcv := sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
		if !healthy.Load() {
			return http.StatusServiceUnavailable, nil, nil
		}
		// Another worker on the same outbox disables the destination
		// while this request is in flight.
		other.Disabled = time.Now()
		if err := ob.SetDestinationState(ctx, other); err != nil {
			t.Error(err)
		}
		return 0, nil, nil
	}))
	q := &outbox.Queue{
		Outbox: ob, Sender: rcv.Sender(), Poll: 20 * time.Millisecond,
		Schedule: retryEvery20ms(), Breaker: outbox.Breaker{Failures: -1},
		Destinations: []sender.Destination{{Name: "d", URL: rcv.URL(), DisableAfter: 2 * time.Second}},
	}
	q.Sender.Retry.MaxAttempts = 1
	if _, err := q.Enqueue(ctx, "d", sender.Message{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 10*time.Second, "the run of failures recorded", func() bool {
		s, ok := stateOf(t, ob, "d")
		return ok && !s.FailingSince.IsZero()
	})
	healthy.Store(true)
	// The Queue writes its bookkeeping before it settles the attempt.
	queuetest.WaitFor(t, 10*time.Second, "the delivery", func() bool { return stats(t, ob).Pending == 0 })
	if s, ok := stateOf(t, ob, "d"); !ok || s.Disabled.IsZero() || s.Reason != other.Reason {
		t.Errorf("recorded state %+v (%v) after this Queue's success; want the other worker's disable", s, ok)
	}
}

// A destination the outbox records as disabled (by an operator, another
// Queue of a fleet, or a Queue before a restart) was held without a word:
// a Queue that sent nothing to it did not say why. It now logs a WARN line
// naming it and the recorded reason, once.
func TestStoredDisableLogged(t *testing.T) {
	var d disabledLog
	rcv := d.receiver(t, http.StatusOK)
	ob := outbox.NewMemory()
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	err := ob.(outbox.DestinationStore).SetDestinationState(ctx, outbox.DestinationState{Destination: "off", Disabled: since, Reason: "receiver compromised"})
	if err != nil {
		t.Fatal(err)
	}
	q := &outbox.Queue{
		Outbox: ob, Sender: rcv.Sender(), Poll: 5 * time.Millisecond,
		Destinations: []sender.Destination{{Name: "off", URL: rcv.URL()}, {Name: "on", URL: rcv.URL()}},
		OnDisable:    d.onDisable,
		Logger:       slog.New(slog.NewTextHandler(&d, nil)),
	}
	enqueue(t, q, "on", 1)
	queuetest.Run(t, q)
	if _, err := rcv.WaitFor(1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // ten polls
	calls, logs := d.get()
	if n := strings.Count(logs, "level=WARN"); n != 1 || !strings.Contains(logs, "destination=off") ||
		!strings.Contains(logs, `reason="receiver compromised"`) || !strings.Contains(logs, "since=2026-01-02T03:04:05") {
		t.Errorf("log %q: want one WARN line naming off, since when and why it is disabled", logs)
	}
	if len(calls) != 0 {
		t.Errorf("OnDisable calls %q: want none, as this Queue disabled nothing", calls)
	}
}

// hugeStates is an outbox whose recorded destination states hold a reason
// far longer than any a Queue writes: a damaged or hand-edited store.
type hugeStates struct {
	outbox.Outbox
	reason string
}

func (h hugeStates) DestinationStates(context.Context) ([]outbox.DestinationState, error) {
	return []outbox.DestinationState{{Destination: "hook", Disabled: time.Now(), Reason: h.reason}}, nil
}

func (h hugeStates) SetDestinationState(context.Context, outbox.DestinationState) error { return nil }

// TestQueueLogsStoredReasonClipped: the reason of a destination the store
// records as disabled comes from the store, which may be damaged: the
// Queue's warning carries at most the 1 KiB a reason may hold, not a line
// of any length.
func TestQueueLogsStoredReasonClipped(t *testing.T) {
	var d disabledLog
	rcv := sendertest.NewReceiver(t, nil)
	q := &outbox.Queue{
		Outbox:       hugeStates{outbox.NewMemory(), strings.Repeat("x", 1<<20)},
		Sender:       rcv.Sender(),
		Destinations: []sender.Destination{rcv.Destination(nil)},
		Logger:       slog.New(slog.NewTextHandler(&d, nil)),
	}
	q.Destinations[0].Name = "hook"
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 10*time.Second, "the warning of the disabled destination", func() bool {
		_, logs := d.get()
		return strings.Contains(logs, "destination disabled in the outbox")
	})
	_, logs := d.get()
	for _, line := range strings.Split(logs, "\n") {
		if len(line) > 2<<10 {
			t.Fatalf("a log line of %d bytes, want a reason clipped to 1 KiB", len(line))
		}
	}
}

// TestEnabledElsewhereCountsFailuresAfresh: a destination enabled in the
// outbox by someone else (the admin handler, herald outbox enable, another
// worker's Enable) counts its failures from scratch in every Queue, as
// Queue.Enable does in its own. The Queue used to keep the start of the
// run of failures that disabled it, so that, once its DisableAfter had
// passed, the first failure after the enable disabled it again at once.
func TestEnabledElsewhereCountsFailuresAfresh(t *testing.T) {
	var d disabledLog
	// 410 disables; after the enable, one 503, then successes.
	rcv := sendertest.NewReceiver(t, nil, sendertest.Respond(func(n int) (int, http.Header, []byte) {
		switch n {
		case 1:
			return http.StatusGone, nil, nil
		case 2:
			return http.StatusServiceUnavailable, nil, nil
		}
		return 0, nil, nil
	}))
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "outbox.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	const after = time.Second
	q := &outbox.Queue{
		Outbox: st, Sender: rcv.Sender(), PerDestination: 1, Workers: 2, Poll: 5 * time.Millisecond,
		Schedule: retryEvery20ms(), Breaker: outbox.Breaker{Failures: -1},
		Destinations: []sender.Destination{{Name: "back", URL: rcv.URL(), DisableAfter: after}},
		OnDisable:    d.onDisable,
		Logger:       slog.New(slog.NewTextHandler(&d, nil)),
	}
	q.Sender.Retry.MaxAttempts = 1
	enqueue(t, q, "back", 3)
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 10*time.Second, "OnDisable", func() bool { c, _ := d.get(); return len(c) > 0 })
	time.Sleep(after + 100*time.Millisecond) // the run of failures that disabled it is now older than DisableAfter

	admin := httptest.NewServer(outbox.AdminHandler(st))
	defer admin.Close()
	res, err := http.Post(admin.URL+"/destinations/enable", "application/json", strings.NewReader(`{"destination":"back"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("enable: %d", res.StatusCode)
	}
	queuetest.WaitFor(t, 10*time.Second, "the held deliveries", func() bool {
		c, _ := d.get()
		return len(c) > 1 || stats(t, st).Pending == 0
	})
	if calls, _ := d.get(); len(calls) != 1 {
		t.Errorf("OnDisable calls %q, want only the 410's: one failure after the enable disabled it again", calls)
	}
	if s := stats(t, st); s.Pending != 0 || s.Dead != 0 {
		t.Errorf("Stats %+v, want every delivery sent", s)
	}
}

// writeCounter is a Store that counts the destination states written.
type writeCounter struct {
	outbox.Store
	writes int
}

func (w *writeCounter) DestinationStates(ctx context.Context) ([]outbox.DestinationState, error) {
	return w.Store.(outbox.DestinationStore).DestinationStates(ctx)
}

func (w *writeCounter) SetDestinationState(ctx context.Context, s outbox.DestinationState) error {
	w.writes++
	return w.Store.(outbox.DestinationStore).SetDestinationState(ctx, s)
}

// TestEnableLeavesFailingAlone: enabling a destination that is not
// disabled changes nothing, as Queue.Enable and the admin handler say. One
// recorded as failing for four days keeps its FailingSince, which counts
// towards its DisableAfter (an enable used to erase it, granting it a
// whole DisableAfter more); one never recorded gets no record (a store
// that keeps a key per write, as NATS KV does, grew one per enable). A
// disabled one is enabled, by either path.
func TestEnableLeavesFailingAlone(t *testing.T) {
	bolt, err := boltstore.Open(filepath.Join(t.TempDir(), "outbox.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bolt.Close() })
	st := &writeCounter{Store: bolt}
	since := time.Now().Add(-96 * time.Hour).UTC().Truncate(time.Second)
	for _, s := range []outbox.DestinationState{
		{Destination: "failing", FailingSince: since},
		{Destination: "off", FailingSince: since, Disabled: since, Reason: "gone (410)"},
		{Destination: "off2", Disabled: since, Reason: "gone (410)"},
	} {
		if err := st.SetDestinationState(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	q := &outbox.Queue{Outbox: st, Destinations: []sender.Destination{
		{Name: "failing", URL: "https://failing.example/", DisableAfter: 120 * time.Hour},
	}}
	h := outbox.AdminHandler(st)
	enableByHandler := func(name string) error {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/destinations/enable", strings.NewReader(`{"destination":"`+name+`"}`))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			return fmt.Errorf("%d %s", w.Code, w.Body)
		}
		return nil
	}
	for _, enable := range []func(string) error{
		func(name string) error { return q.Enable(ctx, name) },
		enableByHandler,
	} {
		st.writes = 0
		for _, name := range []string{"failing", "never-recorded"} {
			if err := enable(name); err != nil {
				t.Fatalf("enable %s: %v", name, err)
			}
		}
		if s, ok := stateOf(t, st, "failing"); !ok || !s.FailingSince.Equal(since) || !s.Disabled.IsZero() {
			t.Errorf("after enabling a failing destination, its state is %+v, %v; want failing since %v", s, ok, since)
		}
		if _, ok := stateOf(t, st, "never-recorded"); ok || st.writes != 0 {
			t.Errorf("enabling destinations that are not disabled wrote %d states", st.writes)
		}
	}
	if err := q.Enable(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := enableByHandler("off2"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"off", "off2"} {
		if s, ok := stateOf(t, st, name); ok {
			t.Errorf("%s is still recorded after enable: %+v", name, s)
		}
	}
}
