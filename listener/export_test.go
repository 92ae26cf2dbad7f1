package listener

// WithClockForTest exposes withClock to the external tests.
var WithClockForTest = withClock
