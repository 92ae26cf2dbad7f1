package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/internal/topic/topictest"
	"github.com/heraldhq/herald/listener"
)

// dispatchSizes are the pattern counts of section 3.
var dispatchSizes = []int{10, 100, 1000}

// dispatchTarget is the most a dispatch at 100 patterns may cost, in ns.
const dispatchTarget = 300

// errNoHandler is reported when a dispatch matched no handler, which would
// make the measurement meaningless.
var errNoHandler = errors.New("dispatch: no handler ran")

// buildListener registers n patterns in the mix a real router sees, the
// same as the listener package's own benchmark (topictest.RouterMix). It
// returns the listener and the handler's call counter.
func buildListener(n int) (*listener.Listener, *int, error) {
	l := listener.New()
	calls := new(int)
	h := func(context.Context, *listener.Event) error { *calls++; return nil }
	for _, p := range topictest.RouterMix(n) {
		if err := l.On(p, h); err != nil {
			return nil, nil, err
		}
	}
	return l, calls, nil
}

// dispatchCases measures Listener.Dispatch of one event ("dom1:act1") at
// each pattern count against the trivial baseline: calling the same number
// of handlers directly, through a slice of function values.
func dispatchCases() ([]microCase, error) {
	var cases []microCase
	for _, n := range dispatchSizes {
		l, calls, err := buildListener(n)
		if err != nil {
			return nil, err
		}
		ev := &listener.Event{ID: "evt_1", Topic: "dom1:act1"}
		ctx := context.Background()
		*calls = 0
		if err := l.Dispatch(ctx, ev); err != nil {
			return nil, err
		}
		matched := *calls
		if matched == 0 {
			return nil, errNoHandler
		}
		direct := make([]listener.Handler, matched)
		for i := range direct {
			direct[i] = func(context.Context, *listener.Event) error { *calls++; return nil }
		}
		var abs float64
		if n == 100 {
			abs = dispatchTarget
		}
		c := microCase{
			name:   fmt.Sprintf("dispatch, %d patterns (%d match)", n, matched),
			herald: contender{"herald", func() error { return l.Dispatch(ctx, ev) }},
			baselines: []contender{{"direct calls", func() error {
				var errs error
				for _, h := range direct {
					if err := h(ctx, ev); err != nil {
						errs = errors.Join(errs, err)
					}
				}
				return errs
			}}},
			absMaxNs: abs,
		}
		cases = append(cases, c)
	}
	return cases, nil
}

// runDispatch measures section 3; the target (at most dispatchTarget ns at
// 100 patterns) applies to herald's own figure.
func runDispatch(cfg config) ([]Row, []error) {
	cases, err := dispatchCases()
	if err != nil {
		return nil, []error{fmt.Errorf("dispatch: %w", err)}
	}
	return runCases("dispatch", cfg.microRuns, cases)
}
