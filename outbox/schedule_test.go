package outbox

import (
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	var s Schedule
	if s.attempts() != 19 || s.first() != 0 {
		t.Fatalf("default schedule: %d attempts, first after %s", s.attempts(), s.first())
	}
	for failed := 1; failed < 19; failed++ {
		base := defaultDelays[failed]
		for range 100 {
			d, ok := s.next(failed)
			if !ok || d < base*8/10 || d > base*12/10 {
				t.Fatalf("Next(%d) = %s, %v; want within 20%% of %s", failed, d, ok, base)
			}
		}
	}
	if _, ok := s.next(19); ok {
		t.Error("next(19) of a 19-attempt schedule is not exhausted")
	}
	exact := Schedule{Delays: []time.Duration{0, time.Minute}, Jitter: -1}
	if d, ok := exact.next(1); !ok || d != time.Minute {
		t.Errorf("Next without jitter = %s, %v", d, ok)
	}
	var spread bool
	first, _ := s.next(2)
	for range 20 {
		if d, _ := s.next(2); d != first {
			spread = true
		}
	}
	if !spread {
		t.Error("jitter does not vary the delay")
	}
}
