package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// Row is one line of the results table: a herald figure, the baseline it is
// compared with, their ratio, and the target that applies to the row (if any)
// with its verdict.
type Row struct {
	// Section names the part of the suite: sign, deliver, dispatch,
	// outbox or e2e.
	Section string
	// Case says what was measured, e.g. "standard v1 sign 1 KiB".
	Case string
	// Herald is herald's figure, formatted with its unit.
	Herald string
	// Baseline names the baseline, e.g. "raw HMAC"; empty when none.
	Baseline string
	// BaseFig is the baseline's figure, formatted with its unit.
	BaseFig string
	// Ratio is herald's figure divided by the baseline's; NaN when there
	// is no baseline.
	Ratio float64
	// Target describes the goal, e.g. "≤ 1.3×"; empty when none.
	Target string
	// Met is the verdict on Target; ignored when Target is empty.
	Met bool
	// Note says why a row has no figure (pending work, a failure).
	Note string
}

// Status returns the verdict column: "met", "missed", or "" when the row has
// no target.
func (r Row) Status() string {
	switch {
	case r.Target == "":
		return ""
	case r.Met:
		return "met"
	default:
		return "**missed**"
	}
}

// WriteTable writes rows as one Markdown table.
func WriteTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| section | case | herald | baseline | baseline figure | ratio | target | result |")
	fmt.Fprintln(w, "|---|---|---:|---|---:|---:|---|---|")
	for _, r := range rows {
		ratio := ""
		switch {
		case math.IsNaN(r.Ratio) || r.Ratio == 0:
		case r.Ratio < 0.1:
			ratio = fmt.Sprintf("%.2g×", r.Ratio)
		case r.Target != "":
			// One digit more where a verdict hangs on it: 0.8498 is
			// "missed" against ≥ 0.85×, and printed as 0.85× it read as
			// met.
			ratio = fmt.Sprintf("%.3f×", r.Ratio)
		default:
			ratio = fmt.Sprintf("%.2f×", r.Ratio)
		}
		herald := r.Herald
		if r.Note != "" {
			herald = r.Note
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Section, r.Case, herald, r.Baseline, r.BaseFig, ratio, r.Target, r.Status())
	}
}

// median returns the median of xs (the mean of the two middle values for an
// even count), or NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted, by the
// nearest-rank method, or NaN for an empty slice.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	k = max(0, min(k, len(sorted)-1))
	return sorted[k]
}

// fmtNs formats a duration in nanoseconds with a unit that keeps three
// significant figures or so.
func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e4:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns", ns)
	}
}

// fmtRate formats a per-second rate with thousands separators.
func fmtRate(perSec float64, unit string) string {
	return groupDigits(int64(math.Round(perSec))) + " " + unit
}

// fmtBytes formats a byte count in MiB or KiB.
func fmtBytes(b float64) string {
	if b >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", b/(1<<10))
}

// groupDigits writes n with commas between groups of three digits.
func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
