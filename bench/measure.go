package main

import (
	"errors"
	"flag"
	"fmt"
	"testing"
	"time"
)

// contender is one side of a micro-benchmark comparison: a name and an
// operation that is timed per call.
type contender struct {
	name string
	op   func() error
}

// microStat is the median outcome of repeated testing.Benchmark runs of one
// contender.
type microStat struct {
	// ns is the median time per operation, in nanoseconds.
	ns float64
	// allocs is the median number of allocations per operation.
	allocs float64
}

// setBenchTime makes testing.Benchmark run each benchmark for about d.
// It must be called after testing.Init.
func setBenchTime(d time.Duration) error {
	if err := flag.Set("test.benchtime", d.String()); err != nil {
		return fmt.Errorf("setting benchtime: %w", err)
	}
	return nil
}

// warmUp calls op repeatedly for about d, so that caches, pools and the
// branch predictor see it before it is timed.
func warmUp(op func() error, d time.Duration) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for range 16 {
			if err := op(); err != nil {
				return err
			}
		}
	}
	return nil
}

// runMicro times every contender runs times with testing.Benchmark,
// interleaved (each round runs them all, in a rotating order, so that machine
// noise falls on all of them alike), after a warm-up, and returns the median
// of each. The first error of any operation ends the measurement.
func runMicro(runs int, cs []contender) ([]microStat, error) {
	for _, c := range cs {
		if err := warmUp(c.op, 30*time.Millisecond); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
	}
	ns := make([][]float64, len(cs))
	allocs := make([][]float64, len(cs))
	for r := range runs {
		for k := range cs {
			i := (k + r) % len(cs)
			c := cs[i]
			var opErr error
			res := testing.Benchmark(func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := c.op(); err != nil {
						opErr = err
						return
					}
				}
			})
			if opErr != nil {
				return nil, fmt.Errorf("%s: %w", c.name, opErr)
			}
			if res.N == 0 {
				return nil, fmt.Errorf("%s: %w", c.name, errors.New("benchmark did not run"))
			}
			ns[i] = append(ns[i], float64(res.T.Nanoseconds())/float64(res.N))
			allocs[i] = append(allocs[i], float64(res.MemAllocs)/float64(res.N))
		}
	}
	out := make([]microStat, len(cs))
	for i := range cs {
		out[i] = microStat{ns: median(ns[i]), allocs: median(allocs[i])}
	}
	return out, nil
}

// alternate runs a and b reps times each, in an order that swaps every
// round so that noise from elsewhere falls on both alike, and returns the
// median of each one's figures.
func alternate(reps int, a, b func() (float64, error)) (medA, medB float64, err error) {
	var as, bs []float64
	for r := range reps {
		for k := range 2 {
			run, out := a, &as
			if (k+r)%2 == 1 {
				run, out = b, &bs
			}
			v, err := run()
			if err != nil {
				return 0, 0, err
			}
			*out = append(*out, v)
		}
	}
	return median(as), median(bs), nil
}
