// Command bench measures herald against the baselines a user would otherwise
// reach for — raw crypto, the Standard Webhooks reference library,
// golang-jwt, a tuned net/http client, go-retryablehttp, direct calls, raw
// bbolt — and prints one Markdown table with herald's figure, the baseline's,
// their ratio and the performance targets.
//
// Usage:
//
//	go run .                       # full suite, under 5 minutes on 2 cores
//	go run . -quick                # about a minute, fewer and shorter runs
//	go run . -only sign,deliver    # selected sections
//	go run . -e2e-clients 8,32     # end-to-end client counts (default 16,64)
//	go run . -cpuprofile cpu.out   # and write a CPU profile
//
// Sections: sign, deliver, dispatch, outbox, e2e, pg (PostgreSQL). It exits with status 1
// when a measurement failed (a delivery error, a verification failure) and 2
// on bad flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

// config holds the sizes and durations of a run.
type config struct {
	// microRuns is how many times each micro-benchmark is repeated.
	microRuns int
	// benchTime is the duration of one micro-benchmark run.
	benchTime time.Duration
	// loadReps is how many times each load run is repeated.
	loadReps int
	// loadDur is the duration of one load run.
	loadDur time.Duration
	// warm is the warm-up of each load contender.
	warm time.Duration
	// queueN is the number of deliveries a PostgreSQL queue drain run
	// sends.
	queueN int
	// drainN is the number of deliveries a bbolt queue drain run sends:
	// about three times queueN, since that drain is three times as fast,
	// so that its runs last about as long as a load run (loadDur) rather
	// than a third of it. In a run of 10,000 (0.4 s) the Queue's fixed
	// costs, its start and the gather window of its first commit, were
	// about 2 % of the time measured.
	drainN int
	// pendingN is the number of pending deliveries of the heap measurement.
	pendingN int
	// e2eClients lists the numbers of concurrent end-to-end clients.
	e2eClients []int
}

// fullConfig is the default run.
var fullConfig = config{
	microRuns: 5, benchTime: 100 * time.Millisecond,
	loadReps: 5, loadDur: 1200 * time.Millisecond, warm: 300 * time.Millisecond,
	queueN: 10000, drainN: 30000, pendingN: 100000, e2eClients: []int{16, 64},
}

// quickConfig is the -quick run.
var quickConfig = config{
	microRuns: 3, benchTime: 30 * time.Millisecond,
	loadReps: 3, loadDur: 300 * time.Millisecond, warm: 200 * time.Millisecond,
	queueN: 3000, drainN: 8000, pendingN: 100000, e2eClients: []int{16, 64},
}

// section is one part of the suite.
type section struct {
	name string
	run  func(config) ([]Row, []error)
}

// sections lists the suite in the order it runs and prints.
var sections = []section{
	{"sign", runSign},
	{"deliver", runDeliver},
	{"dispatch", runDispatch},
	{"outbox", runOutbox},
	{"e2e", runE2E},
	{"pg", runPG},
}

// main runs the suite with the command-line arguments and exits with its
// status.
func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, runs the selected sections, writes the table to stdout
// and progress to stderr, and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "shorter run, about a minute")
	only := fs.String("only", "", "comma-separated sections to run: "+sectionNames())
	clients := fs.String("e2e-clients", "16,64", "comma-separated numbers of concurrent end-to-end clients")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	selected, err := selectSections(*only)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	cfg := fullConfig
	if *quick {
		cfg = quickConfig
	}
	if cfg.e2eClients, err = parseCounts(*clients); err != nil {
		fmt.Fprintf(stderr, "bench: -e2e-clients: %v\n", err)
		return 2
	}
	testing.Init()
	if err := setBenchTime(cfg.benchTime); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(stderr, "bench: %s, GOMAXPROCS %d, quick=%v\n", runtime.Version(), runtime.GOMAXPROCS(0), *quick)
	var rows []Row
	var errs []error
	start := time.Now()
	for _, s := range selected {
		t0 := time.Now()
		fmt.Fprintf(stderr, "bench: %s...\n", s.name)
		r, e := s.run(cfg)
		rows = append(rows, r...)
		errs = append(errs, e...)
		fmt.Fprintf(stderr, "bench: %s done in %s\n", s.name, time.Since(t0).Round(time.Second/10))
	}
	fmt.Fprintf(stderr, "bench: all done in %s\n", time.Since(start).Round(time.Second/10))
	WriteTable(stdout, rows)
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintf(stderr, "bench: FAILED: %v\n", e)
		}
		return 1
	}
	return 0
}

// sectionNames lists the section names, comma-separated.
func sectionNames() string {
	names := make([]string, len(sections))
	for i, s := range sections {
		names[i] = s.name
	}
	return strings.Join(names, ",")
}

// selectSections returns the sections named in the comma-separated list,
// in suite order, or all of them for an empty list. An unknown name is an
// error that lists the valid ones.
func selectSections(list string) ([]section, error) {
	if strings.TrimSpace(list) == "" {
		return sections, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		found := false
		for _, s := range sections {
			found = found || s.name == n
		}
		if !found {
			return nil, fmt.Errorf("unknown section %q in -only (valid: %s)", n, sectionNames())
		}
		want[n] = true
	}
	if len(want) == 0 {
		return nil, errors.New("-only names no section")
	}
	var out []section
	for _, s := range sections {
		if want[s.name] {
			out = append(out, s)
		}
	}
	return out, nil
}

// parseCounts parses a comma-separated list of client counts, each from 1
// to 4096.
func parseCounts(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 4096 {
			return nil, fmt.Errorf("%q is not a number from 1 to 4096", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no client count given")
	}
	return out, nil
}
