//go:build !race

package boltstore_test

// crashTotal is the number of deliveries of TestCrash.
const crashTotal = 10000
