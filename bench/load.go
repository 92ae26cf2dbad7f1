package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is the outcome of one closed-loop load run.
type loadResult struct {
	// ops counts the operations that completed without error.
	ops int
	// elapsed is the wall time of the run.
	elapsed time.Duration
	// lat holds the latency of every operation, in nanoseconds, sorted.
	lat []float64
}

// rate returns the operations per second of r.
func (r loadResult) rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

// runLoad runs op from conc goroutines in a closed loop for about d, each
// goroutine starting its next operation as soon as the previous one returned,
// and records every latency. The first error stops the run and is returned.
func runLoad(conc int, d time.Duration, op func(ctx context.Context) error) (loadResult, error) {
	if conc < 1 {
		return loadResult{}, errors.New("concurrency must be at least 1")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		all      []float64
	)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]float64, 0, 4096)
			for !stop.Load() {
				t0 := time.Now()
				if err := op(ctx); err != nil {
					mu.Lock()
					if firstErr == nil && !stop.Load() {
						firstErr = err
					}
					mu.Unlock()
					stop.Store(true)
					break
				}
				lat = append(lat, float64(time.Since(t0).Nanoseconds()))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return loadResult{}, firstErr
	}
	slices.Sort(all)
	return loadResult{ops: len(all), elapsed: elapsed, lat: all}, nil
}

// loadContender is one side of a throughput comparison.
type loadContender struct {
	name string
	op   func(ctx context.Context) error
}

// loadStat is the median outcome of repeated load runs of one contender.
type loadStat struct {
	rate     float64 // operations per second
	p50, p99 float64 // latency percentiles, nanoseconds
}

// fmtLoad formats a throughput figure with its latency percentiles.
func fmtLoad(s loadStat, unit string) string {
	return fmt.Sprintf("%s (p50 %s, p99 %s)", fmtRate(s.rate, unit), fmtNs(s.p50), fmtNs(s.p99))
}

// runLoads warms each contender up for warm, then runs them all reps times
// for d each at concurrency conc, interleaved in a rotating order, and
// returns the median rate and percentiles of each.
func runLoads(conc, reps int, d, warm time.Duration, cs []loadContender) ([]loadStat, error) {
	for _, c := range cs {
		if _, err := runLoad(conc, warm, c.op); err != nil {
			return nil, fmt.Errorf("%s (warm-up): %w", c.name, err)
		}
	}
	rates := make([][]float64, len(cs))
	p50s := make([][]float64, len(cs))
	p99s := make([][]float64, len(cs))
	for r := range reps {
		for k := range cs {
			i := (k + r) % len(cs)
			res, err := runLoad(conc, d, cs[i].op)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cs[i].name, err)
			}
			rates[i] = append(rates[i], res.rate())
			p50s[i] = append(p50s[i], percentile(res.lat, 50))
			p99s[i] = append(p99s[i], percentile(res.lat, 99))
		}
	}
	out := make([]loadStat, len(cs))
	for i := range cs {
		out[i] = loadStat{rate: median(rates[i]), p50: median(p50s[i]), p99: median(p99s[i])}
	}
	return out, nil
}
