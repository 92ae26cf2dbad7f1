//go:build !race

package jetstream_test

// raceEnabled scales the fleet tests down under the race detector.
const raceEnabled = false
