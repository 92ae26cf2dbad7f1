//go:build !race

package auth

// hmAllocSlack is zero without the race detector: the budget is exact.
const hmAllocSlack = 0
