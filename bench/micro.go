package main

import (
	"fmt"
	"math"
)

// limit is a target on the ratio herald/baseline of a micro-benchmark, where
// lower is better: the target is met when the ratio is at most max.
type limit struct {
	// max is the largest acceptable ratio; zero means no target.
	max float64
}

// text describes the target for the table, e.g. "≤ 1.3×".
func (l limit) text() string {
	if l.max == 0 {
		return ""
	}
	return fmt.Sprintf("≤ %g×", l.max)
}

// microCase is one line of comparison in a micro-benchmark section: herald's
// operation and the baselines it is measured against, each with an optional
// target.
type microCase struct {
	// name describes the case, e.g. "standard v1 sign 1 KiB".
	name string
	// herald is herald's operation.
	herald contender
	// baselines are the operations herald is compared with.
	baselines []contender
	// limits holds one target per baseline (missing entries: none).
	limits []limit
	// absMaxNs, when positive, is an absolute target on herald's own time
	// per operation, shown on the case's first row.
	absMaxNs float64
}

// runCases measures each case (its contenders interleaved, runs times) and
// returns one row per baseline. A failing operation turns the case into a
// failed row and is returned as an error once all cases ran.
func runCases(section string, runs int, cases []microCase) ([]Row, []error) {
	var rows []Row
	var errs []error
	for _, c := range cases {
		cs := append([]contender{c.herald}, c.baselines...)
		stats, err := runMicro(runs, cs)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", section, c.name, err))
			rows = append(rows, Row{Section: section, Case: c.name, Ratio: math.NaN(), Note: "FAILED: " + err.Error()})
			continue
		}
		h := stats[0]
		for i, b := range c.baselines {
			var l limit
			if i < len(c.limits) {
				l = c.limits[i]
			}
			ratio := h.ns / stats[i+1].ns
			row := Row{
				Section:  section,
				Case:     c.name,
				Herald:   fmtMicro(h),
				Baseline: b.name,
				BaseFig:  fmtMicro(stats[i+1]),
				Ratio:    ratio,
				Target:   l.text(),
				Met:      l.max == 0 || ratio <= l.max,
			}
			if i == 0 && c.absMaxNs > 0 {
				row.Target = fmt.Sprintf("herald ≤ %s", fmtNs(c.absMaxNs))
				row.Met = h.ns <= c.absMaxNs
			}
			rows = append(rows, row)
		}
	}
	return rows, errs
}

// fmtMicro formats a micro-benchmark figure: time per operation and
// allocations per operation.
func fmtMicro(s microStat) string {
	return fmt.Sprintf("%s/op, %.0f allocs", fmtNs(s.ns), s.allocs)
}
