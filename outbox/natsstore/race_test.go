//go:build race

package natsstore_test

// raceEnabled scales the fleet tests down under the race detector.
const raceEnabled = true
