package outbox

import (
	"testing"
	"time"
)

// TestPanicLogSpacesEachCallback: the first panic of a callback is
// logged, those within panicEvery of it are counted instead, and the
// next one after it is logged with that count; each callback has its own.
func TestPanicLogSpacesEachCallback(t *testing.T) {
	var pl panicLog
	t0 := time.Unix(1_700_000_000, 0)
	for _, step := range []struct {
		what     string
		at       time.Duration
		log      bool
		unlogged int
	}{
		{"Metrics.Observe", 0, true, 0},
		{"Metrics.Observe", time.Second, false, 0},
		{"OnDisable", time.Second, true, 0}, // another callback: its own spacing
		{"Metrics.Observe", 2 * time.Second, false, 0},
		{"Metrics.Observe", panicEvery - time.Nanosecond, false, 0},
		{"Metrics.Observe", panicEvery, true, 3},
		{"Metrics.Observe", panicEvery + time.Second, false, 0},
		{"Metrics.Observe", 3 * panicEvery, true, 1},
		{"OnDisable", 3 * panicEvery, true, 0},
	} {
		log, unlogged := pl.due(step.what, t0.Add(step.at))
		if log != step.log || unlogged != step.unlogged {
			t.Errorf("%s at %v: due = %v, %d; want %v, %d", step.what, step.at, log, unlogged, step.log, step.unlogged)
		}
	}
}
