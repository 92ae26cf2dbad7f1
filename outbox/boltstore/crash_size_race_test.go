//go:build race

package boltstore_test

// crashTotal is the number of deliveries of TestCrash, smaller under the
// race detector, which slows the child processes down tenfold.
const crashTotal = 2000
